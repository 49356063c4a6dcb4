"""cocotb regression for the SparseCache TCAM: every cycle checked against a ternary.py model.

``ACCELGEN_DESIGN`` is the design's JSON description (``parameters``: ``entries``,
``key_width``; ``same_index_write_invalidate``: which port wins when both name one entry) and
``ACCELGEN_CASES`` a JSON list of ``{"name", "kind", "seed", "steps"}``. Kinds:

* ``random``: writes, invalidations and lookups of all sorts.
* ``fill``: every entry written, then mostly lookups (the table stays full).
* ``all_x``: many all-X entries (they match every key), so several entries match at once.
* ``tie``: write and invalidate name the same entry in most cycles.

Each cycle drives the ports after the falling edge, checks ``lookup`` and ``entries`` in the
read-only phase against the model state of the last rising edge, then updates the model.
"""

from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.handle import HierarchyObject
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from accelgen.sim.sparsecache.ternary import TernaryEntry, lowest_match


def _load() -> tuple[dict, dict[str, dict]]:
    path = os.environ.get("ACCELGEN_DESIGN")
    if not path:
        return {}, {}
    with open(path) as handle:
        description = json.load(handle)
    cases = json.loads(os.environ.get("ACCELGEN_CASES", "[]"))
    return description, {case["name"]: case for case in cases}


DESCRIPTION, CASES = _load()

# Probabilities per kind: write, invalidate, same index for both, all-X entry.
_MIX = {
    "random": (0.35, 0.2, 0.1, 0.05),
    "fill": (0.05, 0.02, 0.0, 0.0),
    "all_x": (0.4, 0.2, 0.1, 0.4),
    "tie": (0.8, 0.8, 0.8, 0.05),
}


class TcamModel:
    """Registered (value, care, valid) per entry, updated like the hardware at a clock edge."""

    def __init__(self, entries: int, key_width: int, write_wins: bool):
        self.entries = entries
        self.key_width = key_width
        self.write_wins = write_wins
        self.slots = [(0, 0, False)] * entries

    def ternary(self) -> list[TernaryEntry | None]:
        return [TernaryEntry(v, c) if valid else None for v, c, valid in self.slots]

    def expected(self, key: int) -> tuple[int, bool, int]:
        """(matches vector, hit, index) for ``key``."""
        table = self.ternary()
        matches = sum(1 << i for i, e in enumerate(table) if e is not None and e.covers(key))
        index = lowest_match(table, key)
        return matches, index is not None, 0 if index is None else index

    def clock(self, write: tuple[int, int, int] | None, invalidate: int | None) -> None:
        """Apply one edge's write and invalidate; the winner of a same-index tie goes last."""
        ops = [("invalidate", invalidate), ("write", write)]
        if not self.write_wins:
            ops.reverse()
        for port, op in ops:
            if op is None:
                continue
            if port == "write":
                index, value, care = op
                if index < self.entries:
                    self.slots[index] = (value & care, care, True)
            elif op < self.entries:
                value, care, _ = self.slots[op]
                self.slots[op] = (value, care, False)


class Stimulus:
    """Random port activity of one case kind, biased towards keys the table covers."""

    def __init__(self, kind: str, rng: random.Random, model: TcamModel, index_width: int):
        self.mix = _MIX[kind]
        self.rng = rng
        self.model = model
        self.index_limit = 1 << index_width  # indices >= entries are legal and do nothing
        self.recent_keys: list[int] = []

    def _index(self) -> int:
        if self.rng.random() < 0.05:
            return self.rng.randrange(self.index_limit)
        return self.rng.randrange(self.model.entries)

    def _pattern(self) -> tuple[int, int]:
        rng, width = self.rng, self.model.key_width
        full = (1 << width) - 1
        value = rng.getrandbits(width)  # X positions get garbage: the TCAM must drop it
        if rng.random() < self.mix[3]:
            return value, 0
        choice = rng.random()
        if choice < 0.4:
            care = full
        elif choice < 0.7:
            care = full & ~rng.getrandbits(width) & ~rng.getrandbits(width)  # few X bits
        else:
            care = rng.getrandbits(width) & rng.getrandbits(width)  # many X bits
        if self.recent_keys and rng.random() < 0.5:
            key = rng.choice(self.recent_keys)
            entry = TernaryEntry(key & care, care)
            if care != full and rng.random() < 0.5:
                # A piece of a split: what the null cache writes when one line turns non-zero.
                pieces = entry.split(key, width)
                piece = rng.choice(pieces)
                return piece.value | (value & ~piece.care), piece.care
            return key | (value & ~care), care
        return value, care

    def key(self) -> int:
        rng, width = self.rng, self.model.key_width
        valid = [e for e in self.model.ternary() if e is not None]
        choice = rng.random()
        if valid and choice < 0.6:
            entry = rng.choice(valid)
            key = entry.value | (rng.getrandbits(width) & ~entry.care & ((1 << width) - 1))
            if rng.random() < 0.2:
                key ^= 1 << rng.randrange(width)  # a neighbour: often a near miss
        elif self.recent_keys and choice < 0.75:
            key = rng.choice(self.recent_keys)
        else:
            key = rng.getrandbits(width)
        self.recent_keys = [*self.recent_keys[-15:], key]
        return key

    def ports(self) -> tuple[tuple[int, int, int] | None, int | None]:
        rng = self.rng
        write = invalidate = None
        if rng.random() < self.mix[0]:
            write = (self._index(), *self._pattern())
        if rng.random() < self.mix[1]:
            invalidate = self._index()
            if write is not None and rng.random() < self.mix[2]:
                invalidate = write[0]
        return write, invalidate


async def _reset(dut: HierarchyObject) -> None:
    dut.write__en.value = 0
    dut.invalidate__en.value = 0
    dut.lookup__key.value = 0
    dut.rst.value = 1
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


def _check(dut: HierarchyObject, model: TcamModel, key: int, step: int) -> None:
    matches, hit, index = model.expected(key)
    got = (int(dut.lookup__matches.value), int(dut.lookup__hit.value),
           int(dut.lookup__index.value))
    assert got == (matches, int(hit), index), (
        f"step {step}, key {key:#x}: got matches={got[0]:#x} hit={got[1]} index={got[2]}, "
        f"expected matches={matches:#x} hit={int(hit)} index={index}; table "
        f"{[e.pattern(model.key_width) if e else None for e in model.ternary()]}"
    )
    stored = int(dut.entries.value)
    width = 2 * model.key_width + 1
    for i, (value, care, valid) in enumerate(model.slots):
        word = (stored >> (i * width)) & ((1 << width) - 1)
        expected = value | (care << model.key_width) | (int(valid) << (2 * model.key_width))
        assert word == expected, (f"step {step}: entries[{i}] is {word:#x}, expected "
                                  f"{expected:#x} (value={value:#x} care={care:#x} valid={valid})")


@cocotb.test()
@cocotb.parametrize(case=list(CASES) or ["none"])
async def tcam_matches_model(dut: HierarchyObject, case: str) -> None:
    assert CASES, "ACCELGEN_CASES named no cases: nothing would be checked"
    spec = CASES[case]
    params = DESCRIPTION["parameters"]
    entries, key_width = params["entries"], params["key_width"]
    winner = DESCRIPTION["same_index_write_invalidate"]
    dut._log.info("case %s: kind=%s seed=%d steps=%d, %dx%d TCAM, %s wins a tie", spec["name"],
                  spec["kind"], spec["seed"], spec["steps"], entries, key_width, winner)
    rng = random.Random(spec["seed"])
    model = TcamModel(entries, key_width, write_wins=winner == "write")
    index_width = len(dut.write__index)
    stimulus = Stimulus(spec["kind"], rng, model, index_width)
    Clock(dut.clk, 10, unit="ns").start()
    await _reset(dut)

    hits = multiple = ties = 0
    for step in range(spec["steps"]):
        if spec["kind"] == "fill" and step < entries:
            write = (step, *stimulus._pattern())
            invalidate = None
        else:
            write, invalidate = stimulus.ports()
        key = stimulus.key()
        dut.lookup__key.value = key
        dut.write__en.value = int(write is not None)
        if write is not None:
            dut.write__index.value, dut.write__value.value, dut.write__care.value = write
        dut.invalidate__en.value = int(invalidate is not None)
        if invalidate is not None:
            dut.invalidate__index.value = invalidate
        await ReadOnly()
        _check(dut, model, key, step)
        matches, hit, _ = model.expected(key)
        hits += hit
        multiple += matches & (matches - 1) != 0
        ties += write is not None and invalidate == write[0]
        await RisingEdge(dut.clk)
        model.clock(write, invalidate)
        await FallingEdge(dut.clk)
    dut._log.info("case %s: %d steps, %d hits (%d with several matches), %d same-index "
                  "write+invalidate", spec["name"], spec["steps"], hits, multiple, ties)
