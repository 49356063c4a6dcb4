"""Formal harness for SparseCache's soundness invariant, for Yosys ``sat``.

The harness wraps one :class:`~.top.SparseCache` (built with ``probe=True``) and is the whole
world it runs in:

* the core: ``requests`` (valid, op, address, data) and ``responses.ready`` are free in every
  cycle (``AnySeq``), with no assumption at all, so every trace of accesses, gaps and
  back-pressure is covered; so is the reset input (the harness's registers reset with the
  design's, and the watched line's contents then return to their arbitrary initial value);
* the memory: always ready, it answers every request exactly ``latency`` cycles later, as the
  top's contract asks. One line address, ``watched``, is chosen by the solver (``AnyConst``)
  and its contents are modelled (arbitrary at the start, then whatever is written); every
  other read returns free data.

Because ``watched`` is any line, proving the assertions for it proves them for every line.
Each assertion drives a signal ``check_<name>`` (1 when it holds); see :data:`CHECKS`.
``sound`` is the invariant itself: if a valid null-cache entry covers the watched line, memory
holds zeros there (near-zeros within the threshold in approximate mode, checked word by word
here, independently of the zero detector) and no L1 way holds it. The other checks are true of
every reachable state and are needed for an induction proof: without them an induction step
could start from two overlapping entries, or two L1 copies of a line, and break ``sound`` by
removing only one.

``sound`` alone is not inductive over any number of steps: an induction step may start in an
unreachable state whose internal registers disagree with the TCAM, the L1 or the memory (a
merger holding some other entry, a split latch, a controller about to insert a line memory
does not hold as zero), and such a state can last as long as nothing moves. With
``auxiliary=True`` the harness elaborates the design itself and also asserts
:data:`AUXILIARY`, one invariant per obligation of the controller, merger and split logic,
over their registers (found by name and FSM state name in the elaborated fragments); with
them the assertions are 1-inductive.

``fault`` builds a deliberately broken design, so that a test can show the proof fails.
"""

from __future__ import annotations

import types

from amaranth import C, Cat, Module, Mux, Signal
from amaranth.asserts import AnyConst, AnySeq
from amaranth.hdl import Assert, Elaboratable, Fragment
from amaranth.lib import data

from .cache_config import SparseCacheConfig
from .l1_cache import set_layout
from .null_cache import NullCache, NullOp
from .streams import Op
from .top import SparseCache, _Next
from .zero_detector import ZeroDetector

__all__ = ["AUXILIARY", "CHECKS", "FAULTS", "SoundnessHarness"]

CHECKS = {
    "sound": "a covered line is not zero in memory, or the L1 holds it",
    "single_entry": "two valid entries cover one line",
    "single_way": "two L1 ways hold one line",
    "x_bits_zero": "an entry has a non-zero bit in an X position",
    "response_taken": "the memory answered while the controller was not listening",
    "one_request": "a memory request while another one is outstanding",
}
"""Every assertion, by the name of its ``check_<name>`` signal, with what its failure means."""

AUXILIARY = {
    "memory_in_step": "the memory model and the controller disagree on the outstanding request",
    "merger_entry": "the merger's current entry is not the one in its slot",
    "split_latch": "a split in progress does not match the entry it splits",
    "remove": "REMOVE for a line that is not covered, or that the L1 holds",
    "l1_ready": "the controller is busy while the L1 is still clearing",
    "l1_read": "the L1's registered set disagrees with its tag memory",
    "fetch": "a line fetch for a covered line, or one the L1 holds",
    "decide": "DECIDE on a covered or cached line, or on data memory does not hold",
    "fill": "a fill of a covered line, or a write of one",
    "insert_write": "the write before an insert is not a zero line, or the L1 holds the line",
    "insert": "an insert of a line that is not zero in memory or that the L1 holds",
}
"""Auxiliary invariants over the design's registers (``auxiliary=True``), true in every
reachable state. They rule out the unreachable states an induction step could otherwise start
from, for the watched line: what the controller holds in each state (line, memory request,
fetched data, fill way), the merger's current entry, a split in progress, the L1's registered
set, and the memory model in step with the controller. A register the harness names but
cannot find makes it fail to build, never pass vacuously."""

FAULTS = ("none", "first_word_only", "remove_does_nothing", "skip_split")
"""Deliberate bugs: ``first_word_only`` makes the line zero detector look at word 0 only, so a
line with a non-zero word elsewhere enters the null cache; ``remove_does_nothing`` acknowledges
the null cache's REMOVE command without removing anything, so a non-zero store to a covered
line fills the L1 while the line stays covered; ``skip_split`` does the same only when REMOVE
would split (an entry with X bits and room for its pieces), and drops entries correctly."""


def _first_word_only(detector: ZeroDetector, platform: object) -> Module:
    m = Module()
    word = detector.line.as_value()[:detector.config.word_format.bits]
    m.d.comb += [detector.all_zero.eq(word == 0), detector.near_zero.eq(word == 0)]
    return m


def _remove_does_nothing(null: NullCache, platform: object) -> Module:
    m = Module()
    m.submodules.inner = inner = NullCache(null._config, null._replacement)
    remove = null.command.payload == NullOp.REMOVE
    m.d.comb += [
        inner.key.eq(null.key), inner.touch.eq(null.touch),
        inner.command.payload.eq(null.command.payload),
        inner.command.valid.eq(null.command.valid & ~remove),
        null.command.ready.eq(remove | inner.command.ready),
        null.hit.eq(inner.hit), null.busy.eq(inner.busy),
        null.entries.eq(inner.entries), null.ranks.eq(inner.ranks),
    ]
    return m


def _skip_split(null: NullCache, platform: object) -> Module:
    m = Module()
    m.submodules.inner = inner = NullCache(null._config, null._replacement)
    cfg = null._config
    entries = inner.entries
    hits = [entries[i].valid & (((null.key ^ entries[i].value) & entries[i].care) == 0)
            for i in range(cfg.entries)]
    covering_x = Signal(range(cfg.key_width + 1))
    for i in reversed(range(cfg.entries)):  # the lowest matching entry, as the TCAM picks
        with m.If(hits[i]):
            m.d.comb += covering_x.eq(sum(~entries[i].care[b] for b in range(cfg.key_width)))
    free = sum(~entries[i].valid for i in range(cfg.entries))
    split = ((null.command.payload == NullOp.REMOVE) & Cat(hits).any() & (covering_x != 0)
             & (free + 1 >= covering_x))
    m.d.comb += [
        inner.key.eq(null.key), inner.touch.eq(null.touch),
        inner.command.payload.eq(null.command.payload),
        inner.command.valid.eq(null.command.valid & ~split),
        null.command.ready.eq(Mux(split, ~inner.busy, inner.command.ready)),
        null.hit.eq(inner.hit), null.busy.eq(inner.busy),
        null.entries.eq(inner.entries), null.ranks.eq(inner.ranks),
    ]
    return m


class _FaultySparseCache(SparseCache):
    """A SparseCache with one of its blocks replaced by a broken one (see :data:`FAULTS`)."""

    def __init__(self, cfg: SparseCacheConfig, fault: str):
        super().__init__(cfg, probe=True)
        self._fault = fault

    def elaborate(self, platform: object) -> Module:
        m = super().elaborate(platform)
        broken = {"first_word_only": ("zero_detector", _first_word_only),
                  "remove_does_nothing": ("null_cache", _remove_does_nothing),
                  "skip_split": ("null_cache", _skip_split)}
        name, elaborate = broken[self._fault]
        block = m.submodules[name]
        block.elaborate = types.MethodType(elaborate, block)
        return m


def _registers(fragment: Fragment) -> dict[str, Signal]:
    """The signals a fragment assigns in its ``sync`` domain, by name."""
    found: dict[str, Signal] = {}
    for statement in fragment.statements.get("sync", []):
        for signal in statement._lhs_signals():
            if found.setdefault(signal.name, signal) is not signal:
                raise ValueError(f"two registers named {signal.name!r}")
    return found


def _signal(fragment: Fragment, name: str) -> Signal:
    """The one signal called ``name`` that a fragment reads."""
    found = {id(signal): signal for statements in fragment.statements.values()
             for statement in statements for signal in statement._rhs_signals()
             if signal.name == name}
    if len(found) != 1:
        raise ValueError(f"expected one signal named {name!r}, found {len(found)}")
    return next(iter(found.values()))


def _encoding(signal: Signal) -> dict[str, int]:
    """Value of each state of an FSM state signal, from its decoder ("NAME/value")."""
    names = {}
    for value in range(1 << len(signal)):
        try:
            text = signal.decoder(value)
        except (KeyError, ValueError):
            continue
        name, _, number = str(text).rpartition("/")
        if number == str(value) and name:
            names[name.rsplit(".", 1)[-1]] = value
    return names


def _at_most_one(bits: list) -> object:
    value = Cat(bits)
    return (value & (value - 1)) == 0


class SoundnessHarness(Elaboratable):
    """The SparseCache of ``cfg`` with a free core, a ``latency``-cycle memory and the
    soundness assertions (see the module docstring)."""

    def __init__(self, cfg: SparseCacheConfig, *, latency: int = 1, fault: str = "none",
                 auxiliary: bool = False):
        problem = None
        if not isinstance(cfg, SparseCacheConfig):
            problem = TypeError(f"cfg: must be a SparseCacheConfig, got {cfg!r}")
        elif isinstance(latency, bool) or not isinstance(latency, int) or latency < 1:
            problem = ValueError(f"latency: must be an integer >= 1, got {latency!r}")
        elif fault not in FAULTS:
            problem = ValueError(f"fault: must be one of {', '.join(FAULTS)}, got {fault!r}")
        if problem is not None:
            self._MustUse__silence = True  # a refused harness is not an unused one
            raise problem
        self.cfg = cfg
        self.latency = latency
        self.fault = fault
        self.auxiliary = auxiliary

    @property
    def checks(self) -> dict[str, str]:
        """The assertions this harness makes, by name (:data:`CHECKS`, plus
        :data:`AUXILIARY` with ``auxiliary``)."""
        return {**CHECKS, **(AUXILIARY if self.auxiliary else {})}

    def _is_zero(self, line: object) -> object:
        """Every word of ``line`` zero, or within the threshold in approximate mode."""
        cfg = self.cfg
        bits = cfg.word_bits
        limit = cfg.zero_detector.threshold_bits
        checks = []
        for i in range(cfg.words_per_line):
            word = line[i * bits:(i + 1) * bits]
            if cfg.format.is_float:
                checks.append(word[:bits - 1] <= limit)  # magnitude: the sign bit cleared
            else:
                checks.append((word.as_signed() >= -limit) & (word.as_signed() <= limit))
        return Cat(checks).all()

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self.cfg
        if self.fault == "none":
            dut = SparseCache(cfg, probe=True)
        else:
            dut = _FaultySparseCache(cfg, self.fault)
        if self.auxiliary:
            # Elaborated here, so that the auxiliary invariants can name its registers.
            fragment = Fragment.get(dut, platform)
            m.submodules.dut = fragment
        else:
            m.submodules.dut = dut

        # The core: anything, any time.
        m.d.comb += [
            dut.requests.valid.eq(AnySeq(1)),
            dut.requests.payload.eq(AnySeq(len(dut.requests.payload.as_value()))),
            dut.responses.ready.eq(AnySeq(1)),
        ]

        # The watched line and its contents in memory: arbitrary until first written.
        watched = Signal(cfg.line_address_bits)
        initial = Signal(cfg.line_bits)
        written = Signal()
        stored = Signal(cfg.line_bits)
        contents = Signal(cfg.line_bits)
        m.d.comb += [watched.eq(AnyConst(cfg.line_address_bits)),
                     initial.eq(AnyConst(cfg.line_bits)),
                     contents.eq(Mux(written, stored, initial)),
                     dut.debug.probe_line.eq(watched)]

        # The memory: always ready, writes at once, answers after exactly `latency` cycles.
        request = dut.memory_requests
        m.d.comb += request.ready.eq(1)
        accepted = request.valid & request.ready
        with m.If(accepted & request.payload.write & (request.payload.addr == watched)):
            m.d.sync += [written.eq(1), stored.eq(request.payload.data)]
        valid = [Signal(name=f"pending{i}_valid") for i in range(self.latency)]
        write = [Signal(name=f"pending{i}_write") for i in range(self.latency)]
        addr = [Signal(cfg.line_address_bits, name=f"pending{i}_addr")
                for i in range(self.latency)]
        m.d.sync += [valid[0].eq(accepted), write[0].eq(request.payload.write),
                     addr[0].eq(request.payload.addr)]
        for i in range(1, self.latency):
            m.d.sync += [valid[i].eq(valid[i - 1]), write[i].eq(write[i - 1]),
                         addr[i].eq(addr[i - 1])]
        response = dut.memory_responses
        watched_read = ~write[-1] & (addr[-1] == watched)
        m.d.comb += [response.valid.eq(valid[-1]),
                     response.payload.data.eq(Mux(watched_read, contents,
                                                  AnySeq(cfg.line_bits)))]

        # The invariant for the watched line, and what makes it inductive.
        entries = dut.debug.entries
        covering = [entries[i].valid & (((watched ^ entries[i].value) & entries[i].care) == 0)
                    for i in range(cfg.null_entries)]
        covered = Cat(covering).any()
        in_l1 = dut.debug.probe_l1_ways.any()
        conditions = {
            "sound": ~covered | (self._is_zero(contents) & ~in_l1),
            "single_entry": _at_most_one(covering),
            "single_way": _at_most_one(list(dut.debug.probe_l1_ways)),
            "x_bits_zero": Cat((entries[i].value & ~entries[i].care) == 0
                               for i in range(cfg.null_entries)).all(),
            "response_taken": ~response.valid | response.ready,
            "one_request": ~request.valid | ~Cat(valid).any(),
        }
        if self.auxiliary:
            conditions.update(self._auxiliary(fragment, dut, watched, contents, covering,
                                              valid, write, addr))
        for name, meaning in self.checks.items():
            check = Signal(name=f"check_{name}")
            m.d.comb += [check.eq(conditions[name]), Assert(check, meaning)]
        return m

    def _auxiliary(self, fragment: Fragment, dut: SparseCache, watched: Signal,
                   contents: Signal, covering: list, valid: list, write: list,
                   addr: list) -> dict[str, object]:
        """The invariants of :data:`AUXILIARY`, over the design's internal registers."""
        cfg = self.cfg
        top = _registers(fragment)
        l1_fragment = fragment.find_subfragment("l1")
        l1 = _registers(l1_fragment)
        null = _registers(fragment.find_subfragment("null_cache"))
        merger = _registers(fragment.find_subfragment("null_cache").find_subfragment("merger"))
        current = data.View(set_layout(cfg), _signal(l1_fragment, "meta_read__data"))
        state, split = _encoding(top["fsm_state"]), _encoding(null["fsm_state"])
        after = {member.name: member.value for member in _Next}

        def at(*names: str) -> object:
            return Cat(top["fsm_state"] == state[name] for name in names).any()

        entries = dut.debug.entries
        line = top["line"]
        full = (1 << cfg.line_address_bits) - 1
        covered = Cat(covering).any()
        in_l1 = dut.debug.probe_l1_ways.any()
        zero = self._is_zero(contents)
        mine = line == watched
        memory = at("MEMORY_REQUEST", "MEMORY_WAIT")
        goes = {name: top["after_memory"] == value for name, value in after.items()}
        line_hit = Cat(e.valid & (((line ^ e.value) & e.care) == 0) for e in entries).any()

        # The L1's registered set (read when the access was accepted) still matches the tag
        # memory, as far as the watched line is concerned, until the access updates it.
        l1_line = l1["line"]
        set_bits = cfg.set_bits
        same_set = (l1_line[:set_bits] == watched[:set_bits]) if set_bits else 1
        registered = Cat(current.ways[w].valid & (current.ways[w].tag == watched[set_bits:])
                         for w in range(cfg.ways))
        reading = at("LOOKUP", "REMOVE", "DECIDE", "FILL") | (memory & ~goes["INSERT"])

        pieces = null["fsm_state"] == split["PIECES"]
        remaining_value, remaining_care = null["remaining_value"], null["remaining_care"]
        first_entry = entries[null["first_slot"]]
        in_block = ((watched ^ remaining_value) & remaining_care) == 0
        merging = entries[merger["slot"]]

        outstanding = Cat(valid).any()
        memory_write, memory_addr = top["memory_write"], top["memory_addr"]
        fill_way = (C(1, cfg.ways) << top["fill_way"])[:cfg.ways]
        return {
            "memory_in_step": (at("MEMORY_WAIT") == outstanding) & _at_most_one(valid)
            & (top["after_memory"] <= max(after.values()))
            & Cat(~valid[i] | ((write[i] == memory_write) & (addr[i] == memory_addr))
                  for i in range(self.latency)).all(),
            "merger_entry": ~merger["busy"] | (
                merging.valid & (merging.value == merger["value"])
                & (merging.care == merger["care"]) & ~pieces),
            "split_latch": ~pieces | (
                at("REMOVE") & (remaining_care != full) & ((remaining_value & ~remaining_care) == 0)
                & (((line ^ remaining_value) & remaining_care) == 0)
                & (~null["first"] | (first_entry.valid & (first_entry.value == remaining_value)
                                     & (first_entry.care == remaining_care)))
                & (~in_block | (zero & ~in_l1 & (null["first"] | ~covered)))),
            "remove": ~at("REMOVE") | ((pieces | line_hit) & (~mine | ~in_l1)),
            "l1_ready": at("IDLE") | ~l1["clearing"],
            "l1_read": ~reading | ((l1_line == line) & (~same_set | (registered
                                                                     == dut.debug.probe_l1_ways))),
            "fetch": ~(memory & goes["DECIDE"]) | (
                ~memory_write & (memory_addr == line) & (~mine | (~covered & ~in_l1))),
            "decide": ~at("DECIDE") | ~mine | (
                ~covered & ~in_l1 & ((top["op"] != Op.LOAD.value) | (top["working"] == contents))),
            "fill": ~((memory & goes["FILL"]) | at("FILL")) | (
                (~mine | (~covered & (~in_l1 | (dut.debug.probe_l1_ways == fill_way))))
                & (at("FILL") | ~memory_write | (memory_addr != watched) | ~covered)),
            "insert_write": ~(memory & goes["INSERT"]) | (
                memory_write & (memory_addr == line)
                & (~at("MEMORY_REQUEST") | self._is_zero(top["memory_data"]))
                & (~mine | (~in_l1 & (~at("MEMORY_WAIT") | zero)))),
            "insert": ~at("INSERT") | ~mine | (zero & ~in_l1),
        }
