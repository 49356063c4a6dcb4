"""How 1-D depthwise convolutions stream through a FuSe-mode array, step by step.

In FuSe mode every array row runs its own 1-D convolution ``out[j] = sum_k w[k] *
x[j*stride + k]`` over a zero-padded input ``x``. Each step gives every row one input value
(broadcast to all PEs of the row) and one tap, which moves east one PE per cycle; outputs stay
in the PEs. PE ``j`` therefore pairs the tap that entered its row ``j`` steps ago with the
input of the current step, so if tap ``k`` enters at step ``t0 + k`` and input ``x[t0 + i]``
arrives at step ``t0 + i``, PE ``j`` accumulates ``w[k] * x[j + k]``: output ``j`` of a chunk
of ``cols`` outputs.

Stride 1 with ``kernel <= cols``: chunk ``c`` sends its taps at steps ``c*cols .. c*cols +
kernel - 1``, and the inputs are the padded signal itself, one per step: consecutive chunks
share the input stream, so a row of ``n`` padded inputs costs ``chunks*cols + kernel - 1``
steps. Otherwise every chunk runs alone, split into ``stride`` polyphase passes (phase ``p``
uses taps ``w[p::stride]`` on inputs ``x[p::stride]``, a stride-1 convolution), each of
``cols + taps - 1`` steps, all accumulating into the same outputs.

Steps without a tap carry the tap value zero, and inputs past the padded signal are zero: a
zero tap adds nothing, so the array needs no per-step tap-valid bit. This module is pure
structure (which tap and which input go into each step); the driver fills in values and the
cycle model counts steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .depthwise import conv_output_size, padding_amounts

__all__ = ["ChunkOutputs", "Conv1dStream", "conv1d_stream"]


@dataclass(frozen=True)
class ChunkOutputs:
    """The outputs a chunk leaves in the PEs when its ``last`` step has passed: PE ``j``
    holds output ``first + j`` for ``j < count``; the other PEs hold nothing useful."""

    first: int
    count: int


@dataclass(frozen=True)
class Conv1dStream:
    """The step sequence of one 1-D convolution, the same for every row of a pass.

    ``taps[t]`` is the tap index sent at step ``t`` (``None``: tap value zero), ``inputs[t]``
    the index into the padded input (``None``: zero), ``last[t]`` marks a chunk's final tap.
    """

    length: int  # padded input length
    kernel: int
    stride: int
    out_length: int
    taps: tuple[int | None, ...]
    inputs: tuple[int | None, ...]
    last: tuple[bool, ...]
    chunks: tuple[ChunkOutputs, ...]

    @property
    def steps(self) -> int:
        return len(self.taps)


def _check(value: int, what: str, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")


def conv1d_stream(length: int, kernel: int, stride: int, cols: int, *,
                  padding: str = "valid") -> Conv1dStream:
    """Steps that convolve a signal of ``length`` inputs on an array with ``cols`` columns.

    ``padding`` is applied first (see :mod:`.depthwise`); ``length`` is the unpadded length
    and the returned stream indexes the padded signal.
    """
    _check(length, "length")
    _check(kernel, "kernel")
    _check(stride, "stride")
    _check(cols, "cols")
    out_length = conv_output_size(length, kernel, stride, padding)
    before, after = padding_amounts(length, kernel, stride, padding)
    padded = length + before + after
    count = math.ceil(out_length / cols)
    chunks = tuple(ChunkOutputs(c * cols, min(cols, out_length - c * cols))
                   for c in range(count))

    def source(index: int) -> int | None:
        return index if index < padded else None

    taps: list[int | None] = []
    inputs: list[int | None] = []
    last: list[bool] = []
    if stride == 1 and kernel <= cols:
        for t in range(count * cols + kernel - 1):
            chunk, k = divmod(t, cols)
            tap = k if chunk < count and k < kernel else None
            taps.append(tap)
            inputs.append(source(t))
            last.append(tap == kernel - 1)
    else:
        phases = [p for p in range(stride) if p < kernel]
        for c in range(count):
            for p in phases:
                phase_taps = len(range(p, kernel, stride))
                for t in range(cols + phase_taps - 1):
                    tap = p + stride * t if t < phase_taps else None
                    taps.append(tap)
                    inputs.append(source(stride * (c * cols + t) + p))
                    last.append(p == phases[-1] and t == phase_taps - 1)
    return Conv1dStream(padded, kernel, stride, out_length, tuple(taps), tuple(inputs),
                        tuple(last), chunks)
