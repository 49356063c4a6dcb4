"""The address merger: grows a freshly inserted TCAM entry by merging it with partners.

Two entries are partners when they have the same care mask and their values differ in exactly
one cared bit; their merge (that bit X) covers exactly their union, so merging never covers a
line that was not zero. The merger works one step per cycle, in the background:

* ``start`` (in cycle f) hands it the slot, value and care of an entry just written; it is
  ``busy`` from cycle f + 1.
* Each busy cycle without ``stall`` it searches ``entries`` for the lowest-numbered partner of
  its current entry. With one, it writes the merged entry into the lower of the two slots,
  invalidates the higher one and asks for the lower slot to become most recent (``touch``),
  all at the end of the cycle, and continues with the merged entry next cycle. Without one,
  it is idle from the next cycle.
* ``stall`` (the controller is using the recency list this cycle) makes it do nothing.

Its owner must not write the TCAM while it is busy. The golden model is
``SparseCacheModel._advance`` with ``NullCache.merge_step``.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .config import TcamConfig
from .tcam import InvalidatePort, WritePort, entry_layout

__all__ = ["AddressMerger", "lowest_set"]


def lowest_set(m: Module, bits: list, width: int) -> tuple[Signal, Signal]:
    """``(any, index of the lowest set bit)`` of ``bits`` as a priority chain."""
    index = Signal(width)
    for i in reversed(range(len(bits))):
        with m.If(bits[i]):
            m.d.comb += index.eq(i)
    return Cat(bits).any(), index


class AddressMerger(wiring.Component):
    """Background merging of one TCAM entry at a time.

    Members
    -------
    entries : ``In(ArrayLayout(entry_layout, entries))``
        The TCAM's registered entries.
    start : ``In``: ``en``, ``index``, ``value``, ``care``
    stall : ``In(1)``
    busy : ``Out(1)``
    write : ``In(WritePort.Signature)`` (driven by the merger)
    invalidate : ``In(InvalidatePort.Signature)`` (driven by the merger)
    touch : ``Out``: ``en``, ``index``
    """

    def __init__(self, config: TcamConfig):
        self._config = config
        sizes = {"entries": config.entries, "key_width": config.key_width}
        index = config.index_width
        super().__init__({
            "entries": In(data.ArrayLayout(entry_layout(config.key_width), config.entries)),
            "start": In(wiring.Signature({"en": Out(1), "index": Out(index),
                                          "value": Out(config.key_width),
                                          "care": Out(config.key_width)})),
            "stall": In(1),
            "busy": Out(1),
            "write": In(WritePort.Signature(**sizes)),
            "invalidate": In(InvalidatePort.Signature(**sizes)),
            "touch": Out(wiring.Signature({"en": Out(1), "index": Out(index)})),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self._config
        slot = Signal(cfg.index_width)
        value = Signal(cfg.key_width)
        care = Signal(cfg.key_width)

        candidates = []
        for j in range(cfg.entries):
            other = self.entries[j]
            difference = (other.value ^ value) & care
            one_bit = (difference != 0) & ((difference & (difference - 1)) == 0)
            candidates.append(other.valid & (slot != j) & (other.care == care) & one_bit)
        found, partner = lowest_set(m, candidates, cfg.index_width)
        partner_value = Signal(cfg.key_width)
        for j in range(cfg.entries):
            with m.If(partner == j):
                m.d.comb += partner_value.eq(self.entries[j].value)
        bit = (partner_value ^ value) & care
        low = Mux(partner < slot, partner, slot)
        high = Mux(partner < slot, slot, partner)
        merged_value = value & ~bit
        merged_care = care & ~bit

        merging = self.busy & ~self.stall & found
        m.d.comb += [
            self.write.en.eq(merging),
            self.write.index.eq(low),
            self.write.value.eq(merged_value),
            self.write.care.eq(merged_care),
            self.invalidate.en.eq(merging),
            self.invalidate.index.eq(high),
            self.touch.en.eq(merging),
            self.touch.index.eq(low),
        ]
        with m.If(self.start.en):
            m.d.sync += [self.busy.eq(1), slot.eq(self.start.index),
                         value.eq(self.start.value & self.start.care),
                         care.eq(self.start.care)]
        with m.Elif(self.busy & ~self.stall):
            with m.If(found):
                m.d.sync += [slot.eq(low), value.eq(merged_value), care.eq(merged_care)]
            with m.Else():
                m.d.sync += self.busy.eq(0)
        return m
