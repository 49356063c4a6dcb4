"""cocotb: slices of a DNN inference trace through a generated SparseCache, access by access.

``ACCELGEN_DESIGN`` is the design's JSON, ``ACCELGEN_MEMORY_LATENCY`` the memory's latency,
``ACCELGEN_TRACE`` a trace file (:mod:`accelgen.sim.workloads.trace_format`) and
``ACCELGEN_TRACE_SLICES`` a JSON list of ``{"op": name, "count": n}``: the first ``n`` records
of each named op (loop) of the trace, each run as one test from reset with the trace's whole
initial image in memory. The harness (:mod:`accelgen.tb.sparsecache_driver`) checks every
access against the golden model: outcome, response word, accept and response cycles, the null
cache's slots and ranks, soundness, and the total cycles. ``ACCELGEN_MODEL_OVERRIDES`` (JSON)
changes the model's parameters, so a test can show that a wrong model is caught.
"""

from __future__ import annotations

import json
import os
from collections import Counter

import cocotb

from accelgen.sim.sparsecache.hierarchy import Op, SparseCacheModel
from accelgen.sim.sparsecache.memory import LineMemory
from accelgen.sim.sparsecache.stress_traces import Access, StressCase
from accelgen.sim.workloads.trace_format import STORE, TraceReader

from .sparsecache_driver import SparseCacheHarness, params_from_environment


def _load() -> tuple[dict, dict[str, dict]]:
    design_path = os.environ.get("ACCELGEN_DESIGN")
    if not design_path:
        return {}, {}
    with open(design_path) as handle:
        description = json.load(handle)
    slices = json.loads(os.environ.get("ACCELGEN_TRACE_SLICES", "[]"))
    return description, {f"{s['op'].replace('/', '_')}_{s['count']}": s for s in slices}


DESCRIPTION, SLICES = _load()


def _case(reader: TraceReader, spec: dict, line_bytes: int, address_bits: int) -> StressCase:
    ops = {op["name"]: op for op in reader.metadata["ops"]}
    if spec["op"] not in ops:
        raise ValueError(f"trace has no op {spec['op']!r}; ops: {', '.join(ops)}")
    op = ops[spec["op"]]
    count = min(spec["count"], op["count"])
    records = reader.records[op["first"]:op["first"] + count]
    accesses = []
    for address, value, gap, kind in zip(records["address"].tolist(), records["value"].tolist(),
                                         records["gap"].tolist(), records["op"].tolist(),
                                         strict=True):
        if address >> address_bits:
            raise ValueError(f"address {address:#x} does not fit the design's {address_bits} "
                             "address bits")
        accesses.append(Access(Op.STORE if kind == STORE else Op.LOAD, address, value, gap))
    return StressCase(f"{spec['op']}_{count}", reader.metadata["seed"],
                      reader.line_image(line_bytes), tuple(accesses))


@cocotb.test()
@cocotb.parametrize(trace_slice=list(SLICES) or ["none"])
async def trace_slice_matches_golden_model(dut, trace_slice: str) -> None:
    assert SLICES, "ACCELGEN_TRACE_SLICES named no slices: nothing would be checked"
    spec = SLICES[trace_slice]
    params, latency = params_from_environment(DESCRIPTION)
    reader = TraceReader(os.environ["ACCELGEN_TRACE"])
    case = _case(reader, spec, params.line_bytes, params.address_bits)
    model = SparseCacheModel(params, LineMemory(params.line_bytes, params.line_address_bits,
                                                case.image), snapshots=False)
    outcomes = Counter(model.access(a.op, a.address, a.value, gap=a.gap).outcome.value
                       for a in case.accesses)
    dut._log.info("trace %s (network %s, seed %d), slice %s: %d accesses; model: %s, "
                  "%d cycles", reader.path.name, reader.metadata["network"],
                  reader.metadata["seed"], trace_slice, len(case.accesses), dict(outcomes),
                  model.cycles)
    harness = SparseCacheHarness(dut, DESCRIPTION, params, memory_latency=latency)
    await harness.reset()
    report = await harness.run(case)
    dut._log.info("slice %s: rtl ran %d accesses in %d cycles", trace_slice, report.accesses,
                  report.cycles)
    assert not report.problems, "\n".join(report.problems)
    assert report.accesses == len(case.accesses)
    assert report.cycles == model.cycles
