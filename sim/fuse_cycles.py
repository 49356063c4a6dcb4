"""Cycle model of depthwise layers: FuSe mode, and the im2col baseline on a plain array.

A FuSe layer is a set of independent 1-D convolutions of the same shape: a 1xK layer on a
(C, H, W) input convolves every used input row of every channel along the width, a Kx1 layer
every used column along the height. The driver runs them ``rows`` at a time (one per array
row; a *pass*), each pass the step sequence of :func:`.fuse_mapping.conv1d_stream`. Every
chunk's last step produces ``rows`` result rows like an output-stationary tile, so the GEMM
schedule (:func:`.systolic_cycles.schedule`) times FuSe steps too.

The baseline is the mapping FuSeConv compares against: a KxK depthwise layer runs as one
im2col GEMM per channel (``M = out_h * out_w``, ``K = k*k``, ``N = 1``) on the plain array,
channel after channel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .depthwise import conv_output_size
from .fuse_mapping import Conv1dStream, conv1d_stream
from .systolic_cycles import ArrayTiming, Schedule, Step, os_gemm_steps, schedule

__all__ = [
    "FuseLayer",
    "depthwise_baseline_steps",
    "fuse_layer",
    "fuse_layer_cycles",
    "fuse_layer_steps",
    "fuse_result_order",
    "total_cycles",
]


@dataclass(frozen=True)
class FuseLayer:
    """A FuSe layer as the array sees it: ``convs`` 1-D convolutions of one stream shape."""

    convs: int
    stream: Conv1dStream


def fuse_layer(channels: int, height: int, width: int, kernel: int, stride: int,
               padding: str, axis: str, cols: int) -> FuseLayer:
    """The 1-D convolutions of a 1xK (``axis="row"``) or Kx1 (``axis="col"``) depthwise layer.

    Stride applies to both axes: a 1xK layer only convolves input rows ``0, s, 2s, ...`` (its
    kernel height is 1), so it runs ``channels * out_h`` convolutions along the width.
    """
    if axis not in ("row", "col"):
        raise ValueError(f"axis: must be row or col, got {axis!r}")
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels must be an integer >= 1, got {channels!r}")
    along, across = (width, height) if axis == "row" else (height, width)
    stream = conv1d_stream(along, kernel, stride, cols, padding=padding)
    return FuseLayer(channels * conv_output_size(across, 1, stride, padding), stream)


def fuse_layer_steps(rows: int, layer: FuseLayer) -> list[Step]:
    """One step per operand transfer, all in FuSe mode, pass after pass."""
    pass_steps = [Step("last" if last else "reduce", fuse=True) for last in layer.stream.last]
    return pass_steps * math.ceil(layer.convs / rows)


def fuse_layer_cycles(timing: ArrayTiming, layer: FuseLayer) -> Schedule:
    if timing.dataflow != "os":
        raise ValueError("FuSe mode runs on output-stationary arrays only")
    return schedule(timing, fuse_layer_steps(timing.rows, layer))


def fuse_result_order(rows: int, layer: FuseLayer) -> list[tuple[int, int]]:
    """For each delivered result row: (convolution index, chunk index), in delivery order.

    Like an output-stationary tile, a chunk's rows leave bottom row first; convolution
    indices at or beyond ``layer.convs`` are padding rows of the last pass.
    """
    order = []
    for first in range(0, layer.convs, rows):
        for chunk in range(len(layer.stream.chunks)):
            order.extend((first + rows - 1 - s, chunk) for s in range(rows))
    return order


def depthwise_baseline_steps(rows: int, cols: int, channels: int, out_h: int, out_w: int,
                             kernel: int) -> list[Step]:
    """A KxK depthwise layer as ``channels`` im2col GEMMs (M = out_h*out_w, K = k*k, N = 1)."""
    per_channel = os_gemm_steps(rows, cols, out_h * out_w, kernel * kernel, 1)
    return per_channel * channels


def total_cycles(schedules: Sequence[Schedule]) -> int:
    """Layers run one after the other: each starts once the previous one has delivered."""
    return sum(s.cycles for s in schedules)
