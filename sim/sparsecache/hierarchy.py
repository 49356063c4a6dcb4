"""Cycle-exact golden model of SparseCache: L1 + null cache + address merger + memory.

The RTL top (``accelgen.generators.sparsecache.top``) implements exactly this behaviour; the
cocotb regression compares, access by access, the outcome, the response cycle and the null
cache's slots and recency ranks.

Semantics
---------
Loads and stores move one word at a word-aligned byte address. A line is *zero* when the zero
detector says so: every word zero (``+0.0`` and ``-0.0`` both count), or, in approximate mode
(``threshold > 0``), every word's magnitude ``<= threshold``.

* A load the null cache covers returns 0 and allocates nothing in the L1.
* A store of a zero word (exactly zero, ``-0.0`` included, even in approximate mode) to a
  covered line is absorbed: nothing changes but the slot's recency.
* A store of any other word to a covered line first removes the coverage (exact split, or
  drop; see :mod:`.null_cache`) and then proceeds as an ordinary L1 write miss.
* A miss in both fetches the line. A zero line (for a store: the line with the stored word
  merged in) is inserted into the null cache and not into the L1; a store first writes the
  merged line to memory. A non-zero line fills the L1, writing back a dirty victim first.
* A store that makes an L1 line zero writes the line to memory, invalidates its way and
  inserts its address. The null cache is write-through: a line enters it only once memory
  holds its (near-)zeros.
* Write policy: ``write_back`` marks a stored line dirty; ``write_through`` writes every
  stored line to memory before the store responds, so L1 lines are never dirty. Both allocate
  on a write miss (the memory port moves whole lines).
* Loads respond with the word (0 from the null cache); stores respond with 0.

Soundness invariant (checked by :meth:`SparseCacheModel.check_soundness`): every line a valid
null-cache entry covers is zero in memory (exact mode) or near-zero in memory (approximate
mode), and has no copy in the L1. Exact mode therefore never returns a wrong value (for
floats, a covered ``-0.0`` reads as ``+0.0``). Approximate mode: memory keeps the real
near-zero values, loads of a covered line read 0, and a store that later brings the line back
into the L1 fetches those real values; every load returns a value within ``threshold`` of the
last value stored to that word, or of its initial value (because only exact zero words are
absorbed by a covered line, memory and program differ only where the program holds a zero and
memory a near-zero value).

Timing spec
-----------
Cycle 0 is the first cycle after reset in which the cache can accept a request (the RTL
first spends ``max(2, sets)`` cycles invalidating the L1). A stream transfer happens *in
cycle c* when valid and ready are both high in cycle c. Access ``i`` is offered ``gap_i``
cycles after the cache can accept it and is accepted in cycle
``A_i = R_{i-1} + 1 + gap_i`` (``A_0 = gap_0``); its response goes out in cycle ``R_i``
(the consumer is always ready; back-pressure delays the response but is not modelled). The
memory accepts a request in the cycle it is offered and answers exactly
``L = memory_latency`` cycles later (request in cycle q, response in q + L); a write is
answered too (an acknowledgement whose data is ignored). The state "after access i"
(null-cache slots and ranks) is what the registers hold in cycle ``R_i + 1``.

The controller passes through these states (the L1 arrays are read in the accept cycle):

============  ================  ==============================================================
state         cycles            action
============  ================  ==============================================================
LOOKUP        1                 L1 tag compare and TCAM search; the ``A + 1`` accesses below
                                respond in it
REMOVE        W + 1 (+ k)       wait for the merger; first free cycle: drop or invalidate the
                                entry, or latch it and write its k split pieces, one a cycle
MEMORY        1 + L             request in the first cycle, response in the last
DECIDE        1                 zero detector on the fetched line (store word merged in)
FILL          1                 write the L1 way (tag, data, dirty, LRU) and respond
INSERT        W + 1             wait for the merger; insert in the first free cycle and respond
============  ================  ==============================================================

=====================================================  =========================================
access                                                 response cycle ``R`` (``A`` = accept)
=====================================================  =========================================
load, null hit; zero-word store, null hit              A + 1
load, L1 hit; store, L1 hit, line stays non-zero (WB)  A + 1
store, L1 hit, line stays non-zero (write-through)     A + L + 3  (MEMORY write, FILL)
store, L1 hit, line becomes zero                       A + L + 3 + W  (MEMORY write, INSERT)
load miss, zero line                                   A + L + 4 + W  (MEMORY, DECIDE, INSERT)
store miss, merged line zero                           A + 2L + 5 + W  (+ MEMORY write)
miss, non-zero line, victim invalid or clean           A + L + 4  (MEMORY, DECIDE, FILL)
miss, non-zero line, dirty victim (write-back)         A + 2L + 5  (MEMORY victim before FILL)
store miss, non-zero line (write-through)              A + 2L + 5  (MEMORY line before FILL)
non-zero store, null hit (clean victim)                A + L + 5 + W + P  (REMOVE with P split
                                                       pieces, then as a store miss)
=====================================================  =========================================

The address merger runs beside the controller. An insert in cycle f starts it on the new slot,
busy from cycle f + 1. In each busy cycle it looks for the current entry's partner: if there
is one, the merge is written at the end of that cycle (merged entry to the lower slot, which
becomes most recent; higher slot invalidated) and the merger continues on the merged entry;
if not, it is idle from the next cycle. So m merges keep it busy for m + 1 cycles. It does
nothing in a cycle in which the controller touches a slot (a null hit that responds), which
lengthens the chain by that cycle. INSERT and REMOVE write the TCAM and so wait for it: ``W``
is the number of cycles they spend waiting for the merger to be idle. Lookups never wait:
merges do not change which lines are covered, only where.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass

from .l1 import L1Cache
from .memory import LineMemory
from .null_cache import NullCache, NullCacheState
from .params import SparseCacheParams
from .zero_detector import detect

__all__ = ["AccessRecord", "Op", "Outcome", "SparseCacheModel"]


class Op(enum.Enum):
    LOAD = "load"
    STORE = "store"


class Outcome(enum.Enum):
    """How an access was served: L1 hit, null-cache hit (no memory access), or memory."""

    L1_HIT = "l1_hit"
    NULL_HIT = "null_hit"
    MISS = "miss"


@dataclass(frozen=True)
class AccessRecord:
    """One access as the hardware must perform it.

    ``value`` is the stored word (0 for loads), ``response`` the word sent back (0 for
    stores). ``state`` is the null cache after the access (``None`` without snapshots).
    """

    op: Op
    address: int
    value: int
    response: int
    outcome: Outcome
    accept: int
    respond: int
    state: NullCacheState | None


class SparseCacheModel:
    """The whole hierarchy, one access at a time, with the RTL's cycle timing.

    ``memory`` is the backing store (zeros by default); it is updated as the hardware would
    update it. ``snapshots=False`` skips the per-access copy of the null cache (faster).
    """

    def __init__(self, params: SparseCacheParams, memory: LineMemory | None = None, *,
                 snapshots: bool = True):
        if not isinstance(params, SparseCacheParams):
            raise TypeError(f"params: must be SparseCacheParams, got {params!r}")
        self.params = params
        self.memory = memory if memory is not None else LineMemory(
            params.line_bytes, params.line_address_bits)
        if self.memory.line_bytes != params.line_bytes:
            raise ValueError(f"memory: holds {self.memory.line_bytes}-byte lines, the cache "
                             f"{params.line_bytes}-byte lines")
        self.l1 = L1Cache(params.sets, params.ways, params.line_bytes)
        self.null = NullCache(params.null_entries, params.line_address_bits, params.replacement)
        self.snapshots = snapshots
        self.stats: Counter[str] = Counter()
        # Every bit of a line but the float words' sign bits: a line is exactly zero when
        # none of these is set (-0.0 counts as zero).
        word_mask = (1 << params.word_bits) - 1
        if params.word_format.startswith("fp"):
            word_mask >>= 1
        self._magnitude = sum(word_mask << (params.word_bits * i)
                              for i in range(params.words_per_line))
        self._word_bytes = params.word_bytes
        self._offset_bits = params.offset_bits
        self._line_bytes = params.line_bytes
        self._address_limit = 1 << params.address_bits
        self._value_limit = 1 << params.word_bits
        self._ready = 0
        self._merger_slot: int | None = None
        self._merger_next = 0
        self._merger_idle_from = 0

    @property
    def cycles(self) -> int:
        """Cycles from cycle 0 to the last response, inclusive."""
        return self._ready

    # -- the address merger, advanced lazily -------------------------------------------
    def _advance(self, until: int | float) -> None:
        """Perform the merge steps of every cycle before ``until``."""
        while self._merger_slot is not None and self._merger_next < until:
            merged = self.null.merge_step(self._merger_slot)
            if merged is None:
                self._merger_idle_from = self._merger_next + 1
                self._merger_slot = None
            else:
                self.stats["merges"] += 1
                self._merger_slot = merged
                self._merger_next += 1

    def _touch_null(self, slot: int, cycle: int) -> None:
        self._advance(cycle)
        if self._merger_slot is not None and self._merger_next == cycle:
            self._merger_next += 1  # the controller owns the recency list this cycle
        self.null.touch(slot)

    def _first_idle(self, cycle: int) -> int:
        self._advance(float("inf"))  # the waiting controller touches nothing meanwhile
        return max(cycle, self._merger_idle_from)

    def settle(self) -> int:
        """Let the merger finish; return the first cycle in which it is idle.

        The merger is advanced lazily, so :attr:`null` may lag behind the last access until
        this (or the next access) runs it; ``AccessRecord.state`` is always up to date.
        """
        self._advance(float("inf"))
        return self._merger_idle_from

    # -- memory and null-cache operations, each returning the next state's cycle --------
    def _write(self, line: int, data: bytes, cycle: int) -> int:
        self.memory.write_line(line, data)
        self.stats["memory_writes"] += 1
        return cycle + 1 + self.params.memory_latency

    def _insert(self, line: int, cycle: int) -> int:
        done = self._first_idle(cycle)
        result = self.null.insert(line)
        if result is not None:
            slot, evicted = result
            self.stats["inserts"] += 1
            self.stats["evictions"] += evicted is not None
            self._merger_slot = slot
            self._merger_next = done + 1
        return done

    def _remove(self, line: int, cycle: int) -> int:
        decided = self._first_idle(cycle)
        result = self.null.remove(line)
        self.stats["drops" if result.dropped else "splits"] += 1
        return decided + 1 + len(result.pieces)

    def _is_zero_line(self, line: bytes) -> bool:
        if not self.params.null_cache_enabled:
            return False
        if not self.params.approximate:  # fast path, same rule as detect(...)[0]
            return int.from_bytes(line, "little") & self._magnitude == 0
        return detect(line, self.params.word_format, self.params.threshold)[1]

    def _is_zero_word(self, word: bytes) -> bool:
        return int.from_bytes(word, "little") & self._magnitude == 0

    # -- accesses ----------------------------------------------------------------------
    def load(self, address: int, *, gap: int = 0) -> AccessRecord:
        return self.access(Op.LOAD, address, 0, gap=gap)

    def store(self, address: int, value: int, *, gap: int = 0) -> AccessRecord:
        return self.access(Op.STORE, address, value, gap=gap)

    def _check(self, op: Op, address: int, value: int, gap: int) -> None:
        p = self.params
        if not isinstance(op, Op):
            raise TypeError(f"op: must be an Op, got {op!r}")
        if not 0 <= address < self._address_limit or address & (self._word_bytes - 1):
            raise ValueError(f"address: must be a {p.word_bytes}-byte aligned address below "
                             f"2**{p.address_bits}, got {address:#x}")
        if not 0 <= value < self._value_limit:
            raise ValueError(f"value: must be an unsigned {p.word_bits}-bit word, got {value}")
        if op is Op.LOAD and value:
            raise ValueError(f"value: a load carries no data, got {value}")
        if gap < 0:
            raise ValueError(f"gap: must be >= 0, got {gap}")

    def access(self, op: Op, address: int, value: int = 0, *, gap: int = 0) -> AccessRecord:
        """Perform one access offered ``gap`` cycles after the cache could accept it."""
        self._check(op, address, value, gap)
        p = self.params
        accept = self._ready + gap
        line = address >> self._offset_bits
        offset = address & (self._line_bytes - 1)
        word_bytes = self._word_bytes
        word = value.to_bytes(word_bytes, "little")
        store = op is Op.STORE
        t = accept + 1  # LOOKUP
        self._advance(t)
        set_index = self.l1.set_of(line)
        way = self.l1.lookup(line)
        covered = self.null.lookup(line) if p.null_cache_enabled else None
        assert way is None or covered is None, f"line {line:#x} is both in L1 and covered"

        def finish(outcome: Outcome, respond: int, data: bytes | None = None) -> AccessRecord:
            self._ready = respond + 1
            self.stats[outcome.value] += 1
            state = None
            if self.snapshots:
                self._advance(respond + 1)
                state = self.null.state()
            response = int.from_bytes(data[offset:offset + word_bytes], "little") \
                if data is not None and not store else 0
            return AccessRecord(op, address, value, response, outcome, accept, respond, state)

        def merged_with_store(data: bytes) -> bytes:
            if not store:
                return bytes(data)
            out = bytearray(data)
            out[offset:offset + word_bytes] = word
            return bytes(out)

        outcome = Outcome.MISS
        if covered is not None:
            if not store or self._is_zero_word(word):
                self._touch_null(covered, t)
                return finish(Outcome.NULL_HIT, t)
            t = self._remove(line, t + 1)
        elif way is not None:
            entry = self.l1.way(set_index, way)
            if not store:
                self.l1.touch(set_index, way)
                return finish(Outcome.L1_HIT, t, bytes(entry.data))
            merged = merged_with_store(entry.data)
            if self._is_zero_line(merged):
                self.l1.invalidate(set_index, way)
                t = self._write(line, merged, t + 1)
                return finish(Outcome.L1_HIT, self._insert(line, t))
            if p.write_policy == "write_through":
                t = self._write(line, merged, t + 1)
            entry.data[:] = merged
            entry.dirty = p.write_policy == "write_back"
            self.l1.touch(set_index, way)
            return finish(Outcome.L1_HIT, t)
        else:
            t += 1
        # MEMORY read, then DECIDE.
        self.stats["memory_reads"] += 1
        fetched = self.memory.read_line(line)
        t += 1 + p.memory_latency
        merged = merged_with_store(fetched)
        if self._is_zero_line(merged):
            t += 1
            if store:
                t = self._write(line, merged, t)
            return finish(outcome, self._insert(line, t), bytes(p.line_bytes))
        victim = self.l1.victim(set_index)
        old = self.l1.way(set_index, victim)
        t += 1
        if old is not None and old.dirty:
            t = self._write(old.line, bytes(old.data), t)
        if store and p.write_policy == "write_through":
            t = self._write(line, merged, t)
        self.l1.fill(line, victim, merged, dirty=store and p.write_policy == "write_back")
        return finish(outcome, t, merged)

    # -- checks ------------------------------------------------------------------------
    def soundness_violations(self) -> list[str]:
        """Covered lines that are not (near-)zero in memory or that the L1 holds."""
        p = self.params
        problems = []
        for line in sorted(set(self.null.covered_lines())):
            all_zero, near_zero = detect(self.memory.read_line(line), p.word_format,
                                         p.threshold)
            if not (near_zero if p.approximate else all_zero):
                problems.append(f"line {line:#x} is covered but not zero in memory")
            if self.l1.lookup(line) is not None:
                problems.append(f"line {line:#x} is covered and in the L1")
        return problems

    def check_soundness(self) -> None:
        problems = self.soundness_violations()
        if problems:
            raise AssertionError("soundness broken: " + "; ".join(problems[:8]))
