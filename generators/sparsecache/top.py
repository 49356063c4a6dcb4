"""SparseCache: an L1 data cache with a TCAM null cache for zero lines beside it.

One access at a time (a blocking, in-order core): ``requests`` is ready only when the cache is
idle. After reset the L1 spends ``max(2, sets)`` cycles invalidating its lines; the model's
cycle 0 is the first cycle after that in which ``requests.ready`` is high. Behaviour and cycle
timing are the golden model's, word for word and cycle for cycle: see the semantics and the
timing table in ``accelgen.sim.sparsecache.hierarchy``. In short, the L1 arrays are read in the
accept cycle; LOOKUP (the next cycle) compares tags and searches the TCAM and answers load
hits; misses fetch the line through ``memory_requests`` / ``memory_responses``, the zero
detector sends zero lines to the null cache and the others into the L1.

The memory is outside: it must accept a request in the cycle it is offered and answer each
one, a read with its line and a write with an acknowledgement, a fixed number of cycles later
(the model's ``memory_latency``). The controller keeps ``memory_responses.ready`` high while
waiting and issues one request at a time.

``debug`` shows the null cache's slots and ranks (the state the model reports after each
access), whether the merger is busy, and ``conflict``, a sticky flag raised if a lookup ever
hits both the L1 and the null cache (the soundness invariant forbids it). With ``probe=True``
(formal checks only) it also takes a line address ``probe_line`` and shows in
``probe_l1_ways`` which L1 ways hold that line; without it nothing is added.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.back import verilog
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from ..emit import GeneratedDesign
from ..metadata import describe_component, describe_layout, generator_version
from .cache_config import SparseCacheConfig
from .l1_cache import L1Cache, L1Update
from .null_cache import NullCache, NullOp
from .streams import (
    Op,
    Outcome,
    memory_request_layout,
    memory_response_layout,
    request_layout,
    response_layout,
)
from .tcam import entry_layout
from .zero_detector import ZeroDetector

__all__ = ["SparseCache", "generate_sparsecache"]


class _Next(enum.Enum, shape=2):
    """Where the controller goes once a memory request is answered."""

    DECIDE = 0
    FILL = 1
    INSERT = 2


class SparseCache(wiring.Component):
    """The SparseCache top level.

    Members
    -------
    requests : ``In(stream.Signature(request_layout))``
    responses : ``Out(stream.Signature(response_layout))``
    memory_requests : ``Out(stream.Signature(memory_request_layout))``
    memory_responses : ``In(stream.Signature(memory_response_layout))``
    debug : ``Out``: ``entries``, ``ranks``, ``merger_busy``, ``conflict``; with ``probe``
        also ``probe_line`` (``In``) and ``probe_l1_ways``
    """

    def __init__(self, cfg: SparseCacheConfig, *, probe: bool = False):
        if not isinstance(cfg, SparseCacheConfig):
            raise TypeError(f"cfg: must be a SparseCacheConfig, got {cfg!r}")
        self._cfg = cfg
        self._probe = probe
        tcam = cfg.tcam
        probe_members = {"probe_line": In(cfg.line_address_bits),
                         "probe_l1_ways": Out(cfg.ways)} if probe else {}
        super().__init__({
            "requests": In(stream.Signature(request_layout(cfg))),
            "responses": Out(stream.Signature(response_layout(cfg))),
            "memory_requests": Out(stream.Signature(memory_request_layout(cfg))),
            "memory_responses": In(stream.Signature(memory_response_layout(cfg))),
            "debug": Out(wiring.Signature({
                "entries": Out(data.ArrayLayout(entry_layout(tcam.key_width), tcam.entries)),
                "ranks": Out(data.ArrayLayout(tcam.index_width, tcam.entries)),
                "merger_busy": Out(1),
                "conflict": Out(1),
                **probe_members,
            })),
        })

    @property
    def config(self) -> SparseCacheConfig:
        return self._cfg

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self._cfg
        word_shift = cfg.offset_bits - (cfg.word_bytes.bit_length() - 1)  # words per line, log2
        write_back = cfg.write_policy == "write_back"

        m.submodules.l1 = l1 = L1Cache(cfg, probe=self._probe)
        if self._probe:
            m.d.comb += [l1.probe.line.eq(self.debug.probe_line),
                         self.debug.probe_l1_ways.eq(l1.probe.ways)]
        m.submodules.null_cache = null = NullCache(cfg.tcam, cfg.replacement)
        m.submodules.zero_detector = detector = ZeroDetector(cfg.zero_detector)
        m.submodules.word_detector = word_detector = ZeroDetector(cfg.word_detector)

        op = Signal(Op)
        line = Signal(cfg.line_address_bits)
        word_index = Signal(max(1, word_shift))
        store_data = Signal(cfg.word_bits)
        outcome = Signal(Outcome)
        working = Signal(cfg.line_bits)  # the line being filled or written
        memory_write = Signal()
        memory_addr = Signal(cfg.line_address_bits)
        memory_data = Signal(cfg.line_bits)
        after_memory = Signal(_Next)
        fill_way = Signal(cfg.way_bits)
        fill_dirty = Signal()
        held = Signal(response_layout(cfg))
        conflict = Signal()

        def word_of(line_value):
            if word_shift == 0:
                return line_value
            return line_value.word_select(word_index, cfg.word_bits)

        def with_store(line_value):
            """``line_value`` with the stored word in place (unchanged for a load)."""
            merged = Signal(cfg.line_bits)
            m.d.comb += merged.eq(line_value)
            with m.If(op == Op.STORE):
                if word_shift == 0:
                    m.d.comb += merged.eq(store_data)
                else:
                    m.d.comb += merged.word_select(word_index, cfg.word_bits).eq(store_data)
            return merged

        store = op == Op.STORE
        merged_hit = with_store(l1.lookup.hit_data)
        merged_response = with_store(self.memory_responses.payload.data)
        line_is_zero = detector.near_zero  # equals all_zero when the threshold is 0
        m.d.comb += [
            null.key.eq(line),
            word_detector.line.eq(store_data),
            self.debug.entries.eq(null.entries),
            self.debug.ranks.eq(null.ranks),
            self.debug.merger_busy.eq(null.busy),
            self.debug.conflict.eq(conflict),
            self.memory_requests.payload.write.eq(memory_write),
            self.memory_requests.payload.addr.eq(memory_addr),
            self.memory_requests.payload.data.eq(memory_data),
        ]

        # A finishing state offers its response at once; a busy consumer gets it from RESPOND.
        finish = Signal()
        finish_data = Signal(cfg.word_bits)
        finish_outcome = Signal(Outcome)
        in_respond = Signal()
        m.d.comb += self.responses.valid.eq(finish | in_respond)
        with m.If(in_respond):
            m.d.comb += self.responses.payload.eq(held)
        with m.Else():
            m.d.comb += [self.responses.payload.data.eq(finish_data),
                         self.responses.payload.outcome.eq(finish_outcome)]
        # The zero detector looks at the working line, except in LOOKUP (the stored-to hit).
        m.d.comb += detector.line.eq(working)

        def respond(word, how) -> None:
            m.d.comb += [finish.eq(1), finish_data.eq(word), finish_outcome.eq(how)]
            m.d.sync += [held.data.eq(word), held.outcome.eq(how)]
            with m.If(self.responses.ready):
                m.next = "IDLE"
            with m.Else():
                m.next = "RESPOND"

        def memory(write, addr, value, then: _Next) -> None:
            m.d.sync += [memory_write.eq(write), memory_addr.eq(addr), memory_data.eq(value),
                         after_memory.eq(then)]
            m.next = "MEMORY_REQUEST"

        with m.FSM():
            with m.State("IDLE"):
                request = self.requests.payload
                m.d.comb += [self.requests.ready.eq(l1.ready),
                             l1.read.en.eq(self.requests.valid & l1.ready),
                             l1.read.line.eq(request.addr[word_shift:])]
                with m.If(self.requests.valid & l1.ready):
                    m.d.sync += [op.eq(request.op), line.eq(request.addr[word_shift:]),
                                 store_data.eq(request.data)]
                    if word_shift:
                        m.d.sync += word_index.eq(request.addr[:word_shift])
                    m.next = "LOOKUP"

            with m.State("LOOKUP"):
                m.d.comb += detector.line.eq(merged_hit)
                with m.If(null.hit & l1.lookup.hit):
                    m.d.sync += conflict.eq(1)
                with m.If(null.hit):
                    with m.If(~store | word_detector.all_zero):
                        m.d.comb += null.touch.eq(1)
                        respond(0, Outcome.NULL_HIT)
                    with m.Else():
                        m.d.sync += outcome.eq(Outcome.MISS)
                        m.next = "REMOVE"
                with m.Elif(l1.lookup.hit):
                    hit_way = l1.lookup.hit_way
                    with m.If(~store):
                        m.d.comb += [l1.update.op.eq(L1Update.TOUCH), l1.update.way.eq(hit_way)]
                        respond(word_of(l1.lookup.hit_data), Outcome.L1_HIT)
                    with m.Else():
                        m.d.sync += [outcome.eq(Outcome.L1_HIT), working.eq(merged_hit),
                                     fill_way.eq(hit_way), fill_dirty.eq(0)]
                        with m.If(line_is_zero):
                            m.d.comb += [l1.update.op.eq(L1Update.INVALIDATE),
                                         l1.update.way.eq(hit_way)]
                            memory(1, line, merged_hit, _Next.INSERT)
                        with m.Else():
                            if write_back:
                                m.d.comb += [l1.update.op.eq(L1Update.WRITE),
                                             l1.update.way.eq(hit_way),
                                             l1.update.data.eq(merged_hit),
                                             l1.update.dirty.eq(1)]
                                respond(0, Outcome.L1_HIT)
                            else:
                                memory(1, line, merged_hit, _Next.FILL)
                with m.Else():
                    m.d.sync += outcome.eq(Outcome.MISS)
                    memory(0, line, 0, _Next.DECIDE)

            with m.State("REMOVE"):
                m.d.comb += [null.command.valid.eq(1),
                             null.command.payload.eq(NullOp.REMOVE)]
                with m.If(null.command.ready):
                    memory(0, line, 0, _Next.DECIDE)

            with m.State("MEMORY_REQUEST"):
                m.d.comb += [self.memory_requests.valid.eq(1)]
                with m.If(self.memory_requests.ready):
                    m.next = "MEMORY_WAIT"

            with m.State("MEMORY_WAIT"):
                m.d.comb += [self.memory_responses.ready.eq(1)]
                with m.If(self.memory_responses.valid), m.Switch(after_memory):
                    with m.Case(_Next.DECIDE):
                        m.d.sync += working.eq(merged_response)
                        m.next = "DECIDE"
                    with m.Case(_Next.FILL):
                        m.next = "FILL"
                    with m.Case(_Next.INSERT):
                        m.next = "INSERT"

            with m.State("DECIDE"):
                with m.If(line_is_zero):
                    with m.If(store):
                        memory(1, line, working, _Next.INSERT)
                    with m.Else():
                        m.next = "INSERT"
                with m.Else():
                    m.d.sync += [fill_way.eq(l1.lookup.victim_way),
                                 fill_dirty.eq(store if write_back else 0)]
                    victim = l1.lookup
                    if write_back:
                        with m.If(victim.victim_valid & victim.victim_dirty):
                            memory(1, victim.victim_line, victim.victim_data, _Next.FILL)
                        with m.Else():
                            m.next = "FILL"
                    else:
                        with m.If(store):
                            memory(1, line, working, _Next.FILL)
                        with m.Else():
                            m.next = "FILL"

            with m.State("FILL"):
                m.d.comb += [detector.line.eq(working),
                             l1.update.op.eq(L1Update.WRITE), l1.update.way.eq(fill_way),
                             l1.update.data.eq(working), l1.update.dirty.eq(fill_dirty)]
                respond(Mux(store, 0, word_of(working)), outcome)

            with m.State("INSERT"):
                m.d.comb += [null.command.valid.eq(1),
                             null.command.payload.eq(NullOp.INSERT)]
                with m.If(null.command.ready):
                    respond(0, outcome)

            with m.State("RESPOND"):
                m.d.comb += [in_respond.eq(1)]
                with m.If(self.responses.ready):
                    m.next = "IDLE"
        return m


def generate_sparsecache(cfg: SparseCacheConfig) -> GeneratedDesign:
    """Verilog of a :class:`SparseCache` named ``cfg.name``, with its JSON description.

    The JSON states the null cache's storage (``null_cache``): each entry holds a value and a
    care mask of ``key_width`` bits and a valid bit, so B bytes hold
    ``floor(8 B / (2 key_width + 1))`` entries.
    """
    top = SparseCache(cfg)
    text = verilog.convert(top, name=cfg.name, emit_src=False)
    tcam = cfg.tcam
    description = {
        "generator": "accelgen",
        "generator_version": generator_version(),
        "kind": "sparsecache",
        "module": cfg.name,
        "parameters": cfg.to_dict(),
        "derived": {
            "line_address_bits": cfg.line_address_bits,
            "word_address_bits": cfg.word_address_bits,
            "key_width": tcam.key_width,
            "null_cache_bits_per_entry": 2 * tcam.key_width + 1,
            "null_cache_bytes": cfg.null_cache_bits / 8,
            "l1_data_bits": cfg.sets * cfg.ways * cfg.line_bits,
            "l1_tag_bits": cfg.sets * cfg.ways * (cfg.tag_bits + 2),
        },
        "null_cache": {
            "entries": tcam.entries,
            "value_bits": tcam.key_width,
            "care_bits": tcam.key_width,
            "valid_bits": 1,
            "bits_per_entry": 2 * tcam.key_width + 1,
            "bytes": cfg.null_cache_bits / 8,
            "entries_for_bytes": "floor(8 * bytes / (2 * key_width + 1))",
        },
        "debug_entry_layout": describe_layout(entry_layout(tcam.key_width)),
        **describe_component(top),
    }
    return GeneratedDesign(cfg.name, text, description)
