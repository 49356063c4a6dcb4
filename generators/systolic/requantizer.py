"""Requantization of a result row: shift right with rounding, then saturate to the input width.

The arithmetic is ``accelgen.sim.requantize`` bit for bit, so one layer's results can feed the
next layer as activations without leaving the array's integer semantics.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .config import Rounding, SystolicConfig
from .links import acc_shape, input_shape, shift_shape

__all__ = ["RowRequantizer"]


class RowRequantizer(wiring.Component):
    """Combinational: ``q[j] = saturate(round(c[j] / 2**shift))`` for every column ``j``.

    ``half_up`` adds ``2**(shift-1)`` and shifts arithmetically; ``half_even`` shifts, then
    rounds up when the dropped bits exceed one half, or equal it and the kept value is odd.

    Members
    -------
    c : In(ArrayLayout(acc_shape, cols))
    shift : In(shift_shape)
    q : Out(ArrayLayout(input_shape, cols))
    """

    def __init__(self, cfg: SystolicConfig):
        if cfg.requantize is Rounding.NONE:
            raise ValueError("RowRequantizer needs a configuration with requantize set")
        self._cfg = cfg
        super().__init__({
            "c": In(data.ArrayLayout(acc_shape(cfg), cfg.cols)),
            "shift": In(shift_shape(cfg)),
            "q": Out(data.ArrayLayout(input_shape(cfg), cfg.cols)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        acc = acc_shape(cfg)
        out = input_shape(cfg)
        # Any shift beyond acc_width + 1 rounds every value to zero, as acc_width + 1 does, so
        # the amount is clamped there and every encodable shift matches the golden model.
        limit = acc.width + 1
        wide = signed(acc.width + 2) if acc.signed else unsigned(acc.width + 2)
        shift = Signal(range(limit + 1))
        m.d.comb += shift.eq(Mux(self.shift > limit, limit, self.shift))
        one = Const(1, unsigned(acc.width + 2))
        half = Signal(unsigned(acc.width + 1))  # 2**(shift-1), 0 for shift 0
        mask = Signal(unsigned(acc.width + 2))  # the bits the shift drops
        m.d.comb += [half.eq((one << shift) >> 1), mask.eq((one << shift) - 1)]
        lo = -(1 << (out.width - 1)) if out.signed else 0
        hi = (1 << (out.width - 1)) - 1 if out.signed else (1 << out.width) - 1
        for j in range(cfg.cols):
            value = Signal(wide, name=f"value_{j}")
            rounded = Signal(wide, name=f"rounded_{j}")
            m.d.comb += value.eq(self.c[j])
            if cfg.requantize is Rounding.HALF_UP:
                m.d.comb += rounded.eq((value + half) >> shift)
            else:
                kept = Signal(wide, name=f"kept_{j}")
                dropped = Signal(unsigned(acc.width + 2), name=f"dropped_{j}")
                m.d.comb += [kept.eq(value >> shift), dropped.eq(value.as_unsigned() & mask)]
                up = (dropped > half) | ((dropped == half) & (shift != 0) & kept[0])
                m.d.comb += rounded.eq(kept + up)
            clamped = Mux(rounded < lo, lo, rounded) if out.signed else rounded
            m.d.comb += self.q[j].eq(Mux(rounded > hi, hi, clamped))
        return m
