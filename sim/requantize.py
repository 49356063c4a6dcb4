"""Requantization: scale a wide accumulator down to the activation width.

An integer accelerator keeps products and sums exact in a wide accumulator and, before the next
layer, divides by a power of two and saturates to the activation width. This module is the
definition the RTL must reproduce bit for bit:

    requantize(v, s) = saturate(round(v / 2**s))

with ``round`` one of

- ``half_up``:   floor((v + 2**(s-1)) / 2**s); ties go towards +infinity (-2.5 -> -2, 2.5 -> 3).
  In hardware: add the constant 2**(s-1), then an arithmetic right shift by s.
- ``half_even``: round to nearest, ties to the even neighbour (-2.5 -> -2, 1.5 -> 2, 2.5 -> 2).
  In hardware: q = v >>> s; r = the s low bits of v; add 1 to q when r > 2**(s-1), or when
  r == 2**(s-1) and q is odd.

A shift of 0 leaves the value unchanged (only saturation applies). Arithmetic runs on Python
integers (object arrays), so 64-bit and wider accumulators are exact.
"""

from __future__ import annotations

import numpy as np

from .integers import saturate

__all__ = ["ROUNDINGS", "requantize"]

ROUNDINGS = ("half_even", "half_up")


def _as_int_array(values: np.ndarray | int, what: str) -> np.ndarray:
    """``values`` as an object array of Python ints; floats and booleans are refused."""
    array = np.asarray(values)
    if array.dtype.kind in "iu":
        return array.astype(object)
    if array.dtype.kind == "O" and all(
            isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_)
            for v in array.flat):
        return np.vectorize(int, otypes=[object])(array) if array.size else array
    raise ValueError(f"{what} must hold integers, got dtype {array.dtype}")


def requantize(values: np.ndarray | int, shift: np.ndarray | int, *, rounding: str,
               out_width: int, signed: bool) -> np.ndarray:
    """Divide by ``2**shift`` with the given rounding, then saturate to ``out_width`` bits.

    ``shift`` is a scalar or an array broadcastable against ``values`` (per-channel shifts:
    shape ``(C, 1, 1)`` for a ``(C, H, W)`` tensor). Returns an object array of Python ints with
    the broadcast shape.
    """
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding: must be one of {', '.join(ROUNDINGS)}, got {rounding!r}")
    if isinstance(out_width, bool) or not isinstance(out_width, int) or out_width < 1:
        raise ValueError(f"out_width: must be an integer >= 1, got {out_width!r}")
    v = _as_int_array(values, "values")
    s = _as_int_array(shift, "shift")
    if np.any(s < 0):
        raise ValueError(f"shift: must be >= 0, got {s.min()}")
    try:
        v, s = np.broadcast_arrays(v, s)
    except ValueError:
        raise ValueError(f"shift of shape {s.shape} does not broadcast against values of "
                         f"shape {v.shape}") from None
    half = np.left_shift(1, s) >> 1  # 2**(s-1), and 0 when s == 0
    if rounding == "half_up":
        out = (v + half) >> s
    else:
        floor = v >> s
        remainder = v - (floor << s)
        up = (remainder > half) | ((remainder == half) & (half > 0) & (floor % 2 == 1))
        out = floor + up.astype(object)
    return np.asarray(saturate(np.asarray(out, dtype=object), out_width, signed), dtype=object)
