"""Requantization against a brute-force definition in exact rational arithmetic."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from accelgen.sim.integers import int_range
from accelgen.sim.requantize import requantize

SEED = 20261201


def reference(value: int, shift: int, rounding: str, width: int, signed: bool) -> int:
    """round(value / 2**shift) by the textbook definition, then clamp."""
    exact = Fraction(value, 1 << shift)
    # Fraction.__round__ rounds halves to even; half_up is floor(x + 1/2).
    rounded = round(exact) if rounding == "half_even" else math.floor(exact + Fraction(1, 2))
    lo, hi = int_range(width, signed)
    return min(max(rounded, lo), hi)


def random_cases(rng: np.random.Generator, count: int) -> list[tuple[int, int]]:
    """(value, shift) pairs: plain random values and exact halves, both signs, up to 2**62."""
    cases = []
    for _ in range(count):
        shift = int(rng.integers(0, 20))
        magnitude = int(rng.integers(0, 1 << 62)) >> int(rng.integers(0, 60))
        value = magnitude if rng.random() < 0.5 else -magnitude
        cases.append((value, shift))
        if shift:
            odd = 2 * int(rng.integers(-1000, 1000)) + 1
            cases.append((odd << (shift - 1), shift))  # exactly halfway between two integers
    return cases


@pytest.mark.parametrize("rounding", ["half_even", "half_up"])
@pytest.mark.parametrize(("width", "signed"), [(8, True), (16, False), (32, True), (64, True)])
def test_matches_rational_reference(rounding, width, signed):
    rng = np.random.default_rng(SEED)
    cases = random_cases(rng, 400)
    values = np.array([v for v, _ in cases], dtype=object)
    shifts = np.array([s for _, s in cases], dtype=object)
    got = requantize(values, shifts, rounding=rounding, out_width=width, signed=signed)
    want = [reference(v, s, rounding, width, signed) for v, s in cases]
    mismatches = [(v, s, g, w) for (v, s), g, w in zip(cases, got, want, strict=True) if g != w]
    assert not mismatches, f"seed {SEED}: (value, shift, got, want) {mismatches[:5]}"


def test_the_two_roundings_differ_only_on_ties():
    values = np.array([-7, -6, -5, -3, -1, 1, 3, 5, 6, 7])
    even = requantize(values, 1, rounding="half_even", out_width=8, signed=True)
    up = requantize(values, 1, rounding="half_up", out_width=8, signed=True)
    assert list(even) == [-4, -3, -2, -2, 0, 0, 2, 2, 3, 4]
    assert list(up) == [-3, -3, -2, -1, 0, 1, 2, 3, 3, 4]


def test_shift_zero_is_identity_then_saturation():
    values = np.array([-200, -128, -1, 0, 5, 127, 300])
    for rounding in ("half_even", "half_up"):
        got = requantize(values, 0, rounding=rounding, out_width=8, signed=True)
        assert list(got) == [-128, -128, -1, 0, 5, 127, 127]
    assert list(requantize(values, 0, rounding="half_up", out_width=8, signed=False)) == [
        0, 0, 0, 0, 5, 127, 255]


def test_per_channel_shift_broadcasts_over_a_tensor():
    rng = np.random.default_rng(SEED + 1)
    acc = rng.integers(-(1 << 20), 1 << 20, size=(3, 4, 5))
    shifts = np.array([0, 4, 9]).reshape(3, 1, 1)
    got = requantize(acc, shifts, rounding="half_even", out_width=12, signed=True)
    for c, shift in enumerate((0, 4, 9)):
        want = [reference(int(v), shift, "half_even", 12, True) for v in acc[c].flat]
        assert list(got[c].flat) == want, f"seed {SEED + 1}, channel {c}"


def test_64_bit_accumulators_stay_exact():
    lo, hi = int_range(64, True)
    values = np.array([lo, lo + 1, hi, hi - (1 << 10) + (1 << 9)], dtype=object)
    got = requantize(values, 10, rounding="half_even", out_width=64, signed=True)
    assert list(got) == [reference(int(v), 10, "half_even", 64, True) for v in values]
    assert got[0] == -(1 << 53)


def test_returns_an_array_for_a_scalar():
    got = requantize(5, 1, rounding="half_up", out_width=8, signed=True)
    assert isinstance(got, np.ndarray) and got.shape == () and got == 3


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rounding": "nearest"}, "rounding: must be one of half_even, half_up"),
    ({"shift": -1}, "shift: must be >= 0, got -1"),
    ({"out_width": 0}, "out_width: must be an integer >= 1"),
    ({"values": np.array([1.5])}, "values must hold integers"),
    ({"shift": 1.0}, "shift must hold integers"),
    ({"shift": np.array([1, 2])}, r"shift of shape \(2,\) does not broadcast"),
])
def test_bad_arguments_are_named(kwargs, message):
    args = {"values": np.array([1, 2, 3]), "shift": 1, "rounding": "half_even",
            "out_width": 8} | kwargs
    values, shift = args.pop("values"), args.pop("shift")
    with pytest.raises(ValueError, match=message):
        requantize(values, shift, signed=True, **args)
