"""Golden model of the null cache's state: TCAM slots, recency, replacement, merging, splitting.

The null cache remembers line addresses whose lines are zero in memory, as ternary entries
(:class:`~.ternary.TernaryEntry`) in ``entries`` slots. Everything here is one state change; the
cycle each change happens in is decided by :mod:`.hierarchy`.

* Lookup: the lowest-numbered valid slot covering the key (the TCAM's priority rule).
* Recency: the slots form one list, most recently used first; a slot's *rank* is its place
  in it (0 = most recent). Reset order is slot 0, 1, 2, ... Every write of a slot (insert,
  merge result, split piece) and every lookup hit the hierarchy serves moves the slot to the
  front; invalidation does not move it.
* Insert: an already covered key changes nothing. Otherwise the exact entry goes into the
  lowest invalid slot or, when every slot is valid, into the victim: plain ``lru`` takes the
  least recent slot, ``coverage_lru`` the slot covering the fewest lines and, among those, the
  least recent. Evicting loses nothing: the lines it covered are zero in memory.
* Merge step (the address merger): for the entry in slot ``s``, the lowest-numbered other
  valid slot with the same care mask and a value differing in exactly one cared bit is its
  partner; the merged entry (that bit X) goes into the lower of the two slots and the higher
  one is invalidated. A merge covers exactly the union of the two entries, so it never covers
  a line that was not zero.
* Remove (a non-zero store to a covered key): the covering entry with ``k`` X bits is split
  exactly into the ``k`` pieces :meth:`~.ternary.TernaryEntry.split` gives, the largest first,
  the first into the entry's own slot and each next one into the lowest invalid slot, when
  ``k - 1`` slots are free. Otherwise (and for an exact entry) the entry is invalidated:
  dropping coverage never loses data, because every line it covered is zero in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .params import REPLACEMENT_POLICIES
from .ternary import TernaryEntry

__all__ = ["NullCache", "NullCacheState", "RemoveResult"]


@dataclass(frozen=True)
class NullCacheState:
    """Slot contents (``None`` for invalid) and each slot's recency rank (0 = most recent)."""

    entries: tuple[TernaryEntry | None, ...]
    ranks: tuple[int, ...]

    def describe(self, key_width: int) -> str:
        return " ".join(
            f"{i}:{'-' if e is None else e.pattern(key_width)}/r{r}"
            for i, (e, r) in enumerate(zip(self.entries, self.ranks, strict=True)))


@dataclass(frozen=True)
class RemoveResult:
    """What removing a key's coverage did: the slot written per piece, or ``dropped``."""

    slot: int
    pieces: tuple[int, ...]
    dropped: bool


class NullCache:
    """``entries`` ternary slots over ``key_width``-bit line addresses.

    Slots are indexed by care mask and value, so lookups and partner searches cost a few dict
    probes instead of a scan of every slot (the trace-driven benchmarks run millions).
    """

    def __init__(self, entries: int, key_width: int, replacement: str = "coverage_lru"):
        if entries < 1:
            raise ValueError(f"null_entries: must be >= 1, got {entries}")
        if key_width < 1:
            raise ValueError(f"key_width: must be >= 1, got {key_width}")
        if replacement not in REPLACEMENT_POLICIES:
            raise ValueError(f"replacement: must be one of {', '.join(REPLACEMENT_POLICIES)}, "
                             f"got {replacement!r}")
        self.entries = entries
        self.key_width = key_width
        self.replacement = replacement
        self._slots: list[TernaryEntry | None] = [None] * entries
        self._valid = [False] * entries
        self._x_bits = [0] * entries
        self._index: dict[int, dict[int, set[int]]] = {}  # care -> value -> slots
        self._order: list[int] = list(range(entries))
        self._full_care = (1 << key_width) - 1

    @property
    def slots(self) -> tuple[TernaryEntry | None, ...]:
        return tuple(self._slots)

    def place(self, slot: int, entry: TernaryEntry | None) -> None:
        """Overwrite (or, with ``None``, invalidate) one slot; recency is not changed."""
        old = self._slots[slot]
        if old is not None:
            table = self._index[old.care]
            holders = table[old.value]
            holders.discard(slot)
            if not holders:
                del table[old.value]
                if not table:
                    del self._index[old.care]
        self._slots[slot] = entry
        self._valid[slot] = entry is not None
        if entry is not None:
            self._index.setdefault(entry.care, {}).setdefault(entry.value, set()).add(slot)
            self._x_bits[slot] = self.key_width - entry.care.bit_count()

    def lookup(self, key: int) -> int | None:
        """The lowest valid slot covering ``key``."""
        best = None
        for care, table in self._index.items():
            holders = table.get(key & care)
            if holders:
                low = min(holders)
                if best is None or low < best:
                    best = low
        return best

    def touch(self, slot: int) -> None:
        self._order.remove(slot)
        self._order.insert(0, slot)

    def ranks(self) -> tuple[int, ...]:
        ranks = [0] * self.entries
        for rank, slot in enumerate(self._order):
            ranks[slot] = rank
        return tuple(ranks)

    def state(self) -> NullCacheState:
        return NullCacheState(tuple(self._slots), self.ranks())

    def free_slots(self) -> int:
        return self._valid.count(False)

    def lowest_free(self) -> int | None:
        try:
            return self._valid.index(False)
        except ValueError:
            return None

    def victim(self) -> int:
        """The slot an insert overwrites when every slot is valid."""
        if self.replacement == "lru":
            return self._order[-1]
        best, fewest = self._order[-1], self._x_bits[self._order[-1]]
        for slot in reversed(self._order):  # least recent first: ties keep the older slot
            if fewest == 0:
                break
            if self._x_bits[slot] < fewest:
                best, fewest = slot, self._x_bits[slot]
        return best

    def insert(self, key: int) -> tuple[int, TernaryEntry | None] | None:
        """Cover ``key`` exactly: ``(slot, evicted entry or None)``, or ``None`` if covered."""
        if self.lookup(key) is not None:
            return None
        slot = self.lowest_free()
        if slot is None:
            slot = self.victim()
        evicted = self._slots[slot]
        self.place(slot, TernaryEntry(key, self._full_care))
        self.touch(slot)
        return slot, evicted

    def partner(self, slot: int) -> int | None:
        entry = self._slots[slot]
        assert entry is not None, f"slot {slot} is invalid"
        table = self._index[entry.care]
        best = None
        care = entry.care
        while care:
            bit = care & -care
            care ^= bit
            holders = table.get(entry.value ^ bit)
            if holders:
                low = min(holders)
                if best is None or low < best:
                    best = low
        return best

    def merge_step(self, slot: int) -> int | None:
        """Merge slot ``slot`` with its partner: the merged entry's slot, or ``None``."""
        other = self.partner(slot)
        if other is None:
            return None
        merged = self._slots[slot].merged(self._slots[other])
        low, high = min(slot, other), max(slot, other)
        self.place(high, None)
        self.place(low, merged)
        self.touch(low)
        return low

    def remove(self, key: int) -> RemoveResult:
        """Stop covering ``key`` (which must be covered): split exactly or drop the entry."""
        slot = self.lookup(key)
        if slot is None:
            raise ValueError(f"key: {key:#x} is not covered")
        entry = self._slots[slot]
        k = self._x_bits[slot]
        if k == 0 or self.free_slots() < k - 1:
            self.place(slot, None)
            return RemoveResult(slot, (), dropped=k > 0)
        written = []
        for number, piece in enumerate(entry.split(key, self.key_width)):
            target = slot if number == 0 else self.lowest_free()
            assert target is not None
            self.place(target, piece)
            self.touch(target)
            written.append(target)
        return RemoveResult(slot, tuple(written), dropped=False)

    def covered_lines(self) -> Iterator[int]:
        """Every line address some valid entry covers (an entry may repeat another's)."""
        for entry in self._slots:
            if entry is None:
                continue
            free = [bit for bit in range(self.key_width) if not (entry.care >> bit) & 1]
            for combo in range(1 << len(free)):
                line = entry.value
                for position, bit in enumerate(free):
                    if (combo >> position) & 1:
                        line |= 1 << bit
                yield line
