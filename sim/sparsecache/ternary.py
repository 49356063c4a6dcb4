"""Ternary (value, care) entries of the null cache's TCAM, and the algebra SparseCache needs.

An entry stands for a set of line addresses (keys): bit ``b`` of a key must equal bit ``b`` of
``value`` where ``care`` has a one, and may be anything (X) where ``care`` has a zero. X
positions are stored as zero in ``value``, so two entries for the same set are equal objects.

The null cache grows an entry by *merging* two partners (same care mask, values differing in
exactly one cared bit) into one with that bit X, and shrinks it by *splitting* off a key that
stops being zero. Keys are non-negative integers of ``key_width`` bits; bit 0 is the least
significant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral

__all__ = ["TernaryEntry", "lowest_match"]


def _check_int(name: str, value: object) -> int:
    if not isinstance(value, Integral) or isinstance(value, bool):
        raise TypeError(f"{name}: must be an integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{name}: must be >= 0, got {value}")
    return int(value)


def _check_width(key_width: object) -> int:
    width = _check_int("key_width", key_width)
    if width < 1:
        raise ValueError(f"key_width: must be >= 1, got {width}")
    return width


@dataclass(frozen=True)
class TernaryEntry:
    """One TCAM entry: ``value`` on the cared bits, X wherever ``care`` is zero.

    Raises :class:`TypeError` for non-integers and :class:`ValueError` for negative numbers or
    a ``value`` with a one in an X position.
    """

    value: int
    care: int

    def __post_init__(self) -> None:
        value = _check_int("value", self.value)
        care = _check_int("care", self.care)
        if value & ~care:
            raise ValueError(
                f"value: bits {value & ~care:#x} are set where care is zero (X positions of "
                f"value must be zero), value={value:#x} care={care:#x}"
            )
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "care", care)

    @classmethod
    def full(cls, key: int, key_width: int) -> TernaryEntry:
        """The exact entry holding only ``key`` (every bit cared)."""
        width = _check_width(key_width)
        key = _check_int("key", key)
        if key >> width:
            raise ValueError(f"key: {key:#x} does not fit {width} bits")
        return cls(key, (1 << width) - 1)

    @classmethod
    def from_pattern(cls, pattern: str) -> TernaryEntry:
        """Parse a pattern such as ``"01X1"`` (most significant bit first)."""
        if not pattern or set(pattern.upper()) - set("01X"):
            raise ValueError(f"pattern: must be a non-empty string of 0, 1 and X, got {pattern!r}")
        value = care = 0
        for char in pattern.upper():
            value = (value << 1) | (char == "1")
            care = (care << 1) | (char != "X")
        return cls(value, care)

    def pattern(self, key_width: int) -> str:
        """The entry as ``0``/``1``/``X`` characters, most significant bit first."""
        self._check_fits(key_width)
        return "".join(
            "X" if not (self.care >> bit) & 1 else str((self.value >> bit) & 1)
            for bit in reversed(range(key_width))
        )

    def _check_fits(self, key_width: int) -> int:
        width = _check_width(key_width)
        if self.care >> width:
            raise ValueError(f"care: {self.care:#x} has bits above key_width={width}")
        return width

    def x_bits(self, key_width: int) -> int:
        """Number of X (don't-care) positions among the low ``key_width`` bits."""
        width = self._check_fits(key_width)
        return width - self.care.bit_count()

    def lines(self, key_width: int) -> int:
        """Number of keys (cache lines) the entry covers: ``2 ** x_bits``."""
        return 1 << self.x_bits(key_width)

    def covers(self, key: int) -> bool:
        """Whether ``key`` agrees with ``value`` on every cared bit."""
        key = _check_int("key", key)
        return (key ^ self.value) & self.care == 0

    def partner_bit(self, other: TernaryEntry) -> int | None:
        """The one cared bit in which ``other`` differs, when the two can merge, else ``None``.

        Partners have the same care mask and values differing in exactly one (cared) bit;
        identical entries are not partners. Symmetric.
        """
        if not isinstance(other, TernaryEntry):
            raise TypeError(f"other: must be a TernaryEntry, got {other!r}")
        if self.care != other.care:
            return None
        difference = self.value ^ other.value
        if difference == 0 or difference & (difference - 1):
            return None
        return difference.bit_length() - 1

    def merged(self, other: TernaryEntry) -> TernaryEntry:
        """The entry covering both partners: their differing bit becomes X.

        Raises :class:`ValueError` when the two are not partners (see :meth:`partner_bit`).
        """
        bit = self.partner_bit(other)
        if bit is None:
            raise ValueError(
                f"entries value={self.value:#x}/care={self.care:#x} and "
                f"value={other.value:#x}/care={other.care:#x} are not merge partners: they need "
                "the same care mask and values differing in exactly one bit"
            )
        mask = ~(1 << bit)
        return TernaryEntry(self.value & mask, self.care & mask)

    def split(self, key: int, key_width: int) -> list[TernaryEntry]:
        """Entries covering exactly this entry's keys except ``key``, which it must cover.

        One piece per X bit, in order from the most significant X bit to the least: piece ``j``
        copies ``key`` on the first ``j`` X bits (counted from the top), has the inverse of
        ``key``'s bit at X bit ``j``, and leaves the lower X bits X. The pieces are disjoint and
        piece ``j`` covers ``2 ** (x_bits - 1 - j)`` keys, so the largest comes first. An exact
        entry splits into an empty list.
        """
        width = self._check_fits(key_width)
        key = _check_int("key", key)
        if key >> width:
            raise ValueError(f"key: {key:#x} does not fit {width} bits")
        if not self.covers(key):
            raise ValueError(
                f"key: {key:#x} is not covered by value={self.value:#x}/care={self.care:#x}"
            )
        pieces = []
        value, care = self.value, self.care
        for bit in reversed(range(width)):
            if (self.care >> bit) & 1:
                continue
            key_bit = (key >> bit) & 1
            pieces.append(TernaryEntry(value | ((key_bit ^ 1) << bit), care | (1 << bit)))
            value |= key_bit << bit
            care |= 1 << bit
        return pieces


def lowest_match(entries: Sequence[TernaryEntry | None], key: int) -> int | None:
    """Index of the first entry covering ``key`` (``None`` slots are invalid), or ``None``.

    This is the TCAM's priority rule: the lowest matching index wins.
    """
    for index, entry in enumerate(entries):
        if entry is not None and entry.covers(key):
            return index
    return None
