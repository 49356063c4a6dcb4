"""FuSe blocks against an independent reference built from plain loops and numpy."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from accelgen.sim.fuse_blocks import (
    FuseBlockSpec,
    FuseBlockWeights,
    depthwise_sum_width,
    fuse_block,
    pointwise,
    pointwise_operands,
    pointwise_output,
)
from accelgen.sim.integers import wrap

SEED = 20261203


def conv_1d_axis(x: np.ndarray, w: np.ndarray, axis: int, stride: int) -> np.ndarray:
    """Depthwise 1-D filter along ``axis`` (2 = width, 1 = height), TF 'same', both axes
    strided; written independently of accelgen.sim.depthwise."""
    channels, height, width = x.shape
    k = w.shape[1]
    out_h, out_w = -(-height // stride), -(-width // stride)
    n = width if axis == 2 else height
    out_n = out_w if axis == 2 else out_h
    before = max((out_n - 1) * stride + k - n, 0) // 2
    out = np.zeros((channels, out_h, out_w), dtype=object)
    for c, oy, ox in itertools.product(range(channels), range(out_h), range(out_w)):
        total = 0
        for t in range(k):
            y, x_ = oy * stride, ox * stride
            if axis == 2:
                x_ += t - before
            else:
                y += t - before
            if 0 <= y < height and 0 <= x_ < width:
                total += int(w[c, t]) * int(x[c, y, x_])
        out[c, oy, ox] = total
    return out


def rescale(values: np.ndarray, shifts: list[int], rounding: str, width: int) -> np.ndarray:
    """Per-channel Fraction rounding and clamping: the requantization spec."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    out = np.empty(values.shape, dtype=object)
    for index in np.ndindex(values.shape):
        exact = Fraction(int(values[index]), 1 << shifts[index[0]])
        r = round(exact) if rounding == "half_even" else math.floor(exact + Fraction(1, 2))
        out[index] = min(max(r, lo), hi)
    return out


def random_weights(spec: FuseBlockSpec, rng: np.random.Generator) -> FuseBlockWeights:
    lo, hi = -(1 << (spec.weight_width - 1)), 1 << (spec.weight_width - 1)
    return FuseBlockWeights(row=rng.integers(lo, hi, size=(spec.row_channels, spec.kernel)),
                            col=rng.integers(lo, hi, size=(spec.col_channels, spec.kernel)),
                            pointwise=rng.integers(lo, hi, size=(spec.mid_channels,
                                                                 spec.out_channels)))


SPECS = [
    FuseBlockSpec(channels=4, out_channels=5, kernel=3, variant="full", depthwise_shift=6,
                  pointwise_shift=9),
    FuseBlockSpec(channels=6, out_channels=3, kernel=5, stride=2, variant="half",
                  depthwise_shift=(3, 4, 5, 6, 7, 8), pointwise_shift=(8, 10, 12),
                  rounding="half_up"),
    FuseBlockSpec(channels=2, out_channels=4, kernel=3, stride=2, variant="full",
                  activation_width=6, weight_width=5, acc_width=20, depthwise_shift=2),
]


@pytest.mark.parametrize("spec", SPECS, ids=["full_s1", "half_s2_perchannel", "full_s2_6bit"])
def test_matches_independent_reference(spec):
    rng = np.random.default_rng([SEED, spec.channels, spec.kernel])
    a = spec.activation_width
    x = rng.integers(-(1 << (a - 1)), 1 << (a - 1), size=(spec.channels, 7, 9))
    weights = random_weights(spec, rng)
    got = fuse_block(x, weights, spec)

    half = spec.channels // 2
    row_in, col_in = (x, x) if spec.variant == "full" else (x[:half], x[half:])
    row_acc = conv_1d_axis(row_in, weights.row, axis=2, stride=spec.stride)
    col_acc = conv_1d_axis(col_in, weights.col, axis=1, stride=spec.stride)
    assert np.array_equal(got.row_acc, row_acc), f"seed {SEED}"
    assert np.array_equal(got.col_acc, col_acc), f"seed {SEED}"

    dw_shifts = (list(spec.depthwise_shift) if isinstance(spec.depthwise_shift, tuple)
                 else [spec.depthwise_shift] * spec.mid_channels)
    mid = rescale(np.concatenate([row_acc, col_acc]), dw_shifts, spec.rounding, a)
    assert np.array_equal(got.pointwise_input, mid)
    assert np.array_equal(got.row, mid[:spec.row_channels])
    assert np.array_equal(got.col, mid[spec.row_channels:])

    pw = np.einsum("chw,co->ohw", mid.astype(np.int64), weights.pointwise.astype(np.int64))
    assert np.array_equal(got.pointwise_acc.astype(np.int64), pw)
    if spec.pointwise_shift is None:
        assert got.output is got.pointwise_acc
    else:
        pw_shifts = (list(spec.pointwise_shift) if isinstance(spec.pointwise_shift, tuple)
                     else [spec.pointwise_shift] * spec.out_channels)
        assert np.array_equal(got.output, rescale(pw.astype(object), pw_shifts,
                                                  spec.rounding, a))
        assert got.output.min() >= -(1 << (a - 1)) and got.output.max() < 1 << (a - 1)


def test_full_has_twice_the_channels_of_half():
    full = FuseBlockSpec(channels=8, out_channels=3, kernel=3, variant="full")
    half = replace(full, variant="half")
    assert (full.row_channels, full.col_channels, full.mid_channels) == (8, 8, 16)
    assert (half.row_channels, half.col_channels, half.mid_channels) == (4, 4, 8)
    assert full.output_size(14, 15) == (14, 15)
    assert replace(full, stride=2).output_size(14, 15) == (7, 8)


def test_pointwise_maps_pixels_to_rows_of_a():
    x = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    a = pointwise_operands(x)
    assert a.shape == (12, 2)
    assert list(a[1 * 4 + 2]) == [x[0, 1, 2], x[1, 1, 2]]  # pixel (y=1, x=2) is row y*W + x
    assert np.array_equal(pointwise_output(a, 3, 4), x)


def test_pointwise_accumulator_wraps_like_gemm():
    rng = np.random.default_rng(SEED + 1)
    x = rng.integers(-8, 8, size=(40, 2, 3))
    w = rng.integers(-8, 8, size=(40, 2))
    got = pointwise(x, w, input_width=4, weight_width=4, acc_width=9, overflow="wrap")
    exact = np.einsum("chw,co->ohw", x, w)
    assert np.abs(exact).max() > 255, "test data must overflow 9 bits"
    assert np.array_equal(got, wrap(exact.astype(object), 9, True))
    with pytest.raises(OverflowError):
        pointwise(x, w, input_width=4, weight_width=4, acc_width=9)


def test_depthwise_sum_width_is_tight():
    for kernel, a, w in ((1, 8, 8), (3, 8, 8), (5, 4, 6), (7, 16, 8)):
        width = depthwise_sum_width(kernel, a, w)
        worst = kernel * (1 << (a - 1)) * (1 << (w - 1))
        assert worst <= (1 << (width - 1)) - 1 < worst * 2


@pytest.mark.parametrize(("changes", "message"), [
    ({"channels": 0}, "FuseBlockSpec.channels must be an integer >= 1, got 0"),
    ({"kernel": 2.0}, "FuseBlockSpec.kernel must be an integer >= 1, got 2.0"),
    ({"stride": 0}, "FuseBlockSpec.stride must be an integer >= 1"),
    ({"variant": "quarter"}, "FuseBlockSpec.variant must be one of full, half"),
    ({"variant": "half", "channels": 5}, "FuseBlockSpec.channels must be even for the half"),
    ({"padding": "full"}, "FuseBlockSpec.padding must be one of same, valid"),
    ({"rounding": "down"}, "FuseBlockSpec.rounding must be one of half_even, half_up"),
    ({"overflow": "clip"}, "FuseBlockSpec.overflow must be none, wrap or saturate"),
    ({"acc_width": 16}, "FuseBlockSpec.acc_width must be >= 17 to hold a 3-tap"),
    ({"depthwise_shift": -1}, "FuseBlockSpec.depthwise_shift must be integers >= 0"),
    ({"depthwise_shift": (1, 2)}, "FuseBlockSpec.depthwise_shift must have 8 entries, got 2"),
    ({"pointwise_shift": (1, 2)}, "FuseBlockSpec.pointwise_shift must have 3 entries, got 2"),
])
def test_spec_errors_name_the_field(changes, message):
    base = FuseBlockSpec(channels=4, out_channels=3, kernel=3)
    with pytest.raises(ValueError, match=message):
        replace(base, **changes)


def test_run_time_errors_name_the_operand():
    spec = FuseBlockSpec(channels=4, out_channels=3, kernel=3, variant="half")
    rng = np.random.default_rng(SEED + 2)
    weights = random_weights(spec, rng)
    x = rng.integers(-128, 128, size=(4, 5, 5))
    with pytest.raises(ValueError, match=r"input must have shape \(4, H, W\)"):
        fuse_block(x[:3], weights, spec)
    with pytest.raises(ValueError, match=r"input\[0, 0, 0\] = 128 does not fit"):
        fuse_block(np.full((4, 5, 5), 128), weights, spec)
    with pytest.raises(ValueError, match=r"weights.row must have shape \(2, 3\)"):
        fuse_block(x, replace(weights, row=np.zeros((4, 3), dtype=int)), spec)
    with pytest.raises(ValueError, match=r"weights.pointwise\[0, 0\] = -129"):
        bad = weights.pointwise.copy()
        bad[0, 0] = -129
        fuse_block(x, replace(weights, pointwise=bad), spec)
