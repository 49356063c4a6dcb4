"""Validated parameters of SparseCache's blocks: the TCAM null cache and the zero detector."""

from __future__ import annotations

import enum
import math
import struct
from dataclasses import dataclass
from numbers import Integral, Real

from accelgen.generators.systolic.config import ConfigError

__all__ = ["ConfigError", "TcamConfig", "WordFormat", "ZeroDetectorConfig"]

MAX_KEY_WIDTH = 64
MAX_ENTRIES = 1024
MAX_LINE_BYTES = 1024


def _require(condition: bool, parameter: str, rule: str) -> None:
    if not condition:
        raise ConfigError(f"{parameter}: {rule}")


def _is_int(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


class WordFormat(enum.Enum):
    """How the zero detector reads the words of a line (little-endian, two's complement ints)."""

    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    FP16 = "fp16"
    FP32 = "fp32"

    @property
    def bits(self) -> int:
        return int(self.value.removeprefix("int").removeprefix("fp"))

    @property
    def is_float(self) -> bool:
        return self.value.startswith("fp")

    @property
    def mantissa_bits(self) -> int:
        """Stored fraction bits of a float format (IEEE 754 binary16 / binary32)."""
        return {16: 10, 32: 23}[self.bits]


# struct codes for IEEE binary16 and binary32, and the unsigned code of the same width.
_STRUCT_FLOAT = {16: ("<e", "<H"), 32: ("<f", "<I")}


def _float_bits(value: float, bits: int) -> int:
    float_code, uint_code = _STRUCT_FLOAT[bits]
    return struct.unpack(uint_code, struct.pack(float_code, value))[0]


def _float_value(pattern: int, bits: int) -> float:
    float_code, uint_code = _STRUCT_FLOAT[bits]
    return struct.unpack(float_code, struct.pack(uint_code, pattern))[0]


def _largest_finite(bits: int) -> float:
    # Sign clear, every exponent bit but the lowest set, every fraction bit set.
    mantissa_bits = WordFormat(f"fp{bits}").mantissa_bits
    return _float_value(((1 << (bits - 1)) - 1) ^ (1 << mantissa_bits), bits)


@dataclass(frozen=True)
class TcamConfig:
    """A ternary CAM of ``entries`` (value, care, valid) entries with ``key_width``-bit keys."""

    entries: int
    key_width: int

    def __post_init__(self) -> None:
        _require(_is_int(self.entries) and 1 <= self.entries <= MAX_ENTRIES, "entries",
                 f"must be an integer between 1 and {MAX_ENTRIES}, got {self.entries!r}")
        _require(_is_int(self.key_width) and 1 <= self.key_width <= MAX_KEY_WIDTH, "key_width",
                 f"must be an integer between 1 and {MAX_KEY_WIDTH}, got {self.key_width!r}")

    @property
    def index_width(self) -> int:
        """Bits of an entry index (at least 1, so a one-entry TCAM keeps its ports)."""
        return max(1, math.ceil(math.log2(self.entries)))

    @property
    def name(self) -> str:
        return f"sparsecache_tcam_{self.entries}x{self.key_width}"

    def to_dict(self) -> dict[str, int]:
        return {"entries": self.entries, "key_width": self.key_width}


@dataclass(frozen=True)
class ZeroDetectorConfig:
    """A zero detector for ``line_bytes``-byte lines of ``word_format`` words.

    ``threshold`` (default 0, exact zeros only) is fixed at generation: integer formats take an
    integer from 0 to the largest positive value, float formats a finite real number from 0 to
    the largest finite value. The hardware compares word magnitudes with
    :attr:`threshold_bits`, the largest finite value of the format ``<= threshold``.
    """

    line_bytes: int
    word_format: WordFormat = WordFormat.INT8
    threshold: int | float = 0

    def __post_init__(self) -> None:
        if not isinstance(self.word_format, WordFormat):
            try:
                object.__setattr__(self, "word_format", WordFormat(self.word_format))
            except ValueError:
                choices = ", ".join(f.value for f in WordFormat)
                raise ConfigError(f"word_format: must be one of {choices}, "
                                  f"got {self.word_format!r}") from None
        if hasattr(self.threshold, "item") and not isinstance(self.threshold, (int, float)):
            object.__setattr__(self, "threshold", self.threshold.item())  # numpy scalar
        word_bytes = self.word_format.bits // 8
        _require(_is_int(self.line_bytes) and 1 <= self.line_bytes <= MAX_LINE_BYTES,
                 "line_bytes",
                 f"must be an integer between 1 and {MAX_LINE_BYTES}, got {self.line_bytes!r}")
        _require(self.line_bytes % word_bytes == 0, "line_bytes",
                 f"must be a multiple of the {word_bytes}-byte {self.word_format.value} word, "
                 f"got {self.line_bytes}")
        fmt = self.word_format.value
        if self.word_format.is_float:
            largest = _largest_finite(self.word_format.bits)
            _require(isinstance(self.threshold, Real) and not isinstance(self.threshold, bool)
                     and 0 <= self.threshold <= largest, "threshold",
                     f"must be a finite number from 0 to {largest} (largest finite {fmt}), "
                     f"got {self.threshold!r}")
        else:
            largest = (1 << (self.word_format.bits - 1)) - 1
            _require(_is_int(self.threshold) and 0 <= self.threshold <= largest, "threshold",
                     f"must be an integer from 0 to {largest} for {fmt}, got {self.threshold!r}")

    @property
    def words(self) -> int:
        return self.line_bytes // (self.word_format.bits // 8)

    @property
    def threshold_bits(self) -> int:
        """Bits of the format's largest value ``<= threshold`` (the integer itself for ints)."""
        if not self.word_format.is_float:
            return int(self.threshold)
        bits = self.word_format.bits
        pattern = _float_bits(float(self.threshold), bits)  # rounds to nearest
        if _float_value(pattern, bits) > self.threshold:
            pattern -= 1  # the next smaller magnitude of a positive float
        return pattern

    @property
    def name(self) -> str:
        return (f"sparsecache_zero_detector_{self.line_bytes}byte_{self.word_format.value}"
                f"_t{self.threshold_bits:x}")

    def to_dict(self) -> dict[str, object]:
        return {"line_bytes": self.line_bytes, "word_format": self.word_format.value,
                "threshold": self.threshold, "threshold_bits": self.threshold_bits}
