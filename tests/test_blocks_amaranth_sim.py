"""Fast unit tests of small blocks on Amaranth's own simulator (no Verilator build)."""

from __future__ import annotations

import numpy as np
from amaranth.hdl import unsigned
from amaranth.sim import Simulator

from accelgen.generators.systolic import SystolicConfig
from accelgen.generators.systolic.delay_lines import DelayLines
from accelgen.generators.systolic.pe import OutputStationaryPE
from accelgen.sim.gemm import gemm

SEED = 7


def _run(dut, bench) -> None:
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def test_delay_lines_delay_each_lane_by_its_own_count():
    delays = [0, 1, 3]
    dut = DelayLines(unsigned(8), delays)
    seen: list[list[int]] = []

    async def bench(ctx):
        for t in range(10):
            ctx.set(dut.i, [10 + t, 20 + t, 30 + t])
            seen.append([ctx.get(dut.o[lane]) for lane in range(3)])
            await ctx.tick()

    _run(dut, bench)
    for t in range(3, 10):
        assert seen[t] == [10 + t, 20 + t - 1, 30 + t - 3]


def test_output_stationary_pe_accumulates_valid_steps_and_drains_on_last():
    cfg = SystolicConfig(rows=1, cols=1, max_k=8)
    dut = OutputStationaryPE(cfg)
    rng = np.random.default_rng(SEED)
    a = rng.integers(-128, 128, size=6)
    b = rng.integers(-128, 128, size=6)
    bubbles = [False, True, False, False, True, False, False, False]
    drains: list[int] = []

    async def bench(ctx):
        k = 0
        for bubble in bubbles:
            ctx.set(dut.west.valid, 0 if bubble else 1)
            if not bubble:
                ctx.set(dut.west.a, int(a[k]))
                ctx.set(dut.north.b, int(b[k]))
                ctx.set(dut.west.last, int(k == len(a) - 1))
                k += 1
            await ctx.tick()
        ctx.set(dut.west.valid, 0)
        await ctx.tick()
        drains.append(ctx.get(dut.south.drain))

    _run(dut, bench)
    expected = gemm(a.reshape(1, -1), b.reshape(-1, 1), input_width=8, weight_width=8,
                    acc_width=cfg.acc_width, signed=True)
    assert drains == [expected[0, 0]]


def test_saturating_pe_clamps_at_the_accumulator_limits():
    cfg = SystolicConfig(rows=1, cols=1, acc_width=10, overflow="saturate", max_k=64)
    dut = OutputStationaryPE(cfg)
    results: list[int] = []

    async def bench(ctx):
        for sign in (1, -1):
            for k in range(4):
                ctx.set(dut.west.valid, 1)
                ctx.set(dut.west.a, 127 * sign)
                ctx.set(dut.north.b, 127)
                ctx.set(dut.west.last, int(k == 3))
                await ctx.tick()
            ctx.set(dut.west.valid, 0)
            await ctx.tick()
            results.append(ctx.get(dut.south.drain))

    _run(dut, bench)
    assert results == [511, -512]
