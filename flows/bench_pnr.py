"""``benchmarks/results/pnr.json``: Fmax of output-stationary arrays as they grow, on ECP5.

Square int8 arrays are placed and routed with their multipliers in DSP blocks (while the
largest device has enough: 156 MULT18X18D on an LFE5U-85F, so up to 12x12) and with
multipliers built from LUTs and carry chains (while the LUTs fit), so each series compares
like with like. A systolic array's paths run from PE to neighbouring PE whatever the size,
so its Fmax should not fall as it grows; where it does, the records' critical paths say why.
"""

from __future__ import annotations

import datetime
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from accelgen.generators.emit import generate_systolic, write_design
from accelgen.generators.systolic import SystolicConfig

from .bench_systolic import machine_context
from .json_report import write_json_report
from .pnr import place_and_route
from .toolchain import ToolError

__all__ = ["RUNS", "run_pnr_benchmark"]

MULTIPLIERS: dict[str, bool] = {"dsp": True, "lut": False}
RUNS: tuple[tuple[int, str], ...] = ((4, "dsp"), (4, "lut"), (8, "dsp"), (8, "lut"),
                                     (12, "dsp"), (16, "dsp"))
"""(size, multipliers) runs: DSP multipliers up to 12x12 (144 of the 85F's 156 MULT18X18D);
the 16x16 DSP run records why that size does not fit an ECP5 (found after synthesis, in
minutes). LUT multipliers stop at 8x8: an int8 multiplier built from LUTs takes about 460 LUT4
(4x4 run), so 16x16 would need about 140k of the 85F's 83,640, and synthesizing it only to
learn that takes hours; ask for it with ``--sizes 16 --multipliers lut``."""


def _progress(message: str) -> None:
    print(f"bench pnr: {message}", file=sys.stderr, flush=True)


def _measure(size: int, multipliers: str, work: Path, target: str, seed: int
             ) -> dict[str, Any]:
    cfg = SystolicConfig(rows=size, cols=size, dataflow="os")
    v_path, _ = write_design(generate_systolic(cfg), work / "design")
    record: dict[str, Any] = {"size": size, "rows": size, "cols": size, "dataflow": "os",
                              "module": cfg.name, "multipliers": multipliers}
    start = time.perf_counter()
    try:
        report = place_and_route(v_path, target, work / f"{size}-{multipliers}",
                                 dsp=MULTIPLIERS[multipliers], seed=seed)
    except ToolError as error:
        record.update(error=str(error).splitlines()[0],
                      seconds_total=round(time.perf_counter() - start, 1))
        _progress(f"{size}x{size} {multipliers}: {record['error']}")
        return record
    report.pop("workdir")
    record.update(report, seconds_total=round(time.perf_counter() - start, 1))
    _progress(f"{size}x{size} {multipliers}: {report['fmax_mhz']} MHz on "
              f"{report['device']['name']} in {record['seconds_total']} s")
    return record


def _report(target: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "benchmark": "pnr",
        "target": target,
        "context": machine_context(),
        "notes": {
            "design": "output-stationary int8 arrays, default parameters (28-bit accumulators)",
            "harness": "inputs from one shift-register pin, outputs captured and folded by a "
                       "registered XOR tree to one pin (accelgen.generators.timing_harness)",
            "fmax_mhz": "nextpnr's achieved frequency for the clock, seed fixed, target "
                        "frequency the flow default",
            "seconds_total": "harness generation, Yosys and nextpnr, wall time; cpu_seconds "
                             "is the tools' CPU time, which does not depend on machine load",
            "date": "each record's own; the context is the last run's",
        },
        "records": sorted(records, key=lambda r: (r["multipliers"], r["size"])),
    }


def run_pnr_benchmark(out_dir: Path, runs: Sequence[tuple[int, str]] = RUNS, *,
                      target: str = "ecp5", seed: int = 1, keep_existing: bool = True) -> Path:
    """Place and route every ``(size, multipliers)`` run; write ``out_dir/pnr.json`` (ECP5)
    or ``out_dir/pnr_<target>.json``.

    A run that does not fit (too many multipliers for the DSPs, too many LUTs for the largest
    device) is recorded with the reason. With ``keep_existing``, records already in
    that file are kept and their runs skipped, so sizes can be added
    one at a time; the report is rewritten after every run, so an interrupted benchmark keeps
    what it finished. Work files go to a temporary directory that is removed afterwards.
    """
    unknown = [kind for _, kind in runs if kind not in MULTIPLIERS]
    if unknown:
        raise ValueError(f"multipliers: must be dsp or lut, got {unknown[0]!r}")
    path = out_dir / ("pnr.json" if target == "ecp5" else f"pnr_{target}.json")
    records: list[dict[str, Any]] = []
    if keep_existing and path.is_file():
        previous = json.loads(path.read_text())
        if previous.get("target") == target:
            records = previous["records"]
    done = {(r["size"], r["multipliers"]) for r in records}
    with tempfile.TemporaryDirectory(prefix="accelgen-bench-pnr-") as scratch:
        for size, kind in runs:
            if (size, kind) in done:
                continue
            record = _measure(size, kind, Path(scratch) / f"{size}", target, seed)
            record["date"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
            records.append(record)
            write_json_report(path, _report(target, records))
    return write_json_report(path, _report(target, records))


def _run(text: str) -> tuple[int, str]:
    size, _, kind = text.partition(":")
    return int(size), kind


if __name__ == "__main__":  # pragma: no cover
    arguments = sys.argv[1:]
    print(run_pnr_benchmark(Path(arguments[0] if arguments else "benchmarks/results"),
                            [_run(text) for text in arguments[1:]] or RUNS))
