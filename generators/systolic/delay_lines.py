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

    A zero delay is a wire. Stage ``s`` is one register holding every lane still delayed past
    ``s`` cycles, so a triangle of delays costs one register per stage rather than per lane.
    ``reset_less`` drops the reset for data that is qualified by a valid bit kept elsewhere;
    valid bits themselves must keep it, so no bubble turns into a step after reset.
    ``enable`` adds an input that holds every stage while low (delays then count enabled
    cycles).

    Members
    -------
    i : In(ArrayLayout(shape, len(delays)))
    o : Out(ArrayLayout(shape, len(delays)))
    en : In(1), with ``enable`` only
    """

    def __init__(self, shape: ShapeCastable, delays: Sequence[int], *, reset_less: bool = False,
                 enable: bool = False):
        if any(d < 0 for d in delays):
            raise ValueError(f"delays must be >= 0, got {list(delays)}")
        self._shape = shape
        self._delays = tuple(delays)
        self._reset_less = reset_less
        layout = data.ArrayLayout(shape, len(self._delays))
        members = {"i": In(layout), "o": Out(layout)}
        if enable:
            members["en"] = In(1)
        super().__init__(members)

    @property
    def delays(self) -> tuple[int, ...]:
        return self._delays

    def elaborate(self, platform):
        m = Module()
        position = {k: k for k in range(len(self._delays))}  # lane -> index in `previous`
        previous = self.i
        for stage in range(max(self._delays, default=0)):
            lanes = [k for k, d in enumerate(self._delays) if d > stage]
            reg = Signal(data.ArrayLayout(self._shape, len(lanes)), name=f"stage{stage}",
                         reset_less=self._reset_less)
            for index, lane in enumerate(lanes):
                shift = reg[index].eq(previous[position[lane]])
                if hasattr(self, "en"):
                    with m.If(self.en):
                        m.d.sync += shift
                else:
                    m.d.sync += shift
                if self._delays[lane] == stage + 1:
                    m.d.comb += self.o[lane].eq(reg[index])
            position = {lane: index for index, lane in enumerate(lanes)}
            previous = reg
        for lane, delay in enumerate(self._delays):
            if delay == 0:
                m.d.comb += self.o[lane].eq(self.i[lane])
        return m
