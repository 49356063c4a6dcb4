"""The null cache: TCAM, address merger, recency ranks, replacement, insert and exact split.

It remembers line addresses whose lines are zero in memory. The controller (:mod:`.top`)
keeps ``key`` on the current access's line address and sees ``hit`` combinationally. The
behaviour is the golden model's ``NullCache`` (``accelgen.sim.sparsecache.null_cache``); the
cycle timing is the hierarchy's timing spec:

* ``touch`` (in a cycle with ``hit``) makes the lowest matching slot most recent; the merger
  does nothing in that cycle.
* ``command`` is a stream of :class:`NullOp`; its ``ready`` says the command is done and is
  only raised while the merger is idle (the merger owns the TCAM while it runs).

  - ``INSERT``: done in its first idle cycle. A covered key changes nothing; otherwise the
    exact entry goes into the lowest invalid slot or, with none, the victim (``lru``: rank
    ``entries - 1``; ``coverage_lru``: fewest covered lines, then the highest rank), becomes
    most recent, and the merger starts on it.
  - ``REMOVE`` (the key must be covered): in the first idle cycle the covering entry with k X
    bits is invalidated (k = 0, or fewer than k - 1 free slots: dropped, which loses nothing
    since its lines are zero in memory) and the command is done; or it is latched and its k
    split pieces, most significant X bit first, are written one per cycle, the first into its
    own slot, the others into the lowest invalid slot, each made most recent; the command is
    done in the cycle of the last piece.

Recency is a rank per slot (0 = most recent, reset rank of slot i is i); a touch sets the
slot's rank to 0 and adds one to every rank below its old one.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from .address_merger import AddressMerger, lowest_set
from .config import TcamConfig
from .tcam import Tcam, entry_layout

__all__ = ["NullCache", "NullOp"]


class NullOp(enum.Enum, shape=1):
    INSERT = 0
    REMOVE = 1


def _popcount(bits) -> object:
    """Number of set ``bits``, as a balanced adder tree (a chain of hundreds of additions
    would exceed Python's recursion limit when Amaranth lowers it)."""
    terms = [Value.cast(bit) for bit in bits] or [Const(0, 1)]
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0]


def _argmin(m: Module, keys: list, width: int) -> Signal:
    """Index of the smallest of ``keys`` (distinct), as a balanced tree of comparisons."""
    nodes = [(key, Const(i, width)) for i, key in enumerate(keys)]
    while len(nodes) > 1:
        paired = []
        for a in range(0, len(nodes) - 1, 2):
            (key_a, index_a), (key_b, index_b) = nodes[a], nodes[a + 1]
            take_b = key_b < key_a
            key = Signal.like(key_a)
            index = Signal(width)
            m.d.comb += [key.eq(Mux(take_b, key_b, key_a)),
                         index.eq(Mux(take_b, index_b, index_a))]
            paired.append((key, index))
        if len(nodes) % 2:
            paired.append(nodes[-1])
        nodes = paired
    result = Signal(width)
    m.d.comb += result.eq(nodes[0][1])
    return result


class NullCache(wiring.Component):
    """``entries`` ternary slots over ``key_width``-bit line addresses.

    Members
    -------
    key : ``In(key_width)``
    hit : ``Out(1)``
    touch : ``In(1)``
    command : ``In(stream.Signature(NullOp))``
    busy : ``Out(1)``
        The merger is running.
    entries : ``Out(ArrayLayout(entry_layout, entries))``
        Every slot's (value, care, valid), for the testbench.
    ranks : ``Out(ArrayLayout(index_width, entries))``
    """

    def __init__(self, config: TcamConfig, replacement: str = "coverage_lru"):
        if replacement not in ("coverage_lru", "lru"):
            raise ValueError(f"replacement: must be coverage_lru or lru, got {replacement!r}")
        self._config = config
        self._replacement = replacement
        super().__init__({
            "key": In(config.key_width),
            "hit": Out(1),
            "touch": In(1),
            "command": In(stream.Signature(NullOp)),
            "busy": Out(1),
            "entries": Out(data.ArrayLayout(entry_layout(config.key_width), config.entries)),
            "ranks": Out(data.ArrayLayout(config.index_width, config.entries)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self._config
        n, width, index_width = cfg.entries, cfg.key_width, cfg.index_width
        full = (1 << width) - 1
        m.submodules.tcam = tcam = Tcam(cfg)
        m.submodules.merger = merger = AddressMerger(cfg)
        entries = tcam.entries
        m.d.comb += [
            merger.entries.eq(entries),
            self.entries.eq(entries),
            tcam.lookup.key.eq(self.key),
            self.hit.eq(tcam.lookup.hit),
            self.busy.eq(merger.busy),
            merger.stall.eq(self.touch),
        ]

        ranks = [Signal(index_width, name=f"rank{i}", init=i) for i in range(n)]
        m.d.comb += [self.ranks[i].eq(ranks[i]) for i in range(n)]
        valid = [entries[i].valid for i in range(n)]
        any_free, lowest_free = lowest_set(m, [~v for v in valid], index_width)
        free_count = _popcount(~v for v in valid)

        if self._replacement == "lru":
            _, victim = lowest_set(m, [r == n - 1 for r in ranks], index_width)
        else:
            keys = []
            for i in range(n):
                x_bits = _popcount(~entries[i].care[b] for b in range(width))
                keys.append(Cat(Const(n - 1, index_width) - ranks[i], x_bits))
            victim = _argmin(m, keys, index_width)

        hit_index = tcam.lookup.index
        covering = entries[hit_index]
        covering_x = _popcount(~covering.care[b] for b in range(width))

        # Writes, invalidations and touches by the insert/remove logic below.
        own_write = Signal(data.StructLayout({"en": 1, "index": index_width, "value": width,
                                              "care": width}))
        own_invalidate = Signal(data.StructLayout({"en": 1, "index": index_width}))
        own_touch = Signal(data.StructLayout({"en": 1, "index": index_width}))

        m.d.comb += [
            tcam.write.en.eq(merger.write.en | own_write.en),
            tcam.write.index.eq(Mux(merger.write.en, merger.write.index, own_write.index)),
            tcam.write.value.eq(Mux(merger.write.en, merger.write.value, own_write.value)),
            tcam.write.care.eq(Mux(merger.write.en, merger.write.care, own_write.care)),
            tcam.invalidate.en.eq(merger.invalidate.en | own_invalidate.en),
            tcam.invalidate.index.eq(Mux(merger.invalidate.en, merger.invalidate.index,
                                         own_invalidate.index)),
        ]

        touch_en = Signal()
        touch_index = Signal(index_width)
        m.d.comb += touch_en.eq(self.touch | merger.touch.en | own_touch.en)
        with m.If(self.touch):
            m.d.comb += touch_index.eq(hit_index)
        with m.Elif(merger.touch.en):
            m.d.comb += touch_index.eq(merger.touch.index)
        with m.Else():
            m.d.comb += touch_index.eq(own_touch.index)
        touched_rank = Signal(index_width)
        for i in range(n):
            with m.If(touch_index == i):
                m.d.comb += touched_rank.eq(ranks[i])
        with m.If(touch_en):
            for i in range(n):
                with m.If(touch_index == i):
                    m.d.sync += ranks[i].eq(0)
                with m.Elif(ranks[i] < touched_rank):
                    m.d.sync += ranks[i].eq(ranks[i] + 1)

        remaining_value = Signal(width)
        remaining_care = Signal(width)
        first_slot = Signal(index_width)
        first = Signal()
        command = self.command
        with m.FSM():
            with m.State("IDLE"), m.If(command.valid & ~merger.busy):
                with m.If(command.payload == NullOp.INSERT):
                    m.d.comb += command.ready.eq(1)
                    slot = Mux(any_free, lowest_free, victim)
                    with m.If(~tcam.lookup.hit):
                        m.d.comb += [
                            own_write.en.eq(1), own_write.index.eq(slot),
                            own_write.value.eq(self.key), own_write.care.eq(full),
                            own_touch.en.eq(1), own_touch.index.eq(slot),
                            merger.start.en.eq(1), merger.start.index.eq(slot),
                            merger.start.value.eq(self.key), merger.start.care.eq(full),
                        ]
                with m.Else():
                    room = (covering_x != 0) & (free_count + 1 >= covering_x)
                    with m.If(tcam.lookup.hit & room):
                        m.d.sync += [remaining_value.eq(covering.value),
                                     remaining_care.eq(covering.care),
                                     first_slot.eq(hit_index), first.eq(1)]
                        m.next = "PIECES"
                    with m.Else():
                        m.d.comb += [command.ready.eq(1),
                                     own_invalidate.en.eq(tcam.lookup.hit),
                                     own_invalidate.index.eq(hit_index)]
            with m.State("PIECES"):
                top = Signal(width)
                x_positions = ~remaining_care & full
                for b in range(width):
                    with m.If(x_positions[b]):
                        m.d.comb += top.eq(1 << b)
                target = Mux(first, first_slot, lowest_free)
                m.d.comb += [
                    own_write.en.eq(1), own_write.index.eq(target),
                    own_write.value.eq(remaining_value | (~self.key & top)),
                    own_write.care.eq(remaining_care | top),
                    own_touch.en.eq(1), own_touch.index.eq(target),
                ]
                m.d.sync += [remaining_value.eq(remaining_value | (self.key & top)),
                             remaining_care.eq(remaining_care | top), first.eq(0)]
                with m.If((remaining_care | top) == full):
                    m.d.comb += command.ready.eq(1)
                    m.next = "IDLE"
        return m
