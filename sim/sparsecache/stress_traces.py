"""Seeded verification traces for SparseCache: random, and adversarial for the null cache.

A case is an initial memory image (line address -> bytes) and a list of accesses; the same
name and seed always give the same case, so pytest and the cocotb testbench rebuild it
independently. The adversarial kinds aim at the places the soundness invariant could break:

* ``merge_split``: zero lines merged into one big entry, then non-zero stores into the middle
  of the block (exact split), loads across it, and zero stores that bring the line back.
* ``fill_evict``: more unmergeable zero lines than entries (evictions), then re-inserts.
* ``strided``: zero lines at strides 2, 4 and 8 (merges on higher address bits) and
  non-zero lines in between.
* ``zero_stores``: non-zero lines zeroed word by word in the L1 (write-back, insert), then
  made non-zero again, back and forth.
* ``no_room``: a full TCAM holding a merged entry, so a split has no room and drops.
* ``busy_merger``: back-to-back accesses with no gaps right after inserts, so lookups,
  touches, inserts and splits meet a running merger.
* ``random``: loads and stores over a region a few times the caches' size, half of the
  lines zero, stores of zero half of the time, random gaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .hierarchy import Op
from .params import SparseCacheParams
from .zero_detector import threshold_bits

__all__ = ["CASE_KINDS", "Access", "StressCase", "make_case"]

CASE_KINDS = ("random", "merge_split", "fill_evict", "strided", "zero_stores", "no_room",
              "busy_merger")


@dataclass(frozen=True)
class Access:
    op: Op
    address: int
    value: int = 0
    gap: int = 0


@dataclass(frozen=True)
class StressCase:
    name: str
    seed: int
    image: dict[int, bytes]
    accesses: tuple[Access, ...]


class _Builder:
    """Words and lines of the configuration's format, drawn from one generator."""

    def __init__(self, params: SparseCacheParams, seed: int):
        self.p = params
        self.rng = np.random.default_rng(seed)
        self.lines = 1 << params.line_address_bits
        self.image: dict[int, bytes] = {}
        self.accesses: list[Access] = []
        self.is_float = params.word_format.startswith("fp")
        self.limit = threshold_bits(params.word_format, params.threshold)

    def word(self, kind: str) -> int:
        """A word's bits: ``zero`` (``-0.0`` half the time for floats), ``near`` (within the
        threshold, not zero when the threshold allows), or ``nonzero``."""
        bits = self.p.word_bits
        mask = (1 << bits) - 1
        if kind == "zero":
            return (1 << (bits - 1)) if self.is_float and self.rng.random() < 0.5 else 0
        if kind == "near" and self.limit > 0:
            magnitude = int(self.rng.integers(1, self.limit + 1))
            if self.is_float:
                return magnitude | ((1 << (bits - 1)) if self.rng.random() < 0.5 else 0)
            return (-magnitude if self.rng.random() < 0.5 else magnitude) & mask
        if self.is_float:
            # A normal number well above any threshold: exponent in the upper half.
            exponent_bits = 5 if bits == 16 else 8
            fraction_bits = bits - 1 - exponent_bits
            exponent = int(self.rng.integers(1 << (exponent_bits - 1), (1 << exponent_bits) - 1))
            fraction = int(self.rng.integers(0, 1 << fraction_bits))
            sign = int(self.rng.integers(0, 2))
            return (sign << (bits - 1)) | (exponent << fraction_bits) | fraction
        value = int(self.rng.integers(self.limit + 1, 1 << (bits - 1)))
        return (-value if self.rng.random() < 0.5 else value) & mask

    def line_bytes(self, kind: str) -> bytes:
        """A whole line: ``zero``, ``near`` (all words near zero) or ``nonzero`` (one word)."""
        words = [self.word("zero" if kind == "nonzero" else kind)
                 for _ in range(self.p.words_per_line)]
        if kind == "nonzero":
            words[int(self.rng.integers(0, len(words)))] = self.word("nonzero")
            for i in range(len(words)):
                if self.rng.random() < 0.5:
                    words[i] = self.word("nonzero")
        return b"".join(w.to_bytes(self.p.word_bytes, "little") for w in words)

    def set_line(self, line: int, kind: str) -> None:
        self.image[line % self.lines] = self.line_bytes(kind)

    def address(self, line: int, word: int | None = None) -> int:
        if word is None:
            word = int(self.rng.integers(0, self.p.words_per_line))
        return ((line % self.lines) << self.p.offset_bits) | (word * self.p.word_bytes)

    def load(self, line: int, word: int | None = None, gap: int = 0) -> None:
        self.accesses.append(Access(Op.LOAD, self.address(line, word), 0, gap))

    def store(self, line: int, value: int, word: int | None = None, gap: int = 0) -> None:
        self.accesses.append(Access(Op.STORE, self.address(line, word), value, gap))

    def gap(self, high: int = 4) -> int:
        return int(self.rng.integers(0, high)) if self.rng.random() < 0.5 else 0

    def base(self, block: int) -> int:
        """A random line address aligned to ``block`` lines."""
        return int(self.rng.integers(0, max(1, self.lines // block))) * block


def _random(b: _Builder, length: int) -> None:
    p = b.p
    span = min(b.lines, 4 * (p.sets * p.ways + p.null_entries))
    base = b.base(span)
    kinds = ["zero", "nonzero"] + (["near"] if p.approximate else [])
    for line in range(base, base + span):
        b.set_line(line, str(b.rng.choice(kinds)))
    for _ in range(length):
        line = base + int(b.rng.integers(0, span))
        if b.rng.random() < 0.6:
            b.load(line, gap=b.gap())
        else:
            kind = str(b.rng.choice(["zero", "nonzero"] + (["near"] if p.approximate else [])))
            b.store(line, b.word(kind), gap=b.gap())


def _merge_split(b: _Builder, length: int) -> None:
    block = min(8, b.lines)
    for repeat in range(max(1, length // (4 * block))):
        base = b.base(block)
        for line in range(base, base + block):
            b.set_line(line, "zero")
        for line in range(base, base + block):
            b.load(line, gap=b.gap(2))
        middle = base + block // 2 + (repeat % 2)
        b.store(middle, b.word("nonzero"), gap=0)
        for line in range(base, base + block):
            b.load(line, gap=0)
        for word in range(b.p.words_per_line):
            b.store(middle, b.word("zero"), word=word, gap=b.gap(2))
        for line in range(base, base + block):
            b.load(line, gap=0)


def _fill_evict(b: _Builder, length: int) -> None:
    count = b.p.null_entries + 3
    # Lines differing in at least two bits never merge: multiples of 3.
    lines = [(3 * i + b.base(1)) % b.lines for i in range(count)]
    for line in lines:
        b.set_line(line, "zero")
    for _ in range(max(1, length // (2 * count))):
        for line in lines:
            b.load(line, gap=b.gap(3))
        for line in reversed(lines):
            b.load(line, gap=0)


def _strided(b: _Builder, length: int) -> None:
    for stride in (2, 4, 8):
        base = b.base(8 * stride)
        zero = [base + stride * i for i in range(8)]
        for line in range(base, base + 8 * stride):
            b.set_line(line, "zero" if line in zero else "nonzero")
        for _ in range(max(1, length // 48)):
            for line in range(base, base + 8 * stride):
                b.load(line, gap=b.gap(2))
            b.store(zero[3], b.word("nonzero"))
            b.load(zero[2])


def _zero_stores(b: _Builder, length: int) -> None:
    lines = [b.base(1) for _ in range(4)]
    for line in lines:
        b.set_line(line, "nonzero")
    for _ in range(max(1, length // (4 * (2 * b.p.words_per_line + 2)))):
        for line in lines:
            for word in range(b.p.words_per_line):
                b.store(line, b.word("zero"), word=word, gap=b.gap(2))
            b.load(line)
            b.store(line, b.word("nonzero"), gap=0)
            b.store(line, b.word("zero"), gap=0)
            for word in range(b.p.words_per_line):
                b.load(line, word=word, gap=b.gap(2))


def _no_room(b: _Builder, length: int) -> None:
    entries = b.p.null_entries
    for _ in range(max(1, length // (3 * entries + 12))):
        base = b.base(4)
        for line in range(base, base + 4):
            b.set_line(line, "zero")
            b.load(line)
        # Fill every other slot with unmergeable exact entries (multiples of 3 apart).
        others = [(base + 4 + 3 * (i + 1)) % b.lines for i in range(entries)]
        for line in others:
            b.set_line(line, "zero")
            b.load(line, gap=b.gap(2))
        b.load(base)
        b.store(base + 1, b.word("nonzero"))
        for line in range(base, base + 4):
            b.load(line)


def _busy_merger(b: _Builder, length: int) -> None:
    block = min(16, b.lines)
    for _ in range(max(1, length // (3 * block))):
        base = b.base(block)
        for line in range(base, base + block):
            b.set_line(line, "zero")
        for line in range(base, base + block):
            b.load(line)
            b.load(line)  # touch while the merger may be busy
            if line % 5 == 4:
                b.store(line - 2, b.word("nonzero"))  # split while it may be busy
            if line % 7 == 6:
                b.store(line - 1, b.word("zero"))  # absorbed


_KINDS = {"random": _random, "merge_split": _merge_split, "fill_evict": _fill_evict,
          "strided": _strided, "zero_stores": _zero_stores, "no_room": _no_room,
          "busy_merger": _busy_merger}


def make_case(kind: str, params: SparseCacheParams, seed: int, length: int = 400) -> StressCase:
    """The ``kind`` case for ``params`` from ``seed``, about ``length`` accesses long."""
    if kind not in _KINDS:
        raise ValueError(f"kind: must be one of {', '.join(CASE_KINDS)}, got {kind!r}")
    builder = _Builder(params, seed)
    _KINDS[kind](builder, length)
    return StressCase(f"{kind}_{seed}", seed, dict(builder.image), tuple(builder.accesses))
