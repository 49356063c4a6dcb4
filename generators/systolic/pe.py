"""Processing elements: one multiply-accumulate per valid step, linked only to neighbours."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .arithmetic import accumulate
from .config import SystolicConfig
from .links import (
    HorizontalLink,
    OutputStationaryColumnLink,
    WeightStationaryColumnLink,
    acc_shape,
    column_operand,
    weight_slot,
)

__all__ = ["OutputStationaryPE", "SparseWeightStationaryPE", "WeightStationaryPE"]


def delayed(m: Module, values: list[Value], stages: int, name: str, *,
            reset_less: bool = False) -> list[Value]:
    """``values`` as ``stages`` registers in a row deliver them (``stages`` may be 0)."""
    for stage in range(stages):
        held = []
        for index, value in enumerate(values):
            register = Signal(value.shape(), name=f"{name}_{stage}_{index}",  # keeps layouts
                              reset_less=reset_less)
            m.d.sync += register.eq(value)
            held.append(register)
        values = held
    return values


def multiplier_pipeline(m: Module, cfg: SystolicConfig, multiply, operands: list[Value],
                        control: list[Value]) -> tuple[list[Value], list[Value]]:
    """Products of ``multiply(*operands)`` and the step's ``control`` bits, as the adder sees
    them after ``cfg.multiplier_stages`` register stages: operands first (stage 2), then
    products (stages 1 and 2)."""
    operand_stage = 1 if cfg.multiplier_stages == 2 else 0
    operands = delayed(m, operands, operand_stage, "operand", reset_less=True)
    products = delayed(m, multiply(*operands), min(cfg.multiplier_stages, 1), "product",
                       reset_less=True)
    return products, delayed(m, control, cfg.multiplier_stages, "control")


class OutputStationaryPE(wiring.Component):
    """Keeps one element of C and accumulates it over the reduction steps that pass through.

    Every link output is registered: a step entering on ``west``/``north`` leaves on
    ``east``/``south`` one cycle later. On the tile's ``last`` step the finished sum moves into
    the drain register and the accumulator restarts at zero, so the next tile can stream in
    while this one drains. Multiplier stages delay the sum and the drain capture by one cycle
    each; ``drain_start`` must then be as late.

    Members
    -------
    west : In(HorizontalLink), east : Out(HorizontalLink)
        A operand and step control.
    north : In(OutputStationaryColumnLink), south : Out(OutputStationaryColumnLink)
        B operand and the drain chain.
    drain_start : In(1)
        Column-wide: the column's bottom PE sees its last step this cycle. From the next cycle
        each drain register shifts south once per cycle until the column is empty.
    fuse, advance : In(1), x : In(column_operand(cfg)), flow : In(1)
        FuSe-capable arrays only. Row-wide: FuSe mode is on; the row moves this cycle; the
        input broadcast to the row. Array-wide: the drain chain moves this cycle.
    """

    def __init__(self, cfg: SystolicConfig):
        self._cfg = cfg
        super().__init__(self.signature_for(cfg))

    @staticmethod
    def signature_for(cfg: SystolicConfig) -> wiring.Signature:
        members = {
            "west": In(HorizontalLink(cfg)),
            "east": Out(HorizontalLink(cfg)),
            "north": In(OutputStationaryColumnLink(cfg)),
            "south": Out(OutputStationaryColumnLink(cfg)),
            "drain_start": In(1),
        }
        if cfg.fuse:
            members.update({"fuse": In(1), "advance": In(1), "x": In(column_operand(cfg)),
                            "flow": In(1)})
        return wiring.Signature(members)

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        acc = Signal(acc_shape(cfg))
        drain = Signal(acc_shape(cfg))
        take = Signal()

        if cfg.fuse:
            # FuSe mode: the tap on `west` meets the input broadcast to the row this cycle.
            # The row only moves on cycles that bring an input (`advance`), so a pause in the
            # operand stream freezes taps, inputs and sums together.
            right = Mux(self.fuse, self.x, self.north.b)
            step = self.west.valid & self.advance
        else:
            right = self.north.b
            step = self.west.valid
        products, (step, last) = multiplier_pipeline(
            m, cfg, lambda a, b: [a * b], [self.west.a, right], [step, self.west.last])
        total = accumulate(cfg, acc, products[0])
        with m.If(step):
            m.d.sync += acc.eq(Mux(last, 0, total))

        # Row i shifts for i+1 cycles after drain_start: enough to pass every sum above it
        # south, and no longer than the earliest next tile may capture (the cycle model's
        # `rows` spacing between last steps guarantees the capture comes after).
        shift = take
        if cfg.fuse:
            # `flow` low holds the drain chain (see SystolicArray: a FuSe wavefront frozen
            # in the bottom row must not fall out of step with the columns it has passed).
            with m.If(self.flow):
                m.d.sync += take.eq(self.drain_start | self.north.take)
            shift = take & self.flow
        else:
            m.d.sync += take.eq(self.drain_start | self.north.take)
        with m.If(step & last):
            m.d.sync += drain.eq(total)
        with m.Elif(shift):
            m.d.sync += drain.eq(self.north.drain)

        moves = [
            self.east.a.eq(self.west.a),
            self.east.valid.eq(self.west.valid),
            self.east.last.eq(self.west.last),
        ]
        if cfg.fuse:
            with m.If(self.advance):
                m.d.sync += moves
        else:
            m.d.sync += moves
        m.d.sync += self.south.b.eq(self.north.b)
        m.d.comb += [
            self.south.drain.eq(drain),
            self.south.take.eq(take),
        ]
        return m


class WeightStationaryPE(wiring.Component):
    """Holds one weight and adds its product with each passing activation to the partial sum
    flowing south.

    Weights are double-buffered: the weight bus fills the shadow register while the active
    weight is in use, and the first activation after a load carries ``commit``, which makes
    this PE switch to the shadow weight exactly when that activation reaches it. Partial sums
    leave on ``south`` ``cfg.pe_latency`` cycles after their operands arrive (one more per
    multiplier stage), while activations and control leave on ``east`` after one.

    Every PE is the same module, whatever its row: the weight's row number is relative.
    """

    def __init__(self, cfg: SystolicConfig):
        self._cfg = cfg
        super().__init__(self.signature_for(cfg))

    @staticmethod
    def signature_for(cfg: SystolicConfig) -> wiring.Signature:
        return wiring.Signature({
            "west": In(HorizontalLink(cfg)),
            "east": Out(HorizontalLink(cfg)),
            "north": In(WeightStationaryColumnLink(cfg)),
            "south": Out(WeightStationaryColumnLink(cfg)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        shadow = Signal(weight_slot(cfg))
        active = Signal(weight_slot(cfg))

        weight = Signal(weight_slot(cfg))
        m.d.comb += weight.eq(Mux(self.west.commit, shadow, active))
        with m.If(self.west.valid & self.west.commit):
            m.d.sync += active.eq(shadow)
        with m.If(self.north.weight_valid & (self.north.weight_row == 0)):
            m.d.sync += shadow.eq(self.north.weight)

        products, _ = multiplier_pipeline(m, cfg, self.products, [self.west.a, weight], [])
        m.d.sync += [
            self.south.psum.eq(self.add_products(self.north.psum, products)),
            self.south.weight.eq(self.north.weight),
            self.south.weight_valid.eq(self.north.weight_valid),
            # Wraps below zero; the link holds 0..rows, so a weight cannot reach zero twice
            # within one column, and a weight numbered `rows` (dropped) never does.
            self.south.weight_row.eq(self.north.weight_row - 1),
            self.east.a.eq(self.west.a),
            self.east.valid.eq(self.west.valid),
            self.east.last.eq(self.west.last),
            self.east.commit.eq(self.west.commit),
        ]
        return m

    def products(self, activation, weight) -> list[Value]:
        return [activation * weight]

    def add_products(self, psum: Value, products: list[Value]) -> Value:
        for product in products:
            psum = accumulate(self._cfg, psum, product)
        return psum


class SparseWeightStationaryPE(WeightStationaryPE):
    """A weight-stationary PE for N:M structured sparsity: N multipliers, M activations a step.

    Each kept weight picks its activation out of the group by index. Products are added to
    the partial sum one at a time in ascending index order, with the accumulator's overflow
    rule after each addition, which is exactly what the dense array does over the same
    reduction indices: the pruned weights' zero products cannot change a wrapped or clamped
    sum.
    """

    def products(self, activation, weight) -> list[Value]:
        return [pair.value * activation[pair.index] for pair in weight]
