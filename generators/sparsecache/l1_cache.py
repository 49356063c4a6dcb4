"""The L1 data cache's arrays: tags, valid and dirty bits, true LRU per set, and line data.

Set ``s`` of line address ``a`` is ``a % sets`` and its tag ``a // sets``. The set's metadata
(each way's valid, dirty and tag, and the ways in recency order, most recent first) is one
word of a :class:`~amaranth.lib.memory.Memory`; each way's data is another memory of whole
lines. The controller in :mod:`.top` decides; this block stores and answers:

* ``read.en`` in cycle c reads the set of ``read.line``; from cycle c + 1 until the next read
  the ``lookup`` outputs describe that set (memory read ports hold their data).
* ``update`` changes the set last read, at the end of the cycle. ``WRITE`` puts ``data`` into
  ``way`` with the read line's tag, valid, ``dirty`` and most recent; ``TOUCH`` makes ``way``
  most recent; ``INVALIDATE`` clears its valid bit. One update per read: an update computes
  the new recency order from the data read.

The victim is the lowest invalid way, else the least recently used one (as the golden model's
``L1Cache``). After reset the block spends ``max(2, sets)`` cycles writing every set back to all
invalid with recency order 0, 1, ... (memories have no reset); ``ready`` is low meanwhile and
no read or update may be issued.
"""

from __future__ import annotations

from amaranth import C, Cat, Module, Mux, Signal
from amaranth.lib import data, enum, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .cache_config import SparseCacheConfig

__all__ = ["L1Cache", "L1Update"]


class L1Update(enum.Enum, shape=2):
    NONE = 0
    TOUCH = 1
    WRITE = 2
    INVALIDATE = 3


def way_layout(cfg: SparseCacheConfig) -> data.StructLayout:
    return data.StructLayout({"valid": 1, "dirty": 1, "tag": cfg.tag_bits})


def set_layout(cfg: SparseCacheConfig) -> data.StructLayout:
    """One set's metadata: its ways, and its way numbers most recently used first."""
    return data.StructLayout({"ways": data.ArrayLayout(way_layout(cfg), cfg.ways),
                              "order": data.ArrayLayout(cfg.way_bits, cfg.ways)})


class L1Cache(wiring.Component):
    """``sets`` x ``ways`` lines with LRU; see the module docstring for the timing.

    Members
    -------
    read : ``In``: ``en``, ``line`` (line address)
    lookup : ``Out``: ``hit``, ``hit_way``, ``hit_data``; ``victim_way``, ``victim_valid``,
        ``victim_dirty``, ``victim_line`` (its line address), ``victim_data``
    update : ``In``: ``op`` (:class:`L1Update`), ``way``, ``data``, ``dirty``
    ready : ``Out(1)``
        Low during the reset sweep.
    probe : ``In``: ``line``; ``ways`` (``Out``), only with ``probe=True``
        Bit ``w`` of ``ways`` is set when way ``w`` holds ``line`` (valid, same tag), read
        combinationally from the stored metadata; for formal checks, not for the controller.
    """

    def __init__(self, cfg: SparseCacheConfig, *, probe: bool = False):
        self._cfg = cfg
        self._probe = probe
        probe_members = {"probe": In(wiring.Signature({
            "line": Out(cfg.line_address_bits), "ways": In(cfg.ways)}))} if probe else {}
        super().__init__({
            "read": In(wiring.Signature({"en": Out(1), "line": Out(cfg.line_address_bits)})),
            "lookup": Out(wiring.Signature({
                "hit": Out(1), "hit_way": Out(cfg.way_bits), "hit_data": Out(cfg.line_bits),
                "victim_way": Out(cfg.way_bits), "victim_valid": Out(1),
                "victim_dirty": Out(1), "victim_line": Out(cfg.line_address_bits),
                "victim_data": Out(cfg.line_bits)})),
            "update": In(wiring.Signature({
                "op": Out(L1Update), "way": Out(cfg.way_bits), "data": Out(cfg.line_bits),
                "dirty": Out(1)})),
            "ready": Out(1),
            **probe_members,
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self._cfg
        ways = cfg.ways
        layout = set_layout(cfg)
        # A one-set cache still gets two rows: zero-width addresses upset Verilog tools.
        depth = max(2, cfg.sets)
        m.submodules.meta = meta = Memory(shape=layout, depth=depth,
                                          init=[{"order": list(range(ways))}] * depth)
        meta_read = meta.read_port(domain="sync")
        meta_write = meta.write_port()
        data_reads, data_writes = [], []
        for way in range(ways):
            memory = Memory(shape=cfg.line_bits, depth=depth, init=[])
            m.submodules[f"data{way}"] = memory
            data_reads.append(memory.read_port(domain="sync"))
            data_writes.append(memory.write_port())

        line = Signal(cfg.line_address_bits)
        with m.If(self.read.en):
            m.d.sync += line.eq(self.read.line)
        def set_of(value):
            return value[:cfg.set_bits] if cfg.set_bits else C(0, 1)

        set_index = set_of(line)
        tag = line[cfg.set_bits:]
        for port in (meta_read, *data_reads):
            m.d.comb += [port.en.eq(self.read.en), port.addr.eq(set_of(self.read.line))]

        current = meta_read.data
        hits = [current.ways[w].valid & (current.ways[w].tag == tag) for w in range(ways)]
        hit_way = Signal(cfg.way_bits)
        for w in reversed(range(ways)):
            with m.If(hits[w]):
                m.d.comb += hit_way.eq(w)
        invalid_way = Signal(cfg.way_bits)
        for w in reversed(range(ways)):
            with m.If(~current.ways[w].valid):
                m.d.comb += invalid_way.eq(w)
        any_invalid = Cat(~current.ways[w].valid for w in range(ways)).any()
        victim = Signal(cfg.way_bits)
        m.d.comb += victim.eq(Mux(any_invalid, invalid_way, current.order[ways - 1]))
        victim_meta = current.ways[victim]
        m.d.comb += [
            self.lookup.hit.eq(Cat(hits).any()),
            self.lookup.hit_way.eq(hit_way),
            self.lookup.hit_data.eq(_select([p.data for p in data_reads], hit_way)),
            self.lookup.victim_way.eq(victim),
            self.lookup.victim_valid.eq(victim_meta.valid),
            self.lookup.victim_dirty.eq(victim_meta.dirty),
            self.lookup.victim_line.eq(Cat(line[:cfg.set_bits], victim_meta.tag)),
            self.lookup.victim_data.eq(_select([p.data for p in data_reads], victim)),
        ]

        update = self.update
        moved = _move_to_front(m, current.order, update.way, ways)
        new = Signal(layout)
        m.d.comb += new.eq(current)
        with m.Switch(update.op):
            with m.Case(L1Update.TOUCH):
                m.d.comb += new.order.eq(moved)
            with m.Case(L1Update.WRITE):
                m.d.comb += new.order.eq(moved)
                for w in range(ways):
                    with m.If(update.way == w):
                        m.d.comb += [new.ways[w].valid.eq(1), new.ways[w].dirty.eq(update.dirty),
                                     new.ways[w].tag.eq(tag)]
            with m.Case(L1Update.INVALIDATE):
                for w in range(ways):
                    with m.If(update.way == w):
                        m.d.comb += new.ways[w].valid.eq(0)
        clearing = Signal(init=1)
        sweep = Signal(range(depth))
        m.d.comb += self.ready.eq(~clearing)
        with m.If(clearing):
            m.d.comb += [meta_write.en.eq(1), meta_write.addr.eq(sweep),
                         meta_write.data.eq(layout.const({"order": list(range(ways))}))]
            m.d.sync += sweep.eq(sweep + 1)
            with m.If(sweep == depth - 1):
                m.d.sync += clearing.eq(0)
        with m.Else():
            m.d.comb += [meta_write.en.eq(update.op != L1Update.NONE),
                         meta_write.addr.eq(set_index), meta_write.data.eq(new)]
        if self._probe:
            probe = meta.read_port(domain="comb")
            m.d.comb += probe.addr.eq(set_of(self.probe.line))
            probe_tag = self.probe.line[cfg.set_bits:]
            m.d.comb += self.probe.ways.eq(Cat(
                probe.data.ways[w].valid & (probe.data.ways[w].tag == probe_tag)
                for w in range(ways)))
        for w, port in enumerate(data_writes):
            m.d.comb += [port.en.eq((update.op == L1Update.WRITE) & (update.way == w)),
                         port.addr.eq(set_index), port.data.eq(update.data)]
        return m


def _select(values: list, index: Signal):
    """``values[index]`` as a multiplexer chain (index out of range gives the last)."""
    result = values[-1]
    for i in reversed(range(len(values) - 1)):
        result = Mux(index == i, values[i], result)
    return result


def _move_to_front(m: Module, order: data.View, way: Signal, ways: int) -> Signal:
    """The recency order with ``way`` moved to the front (positions before it shift back)."""
    moved = Signal(data.ArrayLayout(len(way), ways))
    m.d.comb += moved[0].eq(way)
    for position in range(1, ways):
        seen = Cat(order[i] == way for i in range(position)).any()
        m.d.comb += moved[position].eq(Mux(seen, order[position], order[position - 1]))
    return moved
