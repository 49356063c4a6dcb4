"""Golden model of the L1 data cache's state: tags, data, dirty bits and true LRU per set.

The cache holds whole lines of ``line_bytes`` bytes; line address ``a`` lives in set
``a % sets`` with tag ``a // sets``. Each set keeps its ways in recency order (most recently
used first). A fill goes to the lowest-numbered invalid way, else to the least recently used
one; a hit or a fill makes the way the most recently used. Invalidation leaves the order alone.

The class knows nothing about timing or memory: :mod:`.hierarchy` drives it. :meth:`access`
is the stand-alone write-back, write-allocate cache (hit or miss per access), which
``tests/test_sparsecache_l1_reference.py`` compares with pycachesim.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["L1Cache", "L1Way"]


@dataclass
class L1Way:
    """One valid way: its line address, its data and whether memory is stale."""

    line: int
    data: bytearray
    dirty: bool = False


class L1Cache:
    """``sets`` x ``ways`` lines of ``line_bytes`` bytes with LRU replacement."""

    def __init__(self, sets: int, ways: int, line_bytes: int):
        if sets < 1 or sets & (sets - 1):
            raise ValueError(f"sets: must be a power of two, got {sets}")
        if ways < 1:
            raise ValueError(f"ways: must be >= 1, got {ways}")
        if line_bytes < 1 or line_bytes & (line_bytes - 1):
            raise ValueError(f"line_bytes: must be a power of two, got {line_bytes}")
        self.sets = sets
        self.ways = ways
        self.line_bytes = line_bytes
        self._ways: list[list[L1Way | None]] = [[None] * ways for _ in range(sets)]
        self._order: list[list[int]] = [list(range(ways)) for _ in range(sets)]
        self._where: dict[int, int] = {}  # line address -> way

    def set_of(self, line: int) -> int:
        return line & (self.sets - 1)

    def lookup(self, line: int) -> int | None:
        """The way holding ``line``, or ``None``."""
        return self._where.get(line)

    def way(self, set_index: int, way: int) -> L1Way | None:
        return self._ways[set_index][way]

    def touch(self, set_index: int, way: int) -> None:
        order = self._order[set_index]
        order.remove(way)
        order.insert(0, way)

    def victim(self, set_index: int) -> int:
        """Lowest invalid way, else the least recently used way."""
        ways = self._ways[set_index]
        for way, content in enumerate(ways):
            if content is None:
                return way
        return self._order[set_index][-1]

    def fill(self, line: int, way: int, data: bytes, dirty: bool) -> L1Way | None:
        """Put ``line`` into ``way`` of its set (most recently used); return what was there."""
        if len(data) != self.line_bytes:
            raise ValueError(f"data: a line is {self.line_bytes} bytes, got {len(data)}")
        set_index = self.set_of(line)
        old = self._ways[set_index][way]
        if old is not None:
            del self._where[old.line]
        self._ways[set_index][way] = L1Way(line, bytearray(data), dirty)
        self._where[line] = way
        self.touch(set_index, way)
        return old

    def invalidate(self, set_index: int, way: int) -> None:
        old = self._ways[set_index][way]
        if old is not None:
            del self._where[old.line]
        self._ways[set_index][way] = None

    def resident_lines(self) -> Iterator[int]:
        return iter(sorted(self._where))

    def recency(self, set_index: int) -> tuple[int, ...]:
        """The set's ways, most recently used first."""
        return tuple(self._order[set_index])

    def access(self, line: int, write: bool) -> tuple[bool, int | None]:
        """A plain write-back, write-allocate access: ``(hit, written-back line or None)``.

        Data is not modelled here (the line reads as zeros); this is the cache on its own.
        """
        set_index = self.set_of(line)
        way = self.lookup(line)
        if way is not None:
            self.touch(set_index, way)
            if write:
                self._ways[set_index][way].dirty = True
            return True, None
        way = self.victim(set_index)
        old = self.fill(line, way, bytes(self.line_bytes), dirty=write)
        return False, old.line if old is not None and old.dirty else None
