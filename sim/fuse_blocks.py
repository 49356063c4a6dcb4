"""Golden model of a FuSe block (FuSeConv, Selvam et al., DATE 2021) in integer arithmetic.

A FuSe block replaces a depthwise-separable layer (KxK depthwise, then 1x1 pointwise):

- ``full`` (D = 1): a 1xK "row" filter and a Kx1 "column" filter each run over all C channels;
  their outputs are concatenated (row outputs first) to 2C channels; the pointwise maps
  2C -> C_out.
- ``half`` (D = 2): the first C/2 input channels get the 1xK filter, the last C/2 the Kx1 filter;
  concatenated (row half first) to C channels; the pointwise maps C -> C_out.

Integer semantics, stage by stage (each stage is returned so the RTL can be checked layer by
layer):

1. depthwise sums are exact; the spec guarantees they fit ``acc_width`` (see ``FuseBlockSpec``);
2. they are requantized (``requantize``: shift, rounding, signed saturation) to
   ``activation_width``;
3. the pointwise is a GEMM with ``accelgen.sim.gemm.gemm`` semantics (``acc_width``,
   ``overflow``), see ``pointwise``;
4. optionally the pointwise result is requantized again to ``activation_width``.

There is no bias and no activation function: both are per-channel affine or elementwise steps
that the lead can add after stage 2 or 4 without changing the data movement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .depthwise import PADDINGS, conv_output_size, depthwise_1xk, depthwise_kx1
from .gemm import gemm
from .integers import check_range, int_range
from .requantize import ROUNDINGS, requantize

__all__ = [
    "VARIANTS",
    "FuseBlockResult",
    "FuseBlockSpec",
    "FuseBlockWeights",
    "depthwise_sum_width",
    "fuse_block",
    "pointwise",
    "pointwise_operands",
    "pointwise_output",
]

VARIANTS = ("full", "half")

Shift = int | tuple[int, ...]


def depthwise_sum_width(kernel: int, activation_width: int, weight_width: int) -> int:
    """Signed width that holds any sum of ``kernel`` products of signed operands exactly.

    The largest magnitude is ``kernel * 2**(a-1) * 2**(w-1)`` (both operands at their most
    negative value), which must not exceed ``2**(width-1) - 1``.
    """
    return (kernel << (activation_width + weight_width - 2)).bit_length() + 1


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class FuseBlockSpec:
    """Shape and number formats of one FuSe block; validated on construction.

    ``stride`` applies to both axes of both branches (they replace one strided KxK layer).

    ``depthwise_shift`` is one shift for all channels or one per concatenated channel
    (``mid_channels`` of them); ``pointwise_shift`` is ``None`` (keep the accumulator), one
    shift, or one per output channel. Activations and weights are signed.
    """

    channels: int
    out_channels: int
    kernel: int
    stride: int = 1
    padding: str = "same"
    variant: str = "full"
    activation_width: int = 8
    weight_width: int = 8
    acc_width: int = 32
    depthwise_shift: Shift = 0
    pointwise_shift: Shift | None = None
    rounding: str = "half_even"
    overflow: str = "none"

    def __post_init__(self) -> None:
        for name in ("channels", "out_channels", "kernel", "stride", "activation_width",
                     "weight_width", "acc_width"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"FuseBlockSpec.{name} must be an integer >= 1, got {value!r}")
        if self.variant not in VARIANTS:
            raise ValueError(f"FuseBlockSpec.variant must be one of {', '.join(VARIANTS)}, "
                             f"got {self.variant!r}")
        if self.variant == "half" and self.channels % 2:
            raise ValueError(f"FuseBlockSpec.channels must be even for the half variant, "
                             f"got {self.channels}")
        if self.padding not in PADDINGS:
            raise ValueError(f"FuseBlockSpec.padding must be one of {', '.join(PADDINGS)}, "
                             f"got {self.padding!r}")
        if self.rounding not in ROUNDINGS:
            raise ValueError(f"FuseBlockSpec.rounding must be one of {', '.join(ROUNDINGS)}, "
                             f"got {self.rounding!r}")
        if self.overflow not in ("none", "wrap", "saturate"):
            raise ValueError(f"FuseBlockSpec.overflow must be none, wrap or saturate, "
                             f"got {self.overflow!r}")
        needed = depthwise_sum_width(self.kernel, self.activation_width, self.weight_width)
        if self.acc_width < needed:
            raise ValueError(f"FuseBlockSpec.acc_width must be >= {needed} to hold a "
                             f"{self.kernel}-tap depthwise sum exactly, got {self.acc_width}")
        self._check_shift("depthwise_shift", self.depthwise_shift, self.mid_channels)
        if self.pointwise_shift is not None:
            self._check_shift("pointwise_shift", self.pointwise_shift, self.out_channels)

    @staticmethod
    def _check_shift(name: str, shift: Shift, count: int) -> None:
        values = shift if isinstance(shift, tuple) else (shift,)
        if isinstance(shift, tuple) and len(shift) != count:
            raise ValueError(f"FuseBlockSpec.{name} must have {count} entries, got {len(shift)}")
        for value in values:
            if not _is_int(value) or value < 0:
                raise ValueError(f"FuseBlockSpec.{name} must be integers >= 0, got {value!r}")

    @property
    def row_channels(self) -> int:
        """Channels that the 1xK filter reads (and writes)."""
        return self.channels if self.variant == "full" else self.channels // 2

    @property
    def col_channels(self) -> int:
        """Channels that the Kx1 filter reads (and writes)."""
        return self.row_channels

    @property
    def mid_channels(self) -> int:
        """Channels of the concatenated depthwise output, the pointwise's input."""
        return self.row_channels + self.col_channels

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return (conv_output_size(height, self.kernel, self.stride, self.padding),
                conv_output_size(width, self.kernel, self.stride, self.padding))


@dataclass(frozen=True, eq=False)
class FuseBlockWeights:
    """``row`` (row_channels, K) 1xK filters, ``col`` (col_channels, K) Kx1 filters,
    ``pointwise`` (mid_channels, out_channels): the GEMM's B operand."""

    row: np.ndarray
    col: np.ndarray
    pointwise: np.ndarray


@dataclass(frozen=True, eq=False)
class FuseBlockResult:
    """Every intermediate tensor, (channels, height, width), object arrays of Python ints."""

    row_acc: np.ndarray
    col_acc: np.ndarray
    row: np.ndarray
    col: np.ndarray
    pointwise_input: np.ndarray
    pointwise_acc: np.ndarray
    output: np.ndarray


def pointwise_operands(x: np.ndarray) -> np.ndarray:
    """The GEMM's A operand for a 1x1 convolution of ``x`` (C, H, W): shape (H*W, C).

    Row ``y * W + x`` holds the channel vector of pixel (y, x), raster order. The weights
    (C, C_out) are the B operand, so ``A @ B`` is (H*W, C_out): activations stream as the rows
    of A, weights form B (the operand a weight-stationary array holds).
    """
    x = np.asarray(x, dtype=object)
    if x.ndim != 3:
        raise ValueError(f"pointwise input must be (C, H, W), got shape {x.shape}")
    return x.reshape(x.shape[0], -1).T


def pointwise_output(c: np.ndarray, height: int, width: int) -> np.ndarray:
    """Turn the GEMM result (H*W, C_out) back into a (C_out, H, W) tensor."""
    c = np.asarray(c, dtype=object)
    if c.ndim != 2 or c.shape[0] != height * width:
        raise ValueError(f"GEMM result of shape {c.shape} is not ({height}*{width}, C_out)")
    return c.T.reshape(c.shape[1], height, width)


def pointwise(x: np.ndarray, w: np.ndarray, *, input_width: int, weight_width: int,
              acc_width: int, overflow: str = "none") -> np.ndarray:
    """1x1 convolution of signed ``x`` (C, H, W) with ``w`` (C, C_out) as a golden GEMM."""
    _, height, width = np.shape(x)
    c = gemm(pointwise_operands(x), w, input_width=input_width, weight_width=weight_width,
             acc_width=acc_width, signed=True, overflow=overflow)
    return pointwise_output(c, height, width)


def _per_channel(shift: Shift) -> np.ndarray | int:
    return np.array(shift, dtype=object)[:, None, None] if isinstance(shift, tuple) else shift


def _check_weight(name: str, w: np.ndarray, shape: tuple[int, int], width: int) -> np.ndarray:
    w = np.asarray(w)
    if w.shape != shape:
        raise ValueError(f"weights.{name} must have shape {shape}, got {w.shape}")
    w = w.astype(object)
    check_range(w, width, True, f"weights.{name}")
    return w


def fuse_block(x: np.ndarray, weights: FuseBlockWeights, spec: FuseBlockSpec) -> FuseBlockResult:
    """Run one FuSe block on the signed activation tensor ``x`` (channels, H, W)."""
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[0] != spec.channels:
        raise ValueError(f"input must have shape ({spec.channels}, H, W), got {x.shape}")
    x = x.astype(object)
    check_range(x, spec.activation_width, True, "input")
    k = spec.kernel
    row_w = _check_weight("row", weights.row, (spec.row_channels, k), spec.weight_width)
    col_w = _check_weight("col", weights.col, (spec.col_channels, k), spec.weight_width)
    pw_w = _check_weight("pointwise", weights.pointwise, (spec.mid_channels, spec.out_channels),
                         spec.weight_width)
    row_in = x if spec.variant == "full" else x[:spec.row_channels]
    col_in = x if spec.variant == "full" else x[spec.row_channels:]
    row_acc = depthwise_1xk(row_in, row_w, stride=spec.stride, padding=spec.padding)
    col_acc = depthwise_kx1(col_in, col_w, stride=spec.stride, padding=spec.padding)
    lo, hi = int_range(spec.acc_width, True)
    assert all(lo <= v <= hi for v in (*row_acc.flat, *col_acc.flat)), "spec bound violated"
    mid = requantize(np.concatenate([row_acc, col_acc]), _per_channel(spec.depthwise_shift),
                     rounding=spec.rounding, out_width=spec.activation_width, signed=True)
    pw_acc = pointwise(mid, pw_w, input_width=spec.activation_width,
                       weight_width=spec.weight_width, acc_width=spec.acc_width,
                       overflow=spec.overflow)
    output = pw_acc
    if spec.pointwise_shift is not None:
        output = requantize(pw_acc, _per_channel(spec.pointwise_shift), rounding=spec.rounding,
                            out_width=spec.activation_width, signed=True)
    return FuseBlockResult(row_acc=row_acc, col_acc=col_acc, row=mid[:spec.row_channels],
                           col=mid[spec.row_channels:], pointwise_input=mid,
                           pointwise_acc=pw_acc, output=output)
