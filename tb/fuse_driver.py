"""Runs depthwise layers and whole FuSe blocks on a FuSe-capable array under cocotb.

A 1xK layer on a (C, H, W) tensor is ``C * out_h`` independent 1-D convolutions along the
width (one per channel and used input row); a Kx1 layer is the same on the transposed tensor.
They are folded over the array ``rows`` at a time (a *pass*), each convolution streaming as
:func:`accelgen.sim.fuse_mapping.conv1d_stream` lays out, with output width folded over the
columns in chunks. A FuSe block then concatenates the requantized branches and runs the
pointwise layer as a GEMM, transposed (``C^T = W^T @ X^T``) so that each result row is an
output channel and takes that channel's requantization shift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from accelgen.sim.depthwise import conv_output_size, padding_amounts
from accelgen.sim.fuse_blocks import FuseBlockSpec, FuseBlockWeights, pointwise_operands
from accelgen.sim.fuse_cycles import FuseLayer, fuse_layer_cycles, fuse_result_order
from accelgen.sim.fuse_mapping import conv1d_stream

from .systolic_driver import PlannedStep, SystolicHarness

__all__ = ["FuseBlockRun", "LayerRun", "run_conv1d", "run_depthwise", "run_fuse_block"]


@dataclass
class LayerRun:
    """Accumulator results, requantized results (or ``None``) and transfer edges."""

    acc: np.ndarray
    q: np.ndarray | None
    accepted: list[int]
    delivered: list[int]

    @property
    def cycles(self) -> int:
        return self.delivered[-1] - self.accepted[0] + 1


@dataclass
class FuseBlockRun:
    row: LayerRun
    col: LayerRun
    pointwise: LayerRun
    pointwise_input: np.ndarray


def _check_fuse(harness: SystolicHarness, kernel: int) -> None:
    if not harness.fuse:
        raise ValueError("this array was generated without FuSe mode (fuse=false)")
    limit = harness.params["max_kernel"]
    if kernel > limit:
        raise ValueError(f"kernel {kernel} is larger than the array's max_kernel {limit}")


def conv1d_steps(harness: SystolicHarness, signals: np.ndarray, taps: np.ndarray,
                 stride: int, padding: str, shifts: np.ndarray) -> tuple[list[PlannedStep],
                                                                         FuseLayer]:
    """The FuSe-mode steps of ``len(signals)`` 1-D convolutions, and the layer they form."""
    convs, length = signals.shape
    kernel = taps.shape[1]
    rows, cols = harness.rows, harness.cols
    stream = conv1d_stream(length, kernel, stride, cols, padding=padding)
    before = padding_amounts(length, kernel, stride, padding)[0]
    padded = np.zeros((convs, stream.length), dtype=object)
    padded[:, before:before + length] = signals
    steps: list[PlannedStep] = []
    for first in range(0, convs, rows):
        members = range(first, min(first + rows, convs))
        row_shifts = [int(shifts[c]) for c in members] + [0] * (rows - len(members))
        for tap, source, last in zip(stream.taps, stream.inputs, stream.last, strict=True):
            a = [int(taps[c, tap]) if tap is not None else 0 for c in members]
            b = [int(padded[c, source]) if source is not None else 0 for c in members]
            payload: dict[str, Any] = {"a": a + [0] * (rows - len(a)),
                                       "b": b + [0] * (cols - len(b)),
                                       "fuse": 1, "last": int(last)}
            if harness.requantizes and last:
                payload["shift"] = row_shifts
            steps.append(PlannedStep(lambda _d, p=payload: p))
    return steps, FuseLayer(convs, stream)


async def run_conv1d(harness: SystolicHarness, signals: np.ndarray, taps: np.ndarray, *,
                     stride: int = 1, padding: str = "valid", shifts: np.ndarray | None = None,
                     **stream_options: Any) -> LayerRun:
    """Convolve each row of ``signals`` (convs, length) with its taps (convs, K)."""
    signals = np.asarray(signals, dtype=object)
    taps = np.asarray(taps, dtype=object)
    if signals.ndim != 2 or taps.ndim != 2 or taps.shape[0] != signals.shape[0]:
        raise ValueError(f"signals (convs, length) and taps (convs, K) disagree: "
                         f"{signals.shape} and {taps.shape}")
    _check_fuse(harness, taps.shape[1])
    shifts = harness.check_shifts(shifts, signals.shape[0])
    steps, layer = conv1d_steps(harness, signals, taps, stride, padding, shifts)
    order = fuse_result_order(harness.rows, layer)
    stream_options.setdefault(
        "timeout", 20 * fuse_layer_cycles(harness.timing, layer).cycles + 1000)
    rows_out, accepted, delivered = await harness.stream(steps, len(order), **stream_options)
    out_length = layer.stream.out_length
    acc = np.zeros((layer.convs, out_length), dtype=object)
    q = np.zeros_like(acc) if harness.requantizes else None
    for (conv, chunk), payload in zip(order, rows_out, strict=True):
        if conv >= layer.convs:
            continue
        part = layer.stream.chunks[chunk]
        window = slice(part.first, part.first + part.count)
        acc[conv, window] = payload["c"][:part.count]
        if q is not None:
            q[conv, window] = payload["q"][:part.count]
    return LayerRun(acc, q, accepted, delivered)


def depthwise_signals(x: np.ndarray, stride: int, padding: str) -> tuple[np.ndarray, int]:
    """The 1xK layer's convolutions of ``x`` (C, H, W): every used input row of every channel
    (zeros for rows that fall in the padding), and the output height."""
    channels, height, width = x.shape
    out_h = conv_output_size(height, 1, stride, padding)
    top = padding_amounts(height, 1, stride, padding)[0]
    signals = np.zeros((channels, out_h, width), dtype=object)
    for y in range(out_h):
        source = y * stride - top
        if 0 <= source < height:
            signals[:, y] = x[:, source]
    return signals.reshape(channels * out_h, width), out_h


async def run_depthwise(harness: SystolicHarness, x: np.ndarray, taps: np.ndarray, *,
                        axis: str, stride: int, padding: str,
                        shifts: np.ndarray | None = None, **stream_options: Any) -> LayerRun:
    """A 1xK (``axis="row"``) or Kx1 (``axis="col"``) depthwise layer on ``x`` (C, H, W);
    ``taps`` is (C, K) and ``shifts`` one amount per channel. Results are (C, out_h, out_w)."""
    if axis not in ("row", "col"):
        raise ValueError(f"axis: must be row or col, got {axis!r}")
    x = np.asarray(x, dtype=object)
    if axis == "col":
        x = x.transpose(0, 2, 1)
    channels = x.shape[0]
    signals, out_rows = depthwise_signals(x, stride, padding)
    conv_shifts = None
    if shifts is not None:
        conv_shifts = np.repeat(np.asarray(shifts, dtype=object).reshape(-1), out_rows)
    run = await run_conv1d(harness, signals, np.repeat(taps, out_rows, axis=0), stride=stride,
                           padding=padding, shifts=conv_shifts, **stream_options)

    def shaped(values: np.ndarray | None) -> np.ndarray | None:
        if values is None:
            return None
        values = values.reshape(channels, out_rows, -1)
        return values.transpose(0, 2, 1) if axis == "col" else values

    return LayerRun(shaped(run.acc), shaped(run.q), run.accepted, run.delivered)


def _shifts(shift: int | tuple[int, ...], count: int) -> np.ndarray:
    values = shift if isinstance(shift, tuple) else (shift,) * count
    return np.array(values, dtype=object)


async def run_fuse_block(harness: SystolicHarness, x: np.ndarray, weights: FuseBlockWeights,
                         spec: FuseBlockSpec, **stream_options: Any) -> FuseBlockRun:
    """1xK, Kx1, requantize, concatenate, pointwise (and its requantization) on the array."""
    if not harness.requantizes:
        raise ValueError("a FuSe block needs an array that requantizes (requantize=...)")
    if harness.params["requantize"] != spec.rounding:
        raise ValueError(f"the array rounds {harness.params['requantize']}, the block "
                         f"{spec.rounding}")
    x = np.asarray(x, dtype=object)
    split = spec.row_channels
    row_in = x if spec.variant == "full" else x[:split]
    col_in = x if spec.variant == "full" else x[split:]
    dw_shifts = _shifts(spec.depthwise_shift, spec.mid_channels)
    common = {"stride": spec.stride, "padding": spec.padding, **stream_options}
    row = await run_depthwise(harness, row_in, weights.row, axis="row",
                              shifts=dw_shifts[:split], **common)
    col = await run_depthwise(harness, col_in, weights.col, axis="col",
                              shifts=dw_shifts[split:], **common)
    mid = np.concatenate([row.q, col.q])
    _, height, width = mid.shape
    pw_shifts = (None if spec.pointwise_shift is None
                 else _shifts(spec.pointwise_shift, spec.out_channels))
    gemm = await harness.gemm(np.asarray(weights.pointwise, dtype=object).T,
                              pointwise_operands(mid).T,
                              shifts=pw_shifts,
                              **stream_options)
    out_q = None if gemm.q is None else gemm.q.reshape(spec.out_channels, height, width)
    pointwise = LayerRun(gemm.c.reshape(spec.out_channels, height, width), out_q,
                         gemm.accepted, gemm.delivered)
    return FuseBlockRun(row, col, pointwise, mid)
