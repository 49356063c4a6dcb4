"""Payload layouts of the array's streams and the Signatures that join neighbouring PEs."""

from __future__ import annotations



from amaranth.hdl import Shape, ShapeCastable, signed, unsigned
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import Out

from .config import Dataflow, SystolicConfig

__all__ = [
    "StepKind",
    "input_shape",
    "weight_shape",
    "acc_shape",
    "operand_layout",
    "result_layout",
    "HorizontalLink",
    "OutputStationaryColumnLink",
    "WeightStationaryColumnLink",
]


class StepKind(enum.Enum, shape=1):
    """What a weight-stationary operand step carries."""

    ACTIVATIONS = 0
    WEIGHTS = 1


def _operand(width: int, is_signed: bool) -> Shape:
    return signed(width) if is_signed else unsigned(width)


def input_shape(cfg: SystolicConfig) -> Shape:
    return _operand(cfg.input_width, cfg.signed)


def weight_shape(cfg: SystolicConfig) -> Shape:
    return _operand(cfg.weight_width, cfg.signed)


def acc_shape(cfg: SystolicConfig) -> Shape:
    return _operand(cfg.acc_width, cfg.signed)


def operand_layout(cfg: SystolicConfig) -> data.StructLayout:
    """One operand step.

    Output-stationary: ``a`` is one column of the A tile (element ``i`` for array row ``i``),
    ``b`` one row of the B tile; ``last`` marks the final reduction step of a tile.

    Weight-stationary: a ``WEIGHTS`` step carries one row of the weight tile in ``weights``
    (rows are numbered in the order they arrive, from 0, and the count restarts after the
    activations that use them); an ``ACTIVATIONS`` step carries one row of A in ``a`` and the
    partial sums to add to its results in ``psum``. ``last`` is passed through to the result.
    """
    fields: dict[str, ShapeCastable] = {
        "a": data.ArrayLayout(input_shape(cfg), cfg.rows),
    }
    if cfg.dataflow is Dataflow.OUTPUT_STATIONARY:
        fields["b"] = data.ArrayLayout(weight_shape(cfg), cfg.cols)
    else:
        fields["weights"] = data.ArrayLayout(weight_shape(cfg), cfg.cols)
        fields["psum"] = data.ArrayLayout(acc_shape(cfg), cfg.cols)
        fields["kind"] = StepKind
    fields["last"] = 1
    return data.StructLayout(fields)


def result_layout(cfg: SystolicConfig) -> data.StructLayout:
    """One row of C. ``last`` marks the end of an output-stationary tile (its row 0, which
    leaves the array after the others) or echoes the weight-stationary step's ``last``."""
    return data.StructLayout({"c": data.ArrayLayout(acc_shape(cfg), cfg.cols), "last": 1})


class HorizontalLink(wiring.Signature):
    """West-to-east: an A operand and the step control that travels with it.

    ``valid`` is false for bubbles; a PE only accumulates valid steps, so the array never has
    to stall when the input stream pauses. ``commit`` (weight-stationary only) tells a PE to
    start using the weights it has just been loaded with.
    """

    def __init__(self, cfg: SystolicConfig):
        members = {
            "a": Out(input_shape(cfg)),
            "valid": Out(1),
            "last": Out(1),
        }
        if cfg.dataflow is Dataflow.WEIGHT_STATIONARY:
            members["commit"] = Out(1)
        super().__init__(members)


class OutputStationaryColumnLink(wiring.Signature):
    """North-to-south in an output-stationary column: the B operand, and the drain chain that
    carries finished sums down to the array's south edge (``take`` says shift this cycle)."""

    def __init__(self, cfg: SystolicConfig):
        super().__init__({
            "b": Out(weight_shape(cfg)),
            "drain": Out(acc_shape(cfg)),
            "take": Out(1),
        })


class WeightStationaryColumnLink(wiring.Signature):
    """North-to-south in a weight-stationary column: partial sums, and the weight bus.

    A weight travels down with the number of the row it is meant for; each PE latches the
    weight whose ``weight_row`` names its own row into its shadow register.
    """

    def __init__(self, cfg: SystolicConfig):
        super().__init__({
            "psum": Out(acc_shape(cfg)),
            "weight": Out(weight_shape(cfg)),
            "weight_valid": Out(1),
            "weight_row": Out(range(max(cfg.rows, 2))),
        })
