"""Validated parameters of the whole SparseCache (L1 + null cache), for the generator.

The field names are those of the golden model's ``SparseCacheParams``, so a testbench builds
the model from a design's JSON ``parameters`` (adding the memory latency, which belongs to
the memory, not to this design). Every broken rule raises :class:`ConfigError` naming the
parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral

from .config import ConfigError, TcamConfig, WordFormat, ZeroDetectorConfig

__all__ = ["REPLACEMENT_POLICIES", "WRITE_POLICIES", "SparseCacheConfig"]

REPLACEMENT_POLICIES = ("coverage_lru", "lru")
WRITE_POLICIES = ("write_back", "write_through")
MAX_WAYS = 64


def _require(condition: bool, parameter: str, rule: str) -> None:
    if not condition:
        raise ConfigError(f"{parameter}: {rule}")


def _is_int(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _power_of_two(value: object) -> bool:
    return _is_int(value) and value >= 1 and value & (value - 1) == 0


@dataclass(frozen=True)
class SparseCacheConfig:
    """One SparseCache: ``sets`` x ``ways`` L1 lines of ``line_bytes`` bytes and a null cache of
    ``null_entries`` TCAM entries keyed by the whole line address.

    ``address_bits`` is the byte-address width; requests carry word addresses of
    ``address_bits - log2(word bytes)`` bits. ``key_width`` may be given, but must equal the
    line-address width. ``threshold`` > 0 makes the zero detector approximate.
    """

    address_bits: int = 32
    sets: int = 128
    ways: int = 4
    line_bytes: int = 32
    word_format: str = "int32"
    null_entries: int = 32
    key_width: int | None = None
    threshold: int | float = 0
    replacement: str = "coverage_lru"
    write_policy: str = "write_back"

    def __post_init__(self) -> None:
        formats = [f.value for f in WordFormat]
        _require(self.word_format in formats, "word_format",
                 f"must be one of {', '.join(formats)}, got {self.word_format!r}")
        _require(_is_int(self.address_bits) and 2 <= self.address_bits <= 64, "address_bits",
                 f"must be an integer from 2 to 64, got {self.address_bits!r}")
        _require(_power_of_two(self.line_bytes), "line_bytes",
                 f"must be a power of two, got {self.line_bytes!r}")
        _require(self.line_bytes >= self.word_bytes, "line_bytes",
                 f"must hold at least one {self.word_bytes}-byte {self.word_format} word, "
                 f"got {self.line_bytes}")
        _require(self.offset_bits < self.address_bits, "line_bytes",
                 f"must be smaller than the 2**{self.address_bits}-byte address space, "
                 f"got {self.line_bytes}")
        _require(_power_of_two(self.sets), "sets", f"must be a power of two, got {self.sets!r}")
        _require(self.set_bits < self.line_address_bits, "sets",
                 f"sets * line_bytes must be smaller than the 2**{self.address_bits}-byte "
                 f"address space (at least one tag bit), got {self.sets} sets of "
                 f"{self.line_bytes} bytes")
        _require(_is_int(self.ways) and 1 <= self.ways <= MAX_WAYS, "ways",
                 f"must be an integer from 1 to {MAX_WAYS}, got {self.ways!r}")
        if self.key_width is not None:
            _require(_is_int(self.key_width) and self.key_width >= 1, "key_width",
                     f"must be a positive integer, got {self.key_width!r}")
            _require(self.key_width <= self.line_address_bits, "key_width",
                     f"must not be wider than the line address (address_bits - "
                     f"log2(line_bytes) = {self.line_address_bits} bits), got {self.key_width}")
            _require(self.key_width == self.line_address_bits, "key_width",
                     f"must equal the line address width ({self.line_address_bits} bits): a "
                     f"narrower key could not tell lines apart, got {self.key_width}")
        _require(self.replacement in REPLACEMENT_POLICIES, "replacement",
                 f"must be one of {', '.join(REPLACEMENT_POLICIES)}, got {self.replacement!r}")
        _require(self.write_policy in WRITE_POLICIES, "write_policy",
                 f"must be one of {', '.join(WRITE_POLICIES)}, got {self.write_policy!r}")
        # The blocks validate the rest (entries, line size, threshold) with the same messages;
        # "null_entries" is the top-level name of the TCAM's "entries".
        try:
            TcamConfig(entries=self.null_entries, key_width=self.line_address_bits)
        except ConfigError as error:
            raise ConfigError(str(error).replace("entries:", "null_entries:", 1)) from None
        ZeroDetectorConfig(line_bytes=self.line_bytes, word_format=self.format,
                           threshold=self.threshold)

    @property
    def format(self) -> WordFormat:
        return WordFormat(self.word_format)

    @property
    def word_bytes(self) -> int:
        return WordFormat(self.word_format).bits // 8

    @property
    def word_bits(self) -> int:
        return self.word_bytes * 8

    @property
    def line_bits(self) -> int:
        return self.line_bytes * 8

    @property
    def offset_bits(self) -> int:
        return self.line_bytes.bit_length() - 1

    @property
    def line_address_bits(self) -> int:
        return self.address_bits - self.offset_bits

    @property
    def word_address_bits(self) -> int:
        return self.address_bits - (self.word_bytes.bit_length() - 1)

    @property
    def words_per_line(self) -> int:
        return self.line_bytes // self.word_bytes

    @property
    def set_bits(self) -> int:
        return self.sets.bit_length() - 1

    @property
    def tag_bits(self) -> int:
        return self.line_address_bits - self.set_bits

    @property
    def way_bits(self) -> int:
        return max(1, math.ceil(math.log2(self.ways)))

    @property
    def tcam(self) -> TcamConfig:
        return TcamConfig(entries=self.null_entries, key_width=self.line_address_bits)

    @property
    def zero_detector(self) -> ZeroDetectorConfig:
        return ZeroDetectorConfig(line_bytes=self.line_bytes, word_format=self.format,
                                  threshold=self.threshold)

    @property
    def word_detector(self) -> ZeroDetectorConfig:
        """Exact zero test of one stored word (a covered line absorbs only exact zeros)."""
        return ZeroDetectorConfig(line_bytes=self.word_bytes, word_format=self.format)

    @property
    def null_cache_bits(self) -> int:
        """TCAM storage: value and care bits of every entry (plus one valid bit each)."""
        return self.null_entries * (2 * self.line_address_bits + 1)

    @property
    def name(self) -> str:
        policy = {"coverage_lru": "clru", "lru": "lru"}[self.replacement]
        write = {"write_back": "wb", "write_through": "wt"}[self.write_policy]
        approx = f"_t{self.zero_detector.threshold_bits:x}" if self.threshold else ""
        return (f"sparsecache_a{self.address_bits}_{self.sets}x{self.ways}x{self.line_bytes}"
                f"_{self.word_format}_n{self.null_entries}_{policy}_{write}{approx}")

    def to_dict(self) -> dict[str, object]:
        return {"address_bits": self.address_bits, "sets": self.sets, "ways": self.ways,
                "line_bytes": self.line_bytes, "word_format": self.word_format,
                "null_entries": self.null_entries, "threshold": self.threshold,
                "replacement": self.replacement, "write_policy": self.write_policy}
