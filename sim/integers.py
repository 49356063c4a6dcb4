"""Fixed-width integer ranges and the two overflow rules, shared by every golden model."""

from __future__ import annotations

import numpy as np

__all__ = ["check_range", "int_range", "reduce_to_width", "saturate", "wrap"]


def int_range(width: int, signed: bool) -> tuple[int, int]:
    """Smallest and largest value of a ``width``-bit integer."""
    if signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1


def check_range(values: np.ndarray, width: int, signed: bool, what: str) -> None:
    """Raise ``ValueError`` naming ``what`` and the first element outside the operand range."""
    lo, hi = int_range(width, signed)
    bad = np.argwhere((values < lo) | (values > hi))
    if bad.size:
        index = tuple(int(i) for i in bad[0])
        raise ValueError(f"{what}{list(index)} = {values[index]} does not fit a "
                         f"{'signed' if signed else 'unsigned'} {width}-bit integer [{lo}, {hi}]")


def wrap(values: np.ndarray, width: int, signed: bool) -> np.ndarray:
    """Keep the low ``width`` bits, read back as two's complement when ``signed``."""
    modulus = 1 << width
    out = np.mod(values, modulus)
    if signed:
        out = np.where(out >= modulus >> 1, out - modulus, out)
    return out


def saturate(values: np.ndarray, width: int, signed: bool) -> np.ndarray:
    lo, hi = int_range(width, signed)
    return np.clip(values, lo, hi)


def reduce_to_width(values: np.ndarray, width: int, signed: bool, overflow: str) -> np.ndarray:
    """Apply the accumulator's overflow rule: ``none`` checks that nothing overflowed."""
    if overflow == "wrap":
        return wrap(values, width, signed)
    if overflow == "saturate":
        return saturate(values, width, signed)
    if overflow == "none":
        lo, hi = int_range(width, signed)
        if np.any(values < lo) or np.any(values > hi):
            raise OverflowError(f"a sum left the {width}-bit accumulator with overflow=none")
        return values
    raise ValueError(f"overflow: must be none, wrap or saturate, got {overflow!r}")
