"""cocotb speed probe: how many clock cycles per wall-clock second a generated array simulates.

Run by :mod:`accelgen.flows.bench_systolic`, never by the regression. ``ACCELGEN_DESIGN`` is the
design's JSON description and ``ACCELGEN_THROUGHPUT`` the JSON file to write. The probe streams
square GEMMs of ``8 * rows`` (random operands, no stalls) back to back until at least
``ACCELGEN_MIN_SECONDS`` (default 2) of wall time have passed, so a small array's short GEMM
still gives a steady figure. Only the streaming is timed: planning the steps, drawing operands and
reset are not. Results are not checked here; :mod:`accelgen.tb.systolic_tests` does that.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.utils import get_sim_time

from accelgen.sim.integers import int_range
from accelgen.sim.systolic_cycles import result_order

from .systolic_driver import SystolicHarness

PERIOD_NS = 10


@cocotb.test()
async def stream_throughput(dut) -> None:
    design_path = os.environ.get("ACCELGEN_DESIGN")
    out_path = os.environ.get("ACCELGEN_THROUGHPUT")
    assert design_path and out_path, "set ACCELGEN_DESIGN and ACCELGEN_THROUGHPUT"
    min_seconds = float(os.environ.get("ACCELGEN_MIN_SECONDS", "2"))
    description = json.loads(Path(design_path).read_text())
    params = description["parameters"]
    harness = SystolicHarness(dut, description, period_ns=PERIOD_NS)
    await harness.reset()

    size = 8 * max(params["rows"], params["cols"])
    rng = np.random.default_rng(1)
    a_lo, a_hi = int_range(params["input_width"], params["signed"])
    b_lo, b_hi = int_range(params["weight_width"], params["signed"])
    a = rng.integers(a_lo, a_hi, size=(size, size), endpoint=True).astype(object)
    b = rng.integers(b_lo, b_hi, size=(size, size), endpoint=True).astype(object)
    steps = harness.plan(a, b)
    expected = len(result_order(harness.timing, size, size, size))

    cycles = 0
    seconds = 0.0
    gemms = 0
    while seconds < min_seconds:
        start_ns = get_sim_time("ns")
        start = time.perf_counter()
        delivered, _, _ = await harness.stream(steps, expected)
        seconds += time.perf_counter() - start
        cycles += round((get_sim_time("ns") - start_ns) / PERIOD_NS)
        gemms += 1
        assert len(delivered) == expected
    report = {"cycles": cycles, "seconds": seconds, "gemms": gemms,
              "gemm_shape": [size, size, size], "cycles_per_second": cycles / seconds}
    Path(out_path).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    dut._log.info("%d cycles in %.2f s (%d GEMMs of %d^3): %.0f cycles/s", cycles, seconds,
                  gemms, size, cycles / seconds)

