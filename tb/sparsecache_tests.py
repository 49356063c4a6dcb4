"""cocotb regression for a generated SparseCache.

``ACCELGEN_DESIGN`` is the design's JSON description, ``ACCELGEN_MEMORY_LATENCY`` the latency
the harness's memory answers with, and ``ACCELGEN_CASES`` a JSON list of ``{"kind", "seed",
"length"}`` (kinds of :mod:`accelgen.sim.sparsecache.stress_traces`), optionally with
``"stall"``: the fraction of cycles the response consumer and the memory are not ready (then
the model's timing is not compared, see the harness). Each case is one test: reset, then every
access checked against the golden model (see :mod:`accelgen.tb.sparsecache_driver`).
``ACCELGEN_MODEL_OVERRIDES`` (JSON) changes the model's parameters (not the harness's memory
latency), so a test can show that a wrong model is caught."""

from __future__ import annotations

import json
import os

import cocotb

from accelgen.sim.sparsecache.stress_traces import make_case

from .sparsecache_driver import SparseCacheHarness, params_from_environment


def _load() -> tuple[dict, dict[str, dict]]:
    design_path = os.environ.get("ACCELGEN_DESIGN")
    if not design_path:
        return {}, {}
    with open(design_path) as handle:
        description = json.load(handle)
    cases = json.loads(os.environ.get("ACCELGEN_CASES", "[]"))
    names = {}
    for c in cases:
        suffix = f"_stall{round(100 * c['stall'])}" if c.get("stall") else ""
        names[f"{c['kind']}_{c['seed']}{suffix}"] = c
    return description, names


DESCRIPTION, CASES = _load()


@cocotb.test()
@cocotb.parametrize(case=list(CASES) or ["none"])
async def accesses_match_golden_model(dut, case: str) -> None:
    assert CASES, "ACCELGEN_CASES named no cases: nothing would be checked"
    spec = CASES[case]
    params, latency = params_from_environment(DESCRIPTION)
    stress = make_case(spec["kind"], params, spec["seed"], spec.get("length", 400))
    dut._log.info("case %s: kind=%s seed=%d accesses=%d latency=%d stall=%.2f", case,
                  spec["kind"], spec["seed"], len(stress.accesses), latency,
                  spec.get("stall", 0.0))
    harness = SparseCacheHarness(dut, DESCRIPTION, params, memory_latency=latency)
    await harness.reset()
    report = await harness.run(stress, stall=spec.get("stall", 0.0))
    dut._log.info("case %s: %d accesses in %d cycles", case, report.accesses, report.cycles)
    assert not report.problems, "\n".join(report.problems)
    assert report.accesses == len(stress.accesses)
