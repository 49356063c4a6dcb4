"""Depthwise convolutions against brute-force loops and numpy.correlate."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from accelgen.sim.depthwise import (
    conv_output_size,
    depthwise_1xk,
    depthwise_2d,
    depthwise_kx1,
    depthwise_kxk,
    padding_amounts,
)

SEED = 20261202


def brute_force(x: np.ndarray, w: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """One output at a time, padding written out from TensorFlow's definition."""
    channels, height, width = x.shape
    _, kernel_h, kernel_w = w.shape

    def axis(n: int, k: int) -> tuple[int, int]:
        if padding == "valid":
            return (n - k) // stride + 1, 0
        if padding == "valid_ceil":  # SCALE-Sim: windows past the end read zeros
            return -(-(n - k) // stride) + 1, 0
        out = (n + stride - 1) // stride
        return out, max((out - 1) * stride + k - n, 0) // 2

    out_h, top = axis(height, kernel_h)
    out_w, left = axis(width, kernel_w)
    out = np.zeros((channels, out_h, out_w), dtype=object)
    for c, oy, ox in itertools.product(range(channels), range(out_h), range(out_w)):
        total = 0
        for i, j in itertools.product(range(kernel_h), range(kernel_w)):
            y, x_ = oy * stride + i - top, ox * stride + j - left
            if 0 <= y < height and 0 <= x_ < width:
                total += int(w[c, i, j]) * int(x[c, y, x_])
        out[c, oy, ox] = total
    return out


CASES = [  # (height, width, kernel_h, kernel_w, stride, padding)
    (7, 9, 1, 3, 1, "same"), (7, 9, 3, 1, 2, "same"), (8, 8, 3, 3, 2, "same"),
    (9, 6, 5, 5, 2, "same"), (5, 11, 1, 5, 3, "same"), (6, 6, 1, 4, 1, "same"),
    (7, 9, 1, 3, 1, "valid"), (8, 7, 5, 1, 2, "valid"), (9, 9, 3, 3, 2, "valid"),
    (4, 4, 4, 4, 1, "valid"), (1, 12, 1, 7, 2, "same"), (8, 9, 3, 3, 2, "valid_ceil"),
    (9, 9, 3, 1, 2, "valid_ceil"), (6, 7, 1, 2, 4, "valid_ceil"),
]


@pytest.mark.parametrize(("height", "width", "kernel_h", "kernel_w", "stride", "padding"), CASES)
def test_matches_brute_force(height, width, kernel_h, kernel_w, stride, padding):
    rng = np.random.default_rng([SEED, height, width, kernel_h, kernel_w, stride])
    x = rng.integers(-128, 128, size=(3, height, width))
    w = rng.integers(-128, 128, size=(3, kernel_h, kernel_w))
    got = depthwise_2d(x, w, stride=stride, padding=padding)
    assert np.array_equal(got, brute_force(x, w, stride, padding)), f"seed {SEED}"


def test_1xk_and_kx1_are_the_two_axes():
    rng = np.random.default_rng(SEED)
    x = rng.integers(-50, 50, size=(4, 6, 10))
    w = rng.integers(-50, 50, size=(4, 5))
    row = depthwise_1xk(x, w, stride=2, padding="same")
    col = depthwise_kx1(x, w, stride=2, padding="same")
    assert row.shape == col.shape == (4, 3, 5)
    assert np.array_equal(row, brute_force(x, w[:, None, :], 2, "same"))
    assert np.array_equal(col, brute_force(x, w[:, :, None], 2, "same"))
    assert np.array_equal(col, depthwise_1xk(x.transpose(0, 2, 1), w, stride=2,
                                             padding="same").transpose(0, 2, 1))


@pytest.mark.parametrize("kernel", [1, 3, 5, 7])
def test_1xk_is_numpy_correlate_along_each_row(kernel):
    rng = np.random.default_rng([SEED, kernel])
    x = rng.integers(-1000, 1000, size=(2, 3, 16))
    w = rng.integers(-1000, 1000, size=(2, kernel))
    for padding, mode in (("valid", "valid"), ("same", "same")):
        got = depthwise_1xk(x, w, stride=1, padding=padding)
        for c, y in itertools.product(range(2), range(3)):
            want = np.correlate(x[c, y], w[c], mode=mode)
            assert list(got[c, y]) == list(want), f"seed {SEED}, {padding}, row {c},{y}"


def test_rank_one_kxk_equals_row_then_column():
    """A KxK filter that is an outer product factors exactly into 1xK then Kx1 (stride 1)."""
    rng = np.random.default_rng(SEED + 3)
    x = rng.integers(-128, 128, size=(3, 9, 8))
    col_w = rng.integers(-8, 8, size=(3, 5))
    row_w = rng.integers(-8, 8, size=(3, 5))
    full = depthwise_kxk(x, col_w[:, :, None] * row_w[:, None, :], stride=1, padding="same")
    separable = depthwise_kx1(depthwise_1xk(x, row_w, stride=1, padding="same"), col_w,
                              stride=1, padding="same")
    assert np.array_equal(full, separable)


def test_sums_are_exact_beyond_64_bits():
    x = np.full((1, 3, 3), 1 << 40, dtype=object)
    w = np.full((1, 3, 3), 1 << 30, dtype=object)
    got = depthwise_kxk(x, w, stride=1, padding="valid")
    assert got[0, 0, 0] == 9 << 70


@pytest.mark.parametrize(("n", "k", "stride", "padding", "size", "pads"), [
    (224, 3, 2, "same", 112, (0, 1)), (112, 5, 2, "same", 56, (1, 2)),
    (7, 3, 1, "same", 7, (1, 1)), (7, 3, 2, "same", 4, (1, 1)), (6, 4, 1, "same", 6, (1, 2)),
    (7, 3, 2, "valid", 3, (0, 0)), (224, 3, 2, "valid", 111, (0, 0)),
    (1, 5, 1, "same", 1, (2, 2)), (8, 3, 2, "valid_ceil", 4, (0, 1)),
    (7, 3, 2, "valid_ceil", 3, (0, 0)), (5, 1, 3, "valid_ceil", 3, (0, 2)),
])
def test_output_size_and_padding_follow_tensorflow(n, k, stride, padding, size, pads):
    assert conv_output_size(n, k, stride, padding) == size
    assert padding_amounts(n, k, stride, padding) == pads


def test_errors_are_clear():
    x = np.zeros((2, 4, 4), dtype=int)
    with pytest.raises(ValueError, match="kernel 5 is larger than the input 4"):
        depthwise_1xk(x, np.zeros((2, 5), dtype=int), stride=1, padding="valid")
    with pytest.raises(ValueError, match="padding must be one of same, valid, valid_ceil, got 'f"):
        depthwise_kx1(x, np.zeros((2, 3), dtype=int), stride=1, padding="full")
    with pytest.raises(ValueError, match="weights have 3 channels, input has 2"):
        depthwise_kxk(x, np.zeros((3, 3, 3), dtype=int), stride=1, padding="same")
    with pytest.raises(ValueError, match="stride must be an integer >= 1, got 0"):
        depthwise_kxk(x, np.zeros((2, 3, 3), dtype=int), stride=0, padding="same")
    with pytest.raises(ValueError, match=r"KxK weights must have shape \(C, K, K\)"):
        depthwise_kxk(x, np.zeros((2, 3, 1), dtype=int), stride=1, padding="same")
    with pytest.raises(ValueError, match="input must hold integers"):
        depthwise_kxk(x.astype(float), np.zeros((2, 3, 3), dtype=int), stride=1, padding="same")
    with pytest.raises(ValueError, match="input must have 3 dimensions"):
        depthwise_1xk(np.zeros((4, 4), dtype=int), np.zeros((2, 3), dtype=int), stride=1,
                      padding="same")
