"""cocotb regression for the SparseCache zero detector against ``sim.sparsecache.zero_detector``.

``ACCELGEN_DESIGN`` is the design's JSON description (``parameters``: ``line_bytes``,
``word_format``, ``threshold``); ``ACCELGEN_SEED`` (default 1) seeds the random lines. Every
line is driven on the combinational module, settled for 1 ns, and both outputs are compared with
:func:`detect`. Each test logs how many lines were all-zero and near-zero, so a run that never
exercised one outcome shows it.
"""

from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.handle import HierarchyObject
from cocotb.triggers import Timer

from accelgen.sim.sparsecache.zero_detector import detect, threshold_bits, word_bits


def _load() -> dict:
    path = os.environ.get("ACCELGEN_DESIGN")
    if not path:
        return {}
    with open(path) as handle:
        return json.load(handle)


DESCRIPTION = _load()
PARAMS = DESCRIPTION.get("parameters", {})
SEED = int(os.environ.get("ACCELGEN_SEED", "1"))
_MANTISSA = {"fp16": 10, "fp32": 23}


class Words:
    """Word bit patterns of one format, built from a magnitude and a sign."""

    def __init__(self, fmt: str, threshold: int | float):
        self.fmt = fmt
        self.bits = word_bits(fmt)
        self.is_float = fmt in _MANTISSA
        self.mask = (1 << self.bits) - 1
        self.sign = 1 << (self.bits - 1)
        self.limit = threshold_bits(fmt, threshold)  # largest near-zero magnitude
        if self.is_float:
            mantissa = _MANTISSA[fmt]
            self.infinity = self.mask >> 1 & ~((1 << mantissa) - 1)
            self.largest = self.infinity - 1  # largest finite magnitude
            self.quiet_nan = self.infinity | 1 << (mantissa - 1)
            self.signalling_nan = self.infinity | 1
            self.max_denormal = (1 << mantissa) - 1
        else:
            self.largest = self.sign  # |most negative| = 2**(bits-1)

    def word(self, magnitude: int, negative: bool) -> int:
        if self.is_float:
            return magnitude | (self.sign if negative else 0)
        if magnitude == self.sign:
            negative = True  # only the most negative integer has this magnitude
        return (-magnitude if negative else magnitude) & self.mask

    def line(self, words: list[int]) -> bytes:
        size = self.bits // 8
        return b"".join(word.to_bytes(size, "little") for word in words)


async def _check_lines(dut: HierarchyObject, lines: list[bytes], label: str) -> None:
    fmt, threshold = PARAMS["word_format"], PARAMS["threshold"]
    mismatches = []
    counts = [0, 0]
    for number, line in enumerate(lines):
        dut.line.value = int.from_bytes(line, "little")
        await Timer(1, unit="ns")
        got = (bool(int(dut.all_zero.value)), bool(int(dut.near_zero.value)))
        expected = detect(line, fmt, threshold)
        counts[0] += expected[0]
        counts[1] += expected[1]
        if got != expected:
            mismatches.append((number, line.hex(), got, expected))
    dut._log.info("%s: %d lines, %d all-zero, %d near-zero (%s, threshold %r)", label,
                  len(lines), counts[0], counts[1], fmt, threshold)
    assert not mismatches, (f"{label}: {len(mismatches)} of {len(lines)} lines differ; first: "
                            f"line {mismatches[0][0]} = {mismatches[0][1]} gave "
                            f"(all_zero, near_zero) = {mismatches[0][2]}, expected "
                            f"{mismatches[0][3]}")


def _setup(offset: int) -> tuple[Words, int, random.Random]:
    assert PARAMS, "ACCELGEN_DESIGN named no design: nothing would be checked"
    words = Words(PARAMS["word_format"], PARAMS["threshold"])
    count = PARAMS["line_bytes"] * 8 // words.bits
    return words, count, random.Random(SEED * 1000 + offset)


@cocotb.test()
async def zero_lines(dut: HierarchyObject) -> None:
    """All-zero lines, including -0.0 words for floats."""
    w, count, rng = _setup(1)
    lines = [w.line([0] * count)]
    if w.is_float:
        lines.append(w.line([w.sign] * count))
        lines += [w.line([rng.choice((0, w.sign)) for _ in range(count)]) for _ in range(8)]
    await _check_lines(dut, lines, "zero_lines")


@cocotb.test()
async def one_nonzero_word(dut: HierarchyObject) -> None:
    """One non-zero word at each position of an otherwise zero line (and -0.0 there)."""
    w, count, rng = _setup(2)
    lines = []
    for position in range(count):
        magnitudes = [1, w.largest, rng.randrange(1, w.largest + 1)]
        if w.is_float:
            magnitudes.append(w.max_denormal)
        for magnitude in magnitudes:
            for negative in (False, True):
                words = [0] * count
                words[position] = w.word(magnitude, negative)
                lines.append(w.line(words))
        if w.is_float:
            words = [0] * count
            words[position] = w.sign
            lines.append(w.line(words))
    await _check_lines(dut, lines, "one_nonzero_word")


@cocotb.test()
async def special_values(dut: HierarchyObject) -> None:
    """NaN, infinity and denormals among near-zero words; integer extremes."""
    w, count, rng = _setup(3)
    lines = []

    def near_words() -> list[int]:
        return [w.word(rng.randint(0, w.limit), rng.random() < 0.5) for _ in range(count)]

    if w.is_float:
        specials = [w.infinity, w.quiet_nan, w.signalling_nan, w.infinity | w.mask >> 1]
        for special in specials:
            for negative in (False, True):
                for position in {0, count - 1, rng.randrange(count)}:
                    for base in ([0] * count, near_words()):
                        base[position] = w.word(special, negative)
                        lines.append(w.line(base))
        denormals = [[w.word(rng.randint(1, w.max_denormal), rng.random() < 0.5)
                      for _ in range(count)] for _ in range(8)]
        lines += [w.line(d) for d in denormals]
        lines.append(w.line([w.max_denormal] * count))
        lines.append(w.line([w.word(1, True)] * count))
    else:
        most_positive = w.sign - 1
        lines.append(w.line([w.word(w.sign, True)] * count))
        lines.append(w.line([most_positive] * count))
        for _ in range(8):
            extremes = [rng.choice((w.word(w.sign, True), most_positive, 0, w.mask))
                        for _ in range(count)]
            lines.append(w.line(extremes))
    await _check_lines(dut, lines, "special_values")


@cocotb.test()
async def threshold_edges(dut: HierarchyObject) -> None:
    """Words exactly at the threshold pass; one word just above it fails the line."""
    w, count, rng = _setup(4)
    lines = []
    for _ in range(4):
        lines.append(w.line([w.word(w.limit, rng.random() < 0.5) for _ in range(count)]))
    for above in (w.limit + 1, w.limit + 2):
        if above > w.largest:
            continue
        for position in sorted({0, count - 1, rng.randrange(count)}):
            for negative in (False, True):
                words = [w.word(rng.choice((w.limit, rng.randint(0, w.limit))),
                                rng.random() < 0.5) for _ in range(count)]
                words[position] = w.word(above, negative)
                lines.append(w.line(words))
    await _check_lines(dut, lines, "threshold_edges")


@cocotb.test()
async def random_lines(dut: HierarchyObject) -> None:
    """Random lines: near-zero, near-zero with an outlier, sparse, and uniformly random."""
    w, count, rng = _setup(5)
    lines = []
    for _ in range(400):
        mode = rng.choice(("near", "outlier", "sparse", "random"))
        if mode == "random":
            words = [rng.getrandbits(w.bits) for _ in range(count)]
        elif mode == "sparse":
            words = [rng.getrandbits(w.bits) if rng.random() < 0.1 else 0 for _ in range(count)]
        else:
            words = [w.word(rng.randint(0, w.limit), rng.random() < 0.5) for _ in range(count)]
            if mode == "outlier":
                reach = min(w.largest, w.limit + rng.choice((1, 2, 1 << rng.randrange(w.bits))))
                words[rng.randrange(count)] = w.word(rng.randint(w.limit, reach),
                                                     rng.random() < 0.5)
        lines.append(w.line(words))
    await _check_lines(dut, lines, "random_lines")


_ONE_WORD = bool(PARAMS) and PARAMS["line_bytes"] * 8 == word_bits(PARAMS["word_format"])


@cocotb.test(skip=not _ONE_WORD)
async def every_word(dut: HierarchyObject) -> None:
    """A one-word line: every 8-bit pattern; for wider words every exponent (or high byte)
    with sampled low bits and both signs, plus every pattern within 256 of the threshold."""
    w, _, rng = _setup(6)
    if w.bits == 8:
        patterns = set(range(256))
    else:
        low_bits = _MANTISSA.get(w.fmt, w.bits - 8)
        low_samples = [0, 1, (1 << low_bits) - 1, *(rng.getrandbits(low_bits) for _ in range(4))]
        patterns = {high << low_bits | low for high in range(1 << (w.bits - low_bits))
                    for low in low_samples}
        around = range(max(0, w.limit - 256), min(w.mask >> 1, w.limit + 256) + 1)
        patterns |= {w.word(magnitude, negative) for magnitude in around
                     for negative in (False, True)}
    await _check_lines(dut, [w.line([word]) for word in sorted(patterns)], "every_word")
