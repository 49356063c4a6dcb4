"""cocotb regression for a generated systolic array.

The design and the cases come from the environment, so pytest and ``accelgen regress`` can
run any configuration: ``ACCELGEN_DESIGN`` is the design's JSON description and
``ACCELGEN_CASES`` a JSON list of GEMM cases (see :mod:`accelgen.tb.cases`). Each case is
compared bit-exactly with the numpy golden model; cases without random stalls must also hit
the cycle model's accept and delivery edges exactly.
"""

from __future__ import annotations

import json
import os

import cocotb

from accelgen.sim.gemm import gemm
from accelgen.sim.nm_format import NMPattern, compress, prune_nm
from accelgen.sim.nm_gemm import sparse_gemm
from accelgen.sim.requantize import requantize
from accelgen.sim.systolic_cycles import gemm_schedule

from .cases import GemmCase, operands_for
from .systolic_driver import SystolicHarness


def _load() -> tuple[dict, dict[str, GemmCase]]:
    design_path = os.environ.get("ACCELGEN_DESIGN")
    if not design_path:
        return {}, {}
    with open(design_path) as handle:
        description = json.load(handle)
    cases = [GemmCase(**c) for c in json.loads(os.environ.get("ACCELGEN_CASES", "[]"))]
    return description, {case.name: case for case in cases}


DESCRIPTION, CASES = _load()


@cocotb.test()
@cocotb.parametrize(case=list(CASES) or ["none"])
async def gemm_matches_golden(dut, case: str) -> None:
    assert CASES, "ACCELGEN_CASES named no cases: nothing would be checked"
    spec = CASES[case]
    params = DESCRIPTION["parameters"]
    dut._log.info("case %s: M=%d K=%d N=%d seed=%d operands=%s stalls=%.2f gaps=%.2f",
                  spec.name, spec.m, spec.k, spec.n, spec.seed, spec.operands,
                  spec.sink_stall, spec.source_gap)
    a, b, rng = operands_for(spec, params)
    harness = SystolicHarness(dut, DESCRIPTION)
    await harness.reset()
    stalls = {"rng": rng, "sink_stall": spec.sink_stall, "source_gap": spec.source_gap}
    semantics = {key: params[key] for key in
                 ("input_width", "weight_width", "acc_width", "signed", "overflow")}
    shifts = None
    if harness.requantizes:
        # Near the product width minus the output width, so rounding and saturation both
        # happen; plus the extremes 0 and acc_width - 1.
        low = max(0, params["weight_width"] - 2)
        high = min(params["acc_width"] - 1, low + 6)
        shifts = rng.integers(low, high, size=spec.m, endpoint=True).astype(object)
        shifts[: min(2, spec.m)] = [0, params["acc_width"] - 1][: min(2, spec.m)]
    if harness.sparsity is None:
        run = await harness.gemm(a, b, shifts=shifts, **stalls)
        expected = gemm(a, b, **semantics)
    else:
        # Prune the random weights to the PEs' pattern; the sparse golden model works on the
        # compressed form directly, independently of decompression.
        pattern = NMPattern(*harness.sparsity)
        compressed = compress(prune_nm(b, pattern), pattern)
        run = await harness.sparse_gemm(a, compressed, shifts=shifts, **stalls)
        expected = sparse_gemm(a, compressed, **semantics)
    if shifts is not None:
        want_q = requantize(expected, shifts[:, None], rounding=params["requantize"],
                            out_width=params["input_width"], signed=params["signed"])
        bad = [(i, j) for i in range(spec.m) for j in range(spec.n) if run.q[i, j] != want_q[i, j]]
        assert not bad, (f"{len(bad)} requantized results differ; first at {bad[0]}: got "
                         f"{run.q[bad[0]]}, expected {want_q[bad[0]]} (shift {shifts[bad[0][0]]})")
    mismatches = [(i, j) for i in range(spec.m) for j in range(spec.n)
                  if run.c[i, j] != expected[i, j]]
    assert not mismatches, (f"{len(mismatches)} of {spec.m * spec.n} results differ; first at "
                            f"{mismatches[0]}: got {run.c[mismatches[0]]}, "
                            f"expected {expected[mismatches[0]]}")
    model = gemm_schedule(harness.timing, spec.m, spec.k, spec.n)
    if spec.sink_stall or spec.source_gap:
        assert run.cycles >= model.cycles, (f"{run.cycles} cycles with stalls beat the "
                                            f"stall-free model's {model.cycles}")
    else:
        assert run.accepted == list(model.accepted), "operand accept edges differ from the model"
        assert run.delivered == list(model.delivered), "result delivery edges differ from the model"
        assert run.cycles == model.cycles
    dut._log.info("case %s: %d cycles (model without stalls: %d)", spec.name, run.cycles,
                  model.cycles)
