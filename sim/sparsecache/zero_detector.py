"""Golden model of SparseCache's zero detector: is a cache line all zero, or nearly so?

A line is a sequence of little-endian words of one format (``WORD_FORMATS``). ``detect``
returns ``(all_zero, near_zero)``:

* ``all_zero``: every word is zero. For floats, ``+0.0`` and ``-0.0`` both count as zero.
* ``near_zero``: every word's magnitude is ``<= threshold``. Integers are two's complement and
  the magnitude is ``|v|`` (so ``|-128| = 128`` for int8). For floats the rule is exact real
  arithmetic, ``|x| <= threshold``, and NaN and infinity are never near zero. A threshold of 0
  gives ``near_zero == all_zero``.

The hardware compares bits, not values: :func:`threshold_bits` turns the threshold into the
format's largest finite value ``<= threshold`` and a float word is near zero when its magnitude
bits (the word with the sign bit cleared, read as unsigned) are ``<=`` those bits. For non-NaN
values the magnitude bits grow with the magnitude, NaNs and infinities sit above every finite
value, and every word is exactly representable, so this equals the real-number rule above.

Thresholds must be ``>= 0`` and finite; for integer formats an integer no larger than the
format's largest positive value, for float formats a real number no larger than its largest
finite value. Anything else raises :class:`ValueError` (:class:`TypeError` for wrong types).
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

__all__ = ["WORD_FORMATS", "detect", "threshold_bits", "word_bits"]

WORD_FORMATS = ("int8", "int16", "int32", "fp16", "fp32")
"""Word formats a line can hold."""

_BITS = {"int8": 8, "int16": 16, "int32": 32, "fp16": 16, "fp32": 32}
_FLOAT_TYPES = {"fp16": np.float16, "fp32": np.float32}
_SIGNED = {8: "<i1", 16: "<i2", 32: "<i4"}
_UNSIGNED = {16: "<u2", 32: "<u4"}


def word_bits(fmt: str) -> int:
    """Width in bits of one word of ``fmt``."""
    if fmt not in _BITS:
        raise ValueError(f"fmt: must be one of {', '.join(WORD_FORMATS)}, got {fmt!r}")
    return _BITS[fmt]


def threshold_bits(fmt: str, threshold: int | float) -> int:
    """The bit pattern the hardware compares word magnitudes with.

    Integers: the threshold itself. Floats: the bits of the largest finite value of ``fmt``
    that is ``<= threshold`` (a non-negative pattern, so its sign bit is clear).
    """
    bits = word_bits(fmt)
    if isinstance(threshold, np.generic):
        threshold = threshold.item()  # compare exactly, never in a narrow numpy type
    if fmt in _FLOAT_TYPES:
        if not isinstance(threshold, Real) or isinstance(threshold, bool):
            raise TypeError(f"threshold: must be a real number for {fmt}, got {threshold!r}")
        float_type = _FLOAT_TYPES[fmt]
        largest = float(np.finfo(float_type).max)
        if not 0 <= threshold <= largest:
            raise ValueError(
                f"threshold: must be finite, >= 0 and <= {largest} (largest finite {fmt}), "
                f"got {threshold!r}"
            )
        candidate = float_type(threshold)  # round to nearest; then step down if above
        if float(candidate) > threshold:
            candidate = np.nextafter(candidate, float_type(0))
        return int(np.array(candidate, dtype=float_type).view(_UNSIGNED[bits])[()])
    if not isinstance(threshold, Integral) or isinstance(threshold, bool):
        raise TypeError(f"threshold: must be an integer for {fmt}, got {threshold!r}")
    largest = (1 << (bits - 1)) - 1
    if not 0 <= threshold <= largest:
        raise ValueError(f"threshold: must be between 0 and {largest} for {fmt}, got {threshold}")
    return int(threshold)


def detect(line: bytes, fmt: str, threshold: int | float = 0) -> tuple[bool, bool]:
    """``(all_zero, near_zero)`` of ``line`` read as little-endian ``fmt`` words.

    ``line`` must hold a whole, non-zero number of words.
    """
    bits = word_bits(fmt)
    limit = threshold_bits(fmt, threshold)
    data = bytes(line)
    if not data or len(data) % (bits // 8):
        raise ValueError(
            f"line: must hold a whole, non-zero number of {bits // 8}-byte {fmt} words, "
            f"got {len(data)} bytes"
        )
    if fmt in _FLOAT_TYPES:
        words = np.frombuffer(data, dtype=_UNSIGNED[bits]).astype(np.int64)
        magnitude = words & ((1 << (bits - 1)) - 1)
    else:
        magnitude = np.abs(np.frombuffer(data, dtype=_SIGNED[bits]).astype(np.int64))
    return bool(np.all(magnitude == 0)), bool(np.all(magnitude <= limit))
