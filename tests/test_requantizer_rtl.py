"""The hardware requantizer against ``accelgen.sim.requantize`` on Amaranth's simulator.

Every encodable shift amount (including those past the accumulator width, which the hardware
clamps) and values at the accumulator's extremes, ties and random points are compared.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from accelgen.generators.systolic import SystolicConfig
from accelgen.generators.systolic.requantizer import RowRequantizer
from accelgen.sim.integers import int_range
from accelgen.sim.requantize import requantize

SEED = 11

CONFIGS = {
    "signed_half_even": SystolicConfig(rows=1, cols=4, acc_width=12, overflow="wrap",
                                       requantize="half_even"),
    "signed_half_up": SystolicConfig(rows=1, cols=4, input_width=4, weight_width=4,
                                     acc_width=9, overflow="wrap", requantize="half_up"),
    "unsigned_half_even": SystolicConfig(rows=1, cols=4, signed=False, acc_width=11,
                                         overflow="wrap", requantize="half_even"),
    "unsigned_half_up": SystolicConfig(rows=1, cols=4, input_width=3, weight_width=3,
                                       signed=False, acc_width=7, overflow="wrap",
                                       requantize="half_up"),
}


def _values(cfg: SystolicConfig, rng: np.random.Generator, count: int) -> list[int]:
    lo, hi = int_range(cfg.acc_width, cfg.signed)
    edges = [lo, lo + 1, hi, hi - 1, 0, 1, -1 if cfg.signed else 2]
    edges += [s * ((1 << k) + d) for k in range(1, cfg.acc_width - 1) for d in (-1, 0, 1)
              for s in ((1, -1) if cfg.signed else (1,))]
    edges = [v for v in edges if lo <= v <= hi]
    return edges + [int(v) for v in rng.integers(lo, hi + 1, size=count)]


@pytest.mark.parametrize("label", list(CONFIGS))
def test_requantizer_matches_the_golden_model_for_every_shift(label):
    cfg = CONFIGS[label]
    rng = np.random.default_rng(SEED)
    print(f"seed {SEED}")
    values = _values(cfg, rng, 64)
    values += [0] * (-len(values) % cfg.cols)
    dut = RowRequantizer(cfg)
    mismatches: list[tuple[int, int, int, int]] = []

    async def bench(ctx):
        for shift in range(1 << cfg.shift_width):
            for start in range(0, len(values), cfg.cols):
                chunk = values[start:start + cfg.cols]
                ctx.set(dut.c, chunk)
                ctx.set(dut.shift, shift)
                got = [ctx.get(dut.q[j]) for j in range(cfg.cols)]
                want = requantize(np.array(chunk, dtype=object), shift,
                                  rounding=cfg.requantize.value, out_width=cfg.input_width,
                                  signed=cfg.signed)
                mismatches.extend((v, shift, g, int(w))
                                  for v, g, w in zip(chunk, got, want, strict=True) if g != w)

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert not mismatches, f"(value, shift, hardware, golden): {mismatches[:8]}"
