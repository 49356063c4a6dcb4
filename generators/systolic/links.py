"""Payload layouts of the array's streams and the Signatures that join neighbouring PEs."""

from __future__ import annotations

from amaranth.hdl import Shape, ShapeCastable, signed, unsigned
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import Out

from .config import Dataflow, Rounding, SystolicConfig

__all__ = [
    "ColumnBus",
    "HorizontalLink",
    "OutputStationaryColumnLink",
    "StepKind",
    "WeightStationaryColumnLink",
    "acc_shape",
    "column_operand",
    "input_lane",
    "input_shape",
    "operand_layout",
    "result_layout",
    "shift_shape",
    "weight_shape",
    "weight_slot",
]


class StepKind(enum.Enum, shape=1):
    """What a weight-stationary operand step carries."""

    ACTIVATIONS = 0
    WEIGHTS = 1


def _operand(width: int, is_signed: bool) -> Shape:
    return signed(width) if is_signed else unsigned(width)


def input_shape(cfg: SystolicConfig) -> Shape:
    """An activation, and a requantized result."""
    return _operand(cfg.input_width, cfg.signed)


def weight_shape(cfg: SystolicConfig) -> Shape:
    return _operand(cfg.weight_width, cfg.signed)


def _fuse_lane(cfg: SystolicConfig) -> Shape:
    # FuSe mode sends taps on the A lanes and inputs on the B lanes: both take the wider.
    return _operand(max(cfg.input_width, cfg.weight_width), cfg.signed)


def column_operand(cfg: SystolicConfig) -> Shape:
    """What enters an output-stationary column from the north: a B element, or in FuSe mode
    (for columns below ``rows``) the input broadcast to the row of the same index."""
    return _fuse_lane(cfg) if cfg.fuse else weight_shape(cfg)


def shift_shape(cfg: SystolicConfig) -> Shape:
    return unsigned(cfg.shift_width)


def acc_shape(cfg: SystolicConfig) -> Shape:
    return _operand(cfg.acc_width, cfg.signed)


def input_lane(cfg: SystolicConfig) -> ShapeCastable:
    """What one array row takes per step: one activation, a FuSe tap (on a FuSe-capable
    array, whose lanes fit either), or a group of M activations for N:M PEs."""
    if cfg.fuse:
        return _fuse_lane(cfg)
    if cfg.sparsity is None:
        return input_shape(cfg)
    return data.ArrayLayout(input_shape(cfg), cfg.group)


def weight_slot(cfg: SystolicConfig) -> ShapeCastable:
    """What one PE stores: a weight, or N (value, index) pairs for N:M PEs.

    An index is the kept weight's position within its group of M activations; pairs are kept
    in ascending index order, and a pair whose value is zero contributes nothing.
    """
    if cfg.sparsity is None:
        return weight_shape(cfg)
    kept, group = cfg.sparsity
    index = unsigned(group.bit_length() - 1)
    pair = data.StructLayout({"value": weight_shape(cfg), "index": index})
    return data.ArrayLayout(pair, kept)


def operand_layout(cfg: SystolicConfig) -> data.StructLayout:
    """One operand step.

    Output-stationary: ``a`` is one column of the A tile (element ``i`` for array row ``i``),
    ``b`` one row of the B tile; ``last`` marks the final reduction step of a tile.

    Weight-stationary: a ``WEIGHTS`` step carries one row of the weight tile in ``weights``
    (rows are numbered in the order they arrive, from 0; rows beyond the array's are dropped,
    and the count restarts with the next activation, which commits the new weights); an
    ``ACTIVATIONS`` step carries one row of A in ``a`` and the partial sums to add to its
    results in ``psum``. ``last`` is passed through to the result. With N:M PEs, ``a`` holds
    a group of M activations per array row and each weight is N (value, index) pairs (see
    :func:`weight_slot`), so array row ``r`` covers reduction indices ``r*M .. r*M + M - 1``.

    FuSe mode (``fuse`` set, FuSe-capable arrays only): ``a[i]`` is row ``i``'s tap (zero when
    the step carries none), ``b[i]`` the input broadcast to row ``i`` for ``i < rows``; ``last``
    marks a chunk's final tap (see ``accelgen.sim.fuse_mapping``).

    With requantization, a result-producing step carries ``shift``: one amount per result row
    of an output-stationary tile (element ``i`` for array row ``i``), or one for the
    weight-stationary step's result row.
    """
    fields: dict[str, ShapeCastable] = {
        "a": data.ArrayLayout(input_lane(cfg), cfg.rows),
    }
    os_flow = cfg.dataflow is Dataflow.OUTPUT_STATIONARY
    if os_flow:
        fields["b"] = data.ArrayLayout(column_operand(cfg), cfg.cols)
    else:
        fields["weights"] = data.ArrayLayout(weight_slot(cfg), cfg.cols)
        fields["psum"] = data.ArrayLayout(acc_shape(cfg), cfg.cols)
        fields["kind"] = StepKind
    if cfg.fuse:
        fields["fuse"] = 1
    if cfg.requantize is not Rounding.NONE:
        shift = shift_shape(cfg)
        fields["shift"] = data.ArrayLayout(shift, cfg.rows) if os_flow else shift
    fields["last"] = 1
    return data.StructLayout(fields)


def result_layout(cfg: SystolicConfig) -> data.StructLayout:
    """One row of C. ``last`` marks the end of an output-stationary tile (its row 0, which
    leaves the array after the others) or echoes the weight-stationary step's ``last``. With
    requantization, ``q`` is the row requantized to ``input_width`` bits."""
    fields: dict[str, ShapeCastable] = {"c": data.ArrayLayout(acc_shape(cfg), cfg.cols)}
    if cfg.requantize is not Rounding.NONE:
        fields["q"] = data.ArrayLayout(input_shape(cfg), cfg.cols)
    fields["last"] = 1
    return data.StructLayout(fields)


class HorizontalLink(wiring.Signature):
    """West-to-east: an A operand and the step control that travels with it.

    ``valid`` is false for bubbles; a PE only accumulates valid steps, so the array never has
    to stall when the input stream pauses. ``commit`` (weight-stationary only) tells a PE to
    start using the weights it has just been loaded with.
    """

    def __init__(self, cfg: SystolicConfig):
        members = {
            "a": Out(input_lane(cfg)),
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
            "b": Out(column_operand(cfg)),
            "drain": Out(acc_shape(cfg)),
            "take": Out(1),
        })


class WeightStationaryColumnLink(wiring.Signature):
    """North-to-south in a weight-stationary column: partial sums, and the weight bus.

    A weight travels down with ``weight_row``, the number of rows it still has to pass; the
    PE that receives it at zero keeps it.
    """

    def __init__(self, cfg: SystolicConfig):
        super().__init__({
            "psum": Out(acc_shape(cfg)),
            "weight": Out(weight_slot(cfg)),
            "weight_valid": Out(1),
            "weight_row": Out(range(cfg.rows + 1)),
        })


class ColumnBus(wiring.Signature):
    """A column link of every PE in a row, each member widened to an array over the columns.

    Rows of the array are joined by one bus each way instead of ``cols`` separate links, which
    keeps the generated top level small for large arrays.
    """

    def __init__(self, link: wiring.Signature, cols: int):
        self._link = link
        super().__init__({
            name: Out(data.ArrayLayout(member.shape, cols))
            for name, member in link.members.items()
        })

    @property
    def link(self) -> wiring.Signature:
        return self._link
