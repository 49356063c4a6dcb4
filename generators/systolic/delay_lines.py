"""Per-lane register delays: the skew that staggers operands into the array and the deskew that
realigns a row of results leaving it."""

from __future__ import annotations

from collections.abc import Sequence

from amaranth.hdl import Module, ShapeCastable, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["DelayLines"]


class DelayLines(wiring.Component):
    """Lane ``k`` of ``o`` is lane ``k`` of ``i`` delayed by ``delays[k]`` clock cycles.

    A zero delay is a wire. The registers hold whatever passes, valid or not: validity is a
    field of the lane's shape where the caller needs it.

    Members
    -------
    i : In(ArrayLayout(shape, len(delays)))
    o : Out(ArrayLayout(shape, len(delays)))
    """

    def __init__(self, shape: ShapeCastable, delays: Sequence[int]):
        if any(d < 0 for d in delays):
            raise ValueError(f"delays must be >= 0, got {list(delays)}")
        self._shape = shape
        self._delays = tuple(delays)
        layout = data.ArrayLayout(shape, len(self._delays))
        super().__init__({"i": In(layout), "o": Out(layout)})

    @property
    def delays(self) -> tuple[int, ...]:
        return self._delays

    def elaborate(self, platform):
        m = Module()
        for lane, delay in enumerate(self._delays):
            stage = self.i[lane]
            for n in range(delay):
                reg = Signal(self._shape, name=f"lane{lane}_stage{n}")
                m.d.sync += reg.eq(stage)
                stage = reg
            m.d.comb += self.o[lane].eq(stage)
        return m
