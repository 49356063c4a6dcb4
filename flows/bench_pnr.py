"""``benchmarks/results/pnr.json``: Fmax of output-stationary arrays as they grow, on ECP5.

Square int8 arrays are placed and routed with their multipliers in DSP blocks (while the
largest device has enough: 156 MULT18X18D on an LFE5U-85F, so up to 12x12) and with
multipliers built from LUTs and carry chains (while the LUTs fit), with 0, 1 or 2 register
stages around each PE's multiplier, so each series compares like with like. A systolic
array's paths run from PE to neighbouring PE whatever the size, so its Fmax should not fall
as it grows; where it does, the records' critical paths say why.
"""

from __future__ import annotations

import datetime
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from accelgen.generators.emit import generate_systolic, write_design
from accelgen.generators.systolic import SystolicConfig

from .bench_systolic import machine_context
from .json_report import write_json_report
from .pnr import place_and_route
from .toolchain import ToolError

__all__ = ["RUNS", "Run", "run_pnr_benchmark"]

MULTIPLIERS: dict[str, bool] = {"dsp": True, "lut": False}
class Run(NamedTuple):
    """One square array to place and route."""

    size: int
    multipliers: str  # a key of MULTIPLIERS
    stages: int = 0  # multiplier_stages
    width: int = 8  # operand bits


RUNS: tuple[Run, ...] = (
    Run(4, "dsp", 2), Run(8, "dsp", 2), Run(12, "dsp", 2), Run(16, "dsp", 2),
    Run(4, "lut", 2), Run(8, "lut", 2), Run(16, "lut", 2),
    Run(4, "dsp", 0), Run(8, "dsp", 0), Run(4, "dsp", 1), Run(8, "dsp", 1),
    Run(4, "lut", 2, 4), Run(8, "lut", 2, 4), Run(16, "lut", 2, 4),
)
"""DSP multipliers up to 12x12 (144 of the 85F's 156 MULT18X18D); the 16x16 DSP run records
why that size does not fit an ECP5 (found after synthesis, in minutes). LUT multipliers
(Booth-encoded, about 160 LUT4 per int8 multiplier) are tried at 16x16, the size the DSPs
cannot reach, and do not fit either; the same arrays with 4-bit operands fit at 16x16. Two
multiplier stages is the series that should keep its Fmax; 0 and 1 show what each stage
buys."""


def _progress(message: str) -> None:
    print(f"bench pnr: {message}", file=sys.stderr, flush=True)


def _label(run: Run) -> str:
    size, multipliers, stages, width = run
    return (f"{size}x{size} int{width} {multipliers}, {stages} multiplier "
            f"stage{'' if stages == 1 else 's'}")


def _key(record: dict[str, Any]) -> Run:
    """The run a record measured (records from before a field existed take its default)."""
    return Run(record["size"], record["multipliers"], record.get("multiplier_stages", 0),
               record.get("operand_width", 8))


def _measure(run: Run, work: Path, target: str, seed: int) -> dict[str, Any]:
    size, multipliers, stages, width = run
    cfg = SystolicConfig(rows=size, cols=size, dataflow="os", multiplier_stages=stages,
                         input_width=width, weight_width=width)
    v_path, _ = write_design(generate_systolic(cfg), work / "design")
    record: dict[str, Any] = {"size": size, "rows": size, "cols": size, "dataflow": "os",
                              "module": cfg.name, "multipliers": multipliers,
                              "multiplier_stages": stages, "operand_width": width}
    start = time.perf_counter()
    try:
        report = place_and_route(v_path, target, work / f"{size}-{multipliers}",
                                 dsp=MULTIPLIERS[multipliers], seed=seed)
    except ToolError as error:
        record.update(error=str(error).splitlines()[0],
                      seconds_total=round(time.perf_counter() - start, 1))
        _progress(f"{_label(run)}: {record['error']}")
        return record
    report.pop("workdir")
    record.update(report, seconds_total=round(time.perf_counter() - start, 1))
    _progress(f"{_label(run)}: {report['fmax_mhz']} MHz on "
              f"{report['device']['name']} in {record['seconds_total']} s")
    return record


def _report(target: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "benchmark": "pnr",
        "target": target,
        "context": machine_context(),
        "notes": {
            "design": "output-stationary arrays, int8 (28-bit accumulators) unless "
                      "operand_width says otherwise, "
                      "multiplier_stages 0, 1 (product register) or 2 (operand and product "
                      "registers)",
            "lut_multipliers": "Booth-encoded by Yosys' booth pass before synth_ecp5 -nodsp",
            "harness": "inputs from one shift-register pin, outputs captured and folded by a "
                       "registered XOR tree to one pin (accelgen.generators.timing_harness)",
            "fmax_mhz": "nextpnr's achieved frequency for the clock, seed fixed, target "
                        "frequency the flow default",
            "seconds_total": "harness generation, Yosys and nextpnr, wall time; cpu_seconds "
                             "is the tools' CPU time, which does not depend on machine load",
            "date": "each record's own; the context is the last run's",
        },
        "records": sorted(records, key=lambda r: (r.get("operand_width", 8), r["multipliers"],
                                                  r.get("multiplier_stages", 0), r["size"])),
    }


def run_pnr_benchmark(out_dir: Path, runs: Sequence[Run] = RUNS, *,
                      target: str = "ecp5", seed: int = 1, remeasure: bool = False) -> Path:
    """Place and route every ``(size, multipliers)`` run; write ``out_dir/pnr.json`` (ECP5)
    or ``out_dir/pnr_<target>.json``.

    A run that does not fit (too many multipliers for the DSPs, too many LUTs for the largest
    device) is recorded with the reason. Records already in that file are kept and their
    runs skipped, so sizes can be added one at a time; ``remeasure`` measures ``runs`` again
    (after a generator change) and keeps every other record. The report is rewritten after
    every run, so an interrupted benchmark keeps what it finished. Work files go to a
    temporary directory that is removed afterwards.
    """
    unknown = [run.multipliers for run in runs if run.multipliers not in MULTIPLIERS]
    if unknown:
        raise ValueError(f"multipliers: must be dsp or lut, got {unknown[0]!r}")
    path = out_dir / ("pnr.json" if target == "ecp5" else f"pnr_{target}.json")
    records: list[dict[str, Any]] = []
    if path.is_file():
        previous = json.loads(path.read_text())
        if previous.get("target") == target:
            records = previous["records"]
    if remeasure:
        again = set(runs)
        records = [r for r in records if _key(r) not in again]
    done = {_key(r) for r in records}
    with tempfile.TemporaryDirectory(prefix="accelgen-bench-pnr-") as scratch:
        for run in runs:
            if run in done:
                continue
            record = _measure(run, Path(scratch) / "-".join(map(str, run)), target, seed)
            record["date"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
            records.append(record)
            write_json_report(path, _report(target, records))
    return write_json_report(path, _report(target, records))


def _run(text: str) -> Run:
    """``SIZE:dsp|lut[:STAGES[:WIDTH]]``, as the module's command line takes runs."""
    size, kind, *numbers = text.split(":")
    return Run(int(size), kind, *map(int, numbers))


if __name__ == "__main__":  # pragma: no cover
    arguments = sys.argv[1:]
    print(run_pnr_benchmark(Path(arguments[0] if arguments else "benchmarks/results"),
                            [_run(text) for text in arguments[1:]] or RUNS))
