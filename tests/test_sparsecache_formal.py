"""Formal soundness of SparseCache with Yosys ``sat`` on a small configuration (8-bit line
addresses, 4 TCAM entries, merger and split active, 2x2 L1): an unbounded proof by induction
(with the harness's auxiliary invariants), a bounded proof of the plain invariant for 20 cycles
from reset, and the same check failing on three deliberately broken designs (a zero detector
reading one word, a REMOVE that does nothing, a split that is skipped)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.sim import Simulator

from accelgen.flows.formal import prove_soundness
from accelgen.generators.sparsecache.cache_config import SparseCacheConfig
from accelgen.generators.sparsecache.formal import AUXILIARY, CHECKS, SoundnessHarness
from accelgen.generators.sparsecache.l1_cache import L1Cache, L1Update
from accelgen.sim.sparsecache.l1 import L1Cache as L1Model

# 8-bit line addresses of 2-byte lines (two int8 words), a 2-set 2-way write-back L1 and a
# 4-entry null cache with coverage-aware LRU: small enough for a 20-cycle proof in about a
# minute of CPU, large enough for inserts, merges, exact splits, evictions and write-backs.
SMALL = SparseCacheConfig(address_bits=9, sets=2, ways=2, line_bytes=2, word_format="int8",
                          null_entries=4)
DEPTH = 20


def test_induction_proof(tmp_path: Path) -> None:
    # Base case and induction step of length 1: the assertions hold in every reachable state.
    result = prove_soundness(SMALL, tmp_path, depth=2, induction=True, auxiliary=True)
    print(f"soundness: {result.status} (induction length {result.induction_length}), "
          f"{result.cells} cells, {result.seconds:.0f} s wall, {result.cpu_seconds:.0f} s CPU")
    assert result.status == "proved", (result, (tmp_path / "prove.log").read_text()[-2000:])
    assert result.induction_length == 1


def test_bounded_proof_from_reset(tmp_path: Path) -> None:
    result = prove_soundness(SMALL, tmp_path, depth=DEPTH)
    print(f"soundness: {result.status} for {result.depth} cycles, {result.cells} cells, "
          f"{result.seconds:.0f} s wall, {result.cpu_seconds:.0f} s CPU")
    assert result.status == "bounded", (result, (tmp_path / "prove.log").read_text()[-2000:])
    assert result.depth == DEPTH and result.failed_checks == ()


@pytest.mark.parametrize(("fault", "depth"), [
    # The zero detector reads word 0 only: a line with a non-zero word 1 is inserted (reset
    # sweep, then a load miss: lookup, memory, decide, insert).
    ("first_word_only", 10),
    # REMOVE is acknowledged but does nothing: after that insert, a non-zero store to the
    # covered line fills the L1 while the null cache still covers it.
    ("remove_does_nothing", 17),
    # Only the split is skipped (drops still work): two adjacent zero lines are inserted and
    # merged into one entry with an X bit, then a non-zero store to one of them fills the L1
    # while the merged entry still covers it.
    ("skip_split", 22),
])
def test_proof_fails_on_a_broken_design(tmp_path: Path, fault: str, depth: int) -> None:
    # Depths just long enough for the scenarios above keep the SAT problems small.
    result = prove_soundness(SMALL, tmp_path, depth=depth, fault=fault)
    print(f"{fault}: {result.status} at step {result.failed_step}, {result.cpu_seconds:.0f} s CPU")
    assert result.status == "failed" and not result.holds
    assert result.failed_checks == ("sound",)
    assert result.failed_step is not None and result.failed_step <= depth
    assert result.depth == result.failed_step - 1
    assert (tmp_path / "trace.vcd").stat().st_size > 0


@pytest.mark.parametrize("auxiliary", [False, True])
def test_harness_has_every_check(auxiliary: bool) -> None:
    harness = SoundnessHarness(SMALL, auxiliary=auxiliary)
    text = rtlil.convert(harness, ports=[])
    assert list(harness.checks) == list(CHECKS) + (list(AUXILIARY) if auxiliary else [])
    for check in harness.checks:
        assert f"\\check_{check}" in text
    assert text.count("$anyconst") == 2  # the watched line and its initial contents


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"latency": 0}, "latency: must be an integer >= 1, got 0"),
    ({"fault": "typo"}, "fault: must be one of none, first_word_only, remove_does_nothing, "
                        "skip_split, got 'typo'"),
])
def test_harness_rejects(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SoundnessHarness(SMALL, **kwargs)


def test_depth_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="depth: must be an integer >= 1, got 0"):
        prove_soundness(SMALL, tmp_path, depth=0)


def test_l1_probe_shows_the_ways_holding_a_line() -> None:
    # The proof reads the L1 through this probe; it must see exactly the model's copies.
    cfg = SparseCacheConfig(address_bits=9, sets=2, ways=2, line_bytes=2, word_format="int8",
                            null_entries=4)
    dut = L1Cache(cfg, probe=True)
    model = L1Model(cfg.sets, cfg.ways, cfg.line_bytes)
    rng = np.random.default_rng(11)
    lines = range(8)

    async def bench(ctx):
        while not ctx.get(dut.ready):
            await ctx.tick()
        for step in range(120):
            line = int(rng.choice(lines))
            ctx.set(dut.read.en, 1)
            ctx.set(dut.read.line, line)
            await ctx.tick()
            ctx.set(dut.read.en, 0)
            set_index, way = model.set_of(line), model.lookup(line)
            if way is None:
                op, way = L1Update.WRITE, model.victim(set_index)
                model.fill(line, way, bytes(cfg.line_bytes), False)
            elif rng.integers(0, 2):
                op = L1Update.INVALIDATE
                model.invalidate(set_index, way)
            else:
                op = L1Update.TOUCH
                model.touch(set_index, way)
            ctx.set(dut.update.op, op)
            ctx.set(dut.update.way, way)
            await ctx.tick()
            ctx.set(dut.update.op, L1Update.NONE)
            for probe in lines:
                ctx.set(dut.probe.line, probe)
                held = model.lookup(probe)
                expected = 0 if held is None else 1 << held
                assert ctx.get(dut.probe.ways) == expected, f"step {step}, line {probe}"

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
