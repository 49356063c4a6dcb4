"""The golden GEMM against plain numpy arithmetic and the definitions of wrap and saturate."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelgen.sim.gemm import gemm
from accelgen.sim.integers import int_range, wrap

SEED = 20261122


def test_matches_numpy_matmul_when_nothing_can_overflow():
    rng = np.random.default_rng(SEED)
    a = rng.integers(-128, 128, size=(7, 33))
    b = rng.integers(-128, 128, size=(33, 5))
    got = gemm(a, b, input_width=8, weight_width=8, acc_width=22, signed=True)
    assert np.array_equal(got.astype(np.int64), a @ b)


def test_unsigned_extremes():
    a = np.full((2, 3), 255)
    b = np.full((3, 2), 255)
    got = gemm(a, b, input_width=8, weight_width=8, acc_width=18, signed=False)
    assert (got == 3 * 255 * 255).all()


def test_wrap_keeps_the_low_bits_as_twos_complement():
    a = np.array([[127, 127]])
    b = np.array([[127], [127]])
    got = gemm(a, b, input_width=8, weight_width=8, acc_width=8, signed=True, overflow="wrap")
    full = 2 * 127 * 127
    low = full & 0xFF
    assert got[0, 0] == (low - 256 if low >= 128 else low)


def test_saturation_happens_after_every_addition_in_k_order():
    # +100, +100, -100 saturates at 127 after the second step: 127 - 100 = 27, not 100.
    a = np.array([[10, 10, -10]])
    b = np.array([[10], [10], [10]])
    got = gemm(a, b, input_width=8, weight_width=8, acc_width=8, signed=True,
               overflow="saturate")
    assert got[0, 0] == 27


def test_overflow_none_refuses_to_hide_an_overflow():
    with pytest.raises(OverflowError):
        gemm(np.array([[127, 127]]), np.array([[127], [127]]), input_width=8, weight_width=8,
             acc_width=8, signed=True)


def test_operands_out_of_range_are_named():
    with pytest.raises(ValueError, match=r"A\[0, 1\] = 128"):
        gemm(np.array([[1, 128]]), np.ones((2, 1), dtype=int), input_width=8, weight_width=8,
             acc_width=20, signed=True)
    with pytest.raises(ValueError, match=r"B\[0, 0\] = -1"):
        gemm(np.ones((1, 1), dtype=int), np.array([[-1]]), input_width=8, weight_width=8,
             acc_width=20, signed=False)


def test_64_bit_operands_stay_exact():
    lo, hi = int_range(64, True)
    a = np.array([[hi, lo]], dtype=object)
    b = np.array([[hi], [1]], dtype=object)
    got = gemm(a, b, input_width=64, weight_width=64, acc_width=64, signed=True, overflow="wrap")
    assert got[0, 0] == wrap(np.array([hi * hi + lo], dtype=object), 64, True)[0]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 16), st.integers(1, 12), st.booleans(), st.data())
def test_wrap_is_matmul_modulo(width, acc_extra, signed, data):
    acc_width = max(2, width + acc_extra - 6)
    lo, hi = int_range(width, signed)
    m, k, n = (data.draw(st.integers(1, 4)) for _ in range(3))
    a = np.array(data.draw(st.lists(st.integers(lo, hi), min_size=m * k, max_size=m * k)),
                 dtype=object).reshape(m, k)
    b = np.array(data.draw(st.lists(st.integers(lo, hi), min_size=k * n, max_size=k * n)),
                 dtype=object).reshape(k, n)
    got = gemm(a, b, input_width=width, weight_width=width, acc_width=acc_width, signed=signed,
               overflow="wrap")
    assert np.array_equal(got, wrap(a.dot(b), acc_width, signed))
