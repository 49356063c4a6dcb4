"""Validated parameters of the SparseCache hierarchy model (L1 + null cache + memory).

The names match the generator's configuration and the design JSON, so a testbench builds the
model from a design's ``parameters`` directly. Every rule violation raises :class:`ValueError`
naming the parameter (``"sets: must be a power of two, got 3"``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from numbers import Integral

from .zero_detector import WORD_FORMATS, threshold_bits, word_bits

__all__ = ["REPLACEMENT_POLICIES", "WRITE_POLICIES", "SparseCacheParams"]

REPLACEMENT_POLICIES = ("coverage_lru", "lru")
"""Null-cache victim choice: fewest covered lines first then least recently used, or plain LRU."""

WRITE_POLICIES = ("write_back", "write_through")
"""L1 store handling; both allocate on a write miss (see :mod:`.hierarchy`)."""

MAX_ENTRIES = 1024
MAX_LINE_BYTES = 1024


def _is_int(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _require(condition: bool, parameter: str, rule: str) -> None:
    if not condition:
        raise ValueError(f"{parameter}: {rule}")


def _power_of_two(value: object) -> bool:
    return _is_int(value) and value >= 1 and value & (value - 1) == 0


@dataclass(frozen=True)
class SparseCacheParams:
    """One SparseCache configuration.

    ``address_bits`` is the width of a byte address; loads and stores move one
    ``word_format`` word at a word-aligned address. The null cache's key is the whole line
    address (``address_bits - log2(line_bytes)`` bits); ``key_width`` may be given to state it,
    but it must equal that width. ``threshold`` > 0 turns on approximation (near-zero lines
    count as zero). ``memory_latency`` is the fixed latency of every memory request, in cycles
    (>= 1). ``null_cache_enabled=False`` models the plain L1 with the same timing (a baseline
    for comparisons; the other null-cache parameters are still validated).
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
    memory_latency: int = 100
    null_cache_enabled: bool = True

    def __post_init__(self) -> None:
        _require(self.word_format in WORD_FORMATS, "word_format",
                 f"must be one of {', '.join(WORD_FORMATS)}, got {self.word_format!r}")
        _require(_is_int(self.address_bits) and 2 <= self.address_bits <= 64, "address_bits",
                 f"must be an integer from 2 to 64, got {self.address_bits!r}")
        _require(_power_of_two(self.line_bytes) and self.line_bytes <= MAX_LINE_BYTES,
                 "line_bytes", f"must be a power of two no larger than {MAX_LINE_BYTES}, "
                 f"got {self.line_bytes!r}")
        _require(self.line_bytes >= self.word_bytes, "line_bytes",
                 f"must hold at least one {self.word_bytes}-byte {self.word_format} word, "
                 f"got {self.line_bytes}")
        _require(self.offset_bits < self.address_bits, "line_bytes",
                 f"must be smaller than the 2**{self.address_bits}-byte address space, "
                 f"got {self.line_bytes}")
        _require(_power_of_two(self.sets), "sets",
                 f"must be a power of two, got {self.sets!r}")
        _require(self.set_bits < self.line_address_bits, "sets",
                 f"sets * line_bytes must be smaller than the 2**{self.address_bits}-byte "
                 f"address space (at least one tag bit), got {self.sets} sets of "
                 f"{self.line_bytes} bytes")
        _require(_is_int(self.ways) and 1 <= self.ways <= 64, "ways",
                 f"must be an integer from 1 to 64, got {self.ways!r}")
        _require(_is_int(self.null_entries) and 1 <= self.null_entries <= MAX_ENTRIES,
                 "null_entries",
                 f"must be an integer from 1 to {MAX_ENTRIES}, got {self.null_entries!r}")
        if self.key_width is not None:
            _require(_is_int(self.key_width) and self.key_width >= 1, "key_width",
                     f"must be a positive integer, got {self.key_width!r}")
            _require(self.key_width <= self.line_address_bits, "key_width",
                     f"must not be wider than the line address (address_bits - "
                     f"log2(line_bytes) = {self.line_address_bits} bits), got {self.key_width}")
            _require(self.key_width == self.line_address_bits, "key_width",
                     f"must equal the line address width ({self.line_address_bits} bits): a "
                     f"narrower key could not tell lines apart, got {self.key_width}")
        try:
            threshold_bits(self.word_format, self.threshold)
        except TypeError as error:
            raise ValueError(str(error)) from None
        _require(self.replacement in REPLACEMENT_POLICIES, "replacement",
                 f"must be one of {', '.join(REPLACEMENT_POLICIES)}, got {self.replacement!r}")
        _require(self.write_policy in WRITE_POLICIES, "write_policy",
                 f"must be one of {', '.join(WRITE_POLICIES)}, got {self.write_policy!r}")
        _require(_is_int(self.memory_latency) and self.memory_latency >= 1, "memory_latency",
                 f"must be an integer >= 1, got {self.memory_latency!r}")
        _require(isinstance(self.null_cache_enabled, bool), "null_cache_enabled",
                 f"must be True or False, got {self.null_cache_enabled!r}")

    @property
    def word_bytes(self) -> int:
        return word_bits(self.word_format) // 8

    @property
    def word_bits(self) -> int:
        return word_bits(self.word_format)

    @property
    def offset_bits(self) -> int:
        return self.line_bytes.bit_length() - 1

    @property
    def line_address_bits(self) -> int:
        """Width of a line address, which is the null cache's key."""
        return self.address_bits - self.offset_bits

    @property
    def set_bits(self) -> int:
        return self.sets.bit_length() - 1

    @property
    def tag_bits(self) -> int:
        return self.line_address_bits - self.set_bits

    @property
    def words_per_line(self) -> int:
        return self.line_bytes // self.word_bytes

    @property
    def word_address_bits(self) -> int:
        return self.address_bits - (self.word_bytes.bit_length() - 1)

    @property
    def approximate(self) -> bool:
        return self.threshold != 0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)
