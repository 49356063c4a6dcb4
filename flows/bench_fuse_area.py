"""``accelgen bench fuse-area``: what the FuSe mode and the requantizer cost in area.

For every square size, four output-stationary int8 arrays are synthesized with Yosys (generic
gates; ECP5 LUT4/FF/MULT18X18D/CCU2C/BRAM): the plain array, the FuSe-capable one, and both
with a ``half_even`` requantizer. Overhead is ``(design - base) / base`` per metric: FuSe against
plain (with and without the requantizer on both sides), and each array with the requantizer
against the same array without it (its cost in GEMM and in FuSe mode).

With ``breakdown``, the PE module and the row module of the plain and the FuSe array are also
synthesized alone, which splits the FuSe overhead into the PEs (operand multiplexer, step
enables), the rows (broadcast wiring, plus whatever flattening shares across PEs) and the array
level (mode switch, drain-chain, deskew and result-write enables).

Every synthesis runs in its own process group, ``jobs`` at a time, largest first. An ECP5 run
is stopped after ``timeout_s``; generic runs are not limited, since the goal is judged on them.
An ECP5 timeout or tool failure (Yosys' ECP5 flow has crashed on designs the generic flow
accepts) is recorded as not measured with the reason. A generic failure means a broken design
and raises :class:`ToolError` naming the step before anything is written. The JSON and the plot
are written atomically at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from accelgen.flows.atomic import write_atomically
from accelgen.generators.emit import generate_systolic, write_design
from accelgen.generators.systolic import SystolicConfig

from .bench_fuse import check_request as fuse_check_request
from .bench_systolic import FITTED, _pyplot, _size_ticks, machine_context
from .synth_jobs import SynthJob, check_run_options, new_workdir, not_measured, run_jobs
from .toolchain import ToolError

__all__ = ["METRICS", "PAPER", "SIZES", "TARGETS", "VARIANTS", "check_request",
           "run_fuse_area_benchmark"]

SIZES: tuple[int, ...] = (8, 16, 32)
TARGETS: tuple[str, ...] = ("generic", "ecp5")
DEFAULT_TIMEOUT_S = 25 * 60.0
REQUANTIZE = "half_even"

VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "fuse": {"fuse": True},
    "plain_rq": {"requantize": REQUANTIZE},
    "fuse_rq": {"fuse": True, "requantize": REQUANTIZE},
}
"""Design points at each size, as changes to the default int8 output-stationary array."""

COMPARISONS: dict[str, tuple[str, str]] = {
    "fuse": ("plain", "fuse"),
    "fuse_with_requantizer": ("plain_rq", "fuse_rq"),
    "requantizer_gemm": ("plain", "plain_rq"),
    "requantizer_fuse": ("fuse", "fuse_rq"),
}
"""Overheads reported at each size: name -> (base variant, design variant)."""

METRICS: dict[str, Callable[[dict], int]] = {
    **FITTED,
    "ecp5_lut_with_carry": lambda area: area["ecp5"]["lut"] + 2 * area["ecp5"]["carry"],
    "ecp5_bram": lambda area: area["ecp5"]["bram"],
}
"""Each metric's name starts with the target it is read from."""

PARTS = ("array", "row", "pe")

PAPER = {
    "overhead": 0.0435,
    "size": 32,
    "source": "Selvam, Ganesan, Kumar, 'FuSeConv: Fully Separable Convolutions for Fast "
              "Inference on Systolic Arrays', DATE 2021: 4.35% area (2.25% power) for a 32x32 "
              "array, ASIC synthesis",
    "metric": "generic_cells",
    "why_this_metric": "the paper's figure is ASIC area; Yosys' generic gate count is the "
                       "closest proxy here (FPGA LUT counts exclude the multipliers, which "
                       "sit in DSP blocks)",
}

NOTES = {
    "area": "Yosys: generic = synth -flatten (internal gate library, every gate or flip-flop "
            "one cell); ecp5 = synth_ecp5. ecp5 lut counts free-standing LUT4s; each CCU2C "
            "(carry) holds two more, which ecp5_lut_with_carry adds",
    "overhead": "(design - base) / base per metric; null where either side was not measured "
                "or the base is zero",
    "breakdown": "FuSe minus plain, split by synthesizing the PE and row modules alone: "
                 "pe = rows*cols*(PE delta); row = rows*(row delta - cols*PE delta), the "
                 "row's broadcast wiring plus what flattening shares or removes across PEs "
                 "(may be negative); array = array delta - rows*(row delta), the mode switch, "
                 "the drain and deskew enables and the result-write gating",
    "seconds": "wall time of each Yosys run, measured in its own process; runs go `jobs` at "
               "a time on a machine that may be shared (see load_average), so they are upper "
               "bounds on the single-run time; yosys_cpu_s is its CPU time (user + system), "
               "which contention does not inflate",
    "timeout_s": "limit on each ECP5 run's wall time; generic runs are not limited",
}


def _cost(job: SynthJob) -> int:
    """A rough ordering key: PEs synthesized (generic ones are slower)."""
    size, _, part = job.key
    pes = {"array": size * size, "row": size, "pe": 1}[part]
    return pes * (2 if job.target == "generic" else 1)


def _progress(message: str) -> None:
    print(f"bench fuse-area: {message}", file=sys.stderr, flush=True)


def check_request(sizes: Sequence[int], targets: Sequence[str], jobs: int,
                  timeout_s: float) -> tuple[list[int], list[str]]:
    """Sorted unique sizes and targets in :data:`TARGETS` order, or a ``ValueError`` naming
    the bad option."""
    sizes = fuse_check_request(sizes, None, None)[0]  # the same --sizes rules
    return sizes, check_run_options(targets, TARGETS, jobs, timeout_s,
                                    ("--targets", "--jobs", "--timeout"))


def _run_jobs(jobs: list[SynthJob], parallel: int, timeout_s: float
              ) -> dict[SynthJob, dict[str, Any]]:
    """Area record of every job (see :func:`target_record`), ``parallel`` jobs at a time,
    largest first, ECP5 jobs stopped after ``timeout_s``. A generic failure stops every job
    and raises."""
    ordered = sorted(jobs, key=lambda job: -_cost(job))
    outcomes = run_jobs(ordered, parallel, timeout_s, _progress)
    return {job: target_record(job.label, job.target, outcome)
            for job, outcome in outcomes.items()}


def target_record(job_label: str, target: str, outcome: dict[str, Any]) -> dict[str, Any]:
    """One target's area record from a synthesis outcome.

    A generic failure raises :class:`ToolError` (the design itself is broken); an ECP5 failure
    or timeout becomes ``{"measured": False, "reason", "seconds"}``.
    """
    if "error" in outcome and target == "generic":
        raise ToolError(f"{job_label} failed: {outcome['error']}")
    if "report" not in outcome:
        return not_measured(outcome)
    report = outcome["report"]
    record = {"measured": True, "cells": report["cells_total"], "seconds": outcome["seconds"],
              "yosys_cpu_s": outcome["yosys_cpu_s"],
              "yosys_max_rss_mib": outcome["yosys_max_rss_mib"]}
    if target == "generic":
        record["flip_flops"] = report["flip_flops"]
    else:
        record.update(report["fpga"])
    record["cell_types"] = report["cells"]
    return record


# --- overheads -----------------------------------------------------------------------------

def metric(area: dict[str, Any], name: str) -> int | None:
    """Metric ``name`` of one area record (``{target: record}``), ``None`` if not measured."""
    record = area.get(name.split("_")[0])
    if not record or not record.get("measured"):
        return None
    return METRICS[name](area)


def _ratio(delta: float, base: float | None) -> float | None:
    return delta / base if base else None


def overheads(base: dict[str, Any], design: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per metric: both values, their difference and ``difference / base``."""
    table = {}
    for name in METRICS:
        old, new = metric(base, name), metric(design, name)
        if old is None or new is None:
            table[name] = {"base": old, "design": new, "delta": None, "overhead": None}
        else:
            table[name] = {"base": old, "design": new, "delta": new - old,
                           "overhead": _ratio(new - old, old)}
    return table


def split_overhead(size: int, parts: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Where FuSe's extra area sits, per metric; ``parts[variant][part]`` are area records."""
    table = {}
    for name in METRICS:
        values = {part: (metric(parts["plain"][part], name), metric(parts["fuse"][part], name))
                  for part in PARTS}
        if any(None in pair for pair in values.values()):
            continue
        pe_plain = values["pe"][0]
        pe, row, array = (new - old for old, new in (values[p] for p in ("pe", "row", "array")))
        table[name] = {
            "pe_delta": pe,
            "pe_overhead": _ratio(pe, pe_plain),
            "pe": size * size * pe,
            "row": size * (row - size * pe),
            "array": array - size * row,
            "total": array,
        }
    return table


def _goal(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The paper's 4.35 % at 32x32, checked on every measured metric of the FuSe overhead."""
    at = next((r for r in records if r["n"] == PAPER["size"]), None)
    verdicts = {}
    for name in METRICS:
        value = at["overhead"]["fuse"][name]["overhead"] if at else None
        verdicts[name] = {"overhead": value,
                          "met": None if value is None else value <= PAPER["overhead"]}
    return {"target": PAPER["overhead"], "size": PAPER["size"], "metric": PAPER["metric"],
            "met": verdicts[PAPER["metric"]]["met"], "by_metric": verdicts}


# --- the run -------------------------------------------------------------------------------

def _generate(size: int, variant: str, work: Path) -> dict[str, Any]:
    cfg = SystolicConfig(rows=size, cols=size, **VARIANTS[variant])
    start = time.perf_counter()
    design = generate_systolic(cfg)
    seconds = time.perf_counter() - start
    v_path, _ = write_design(design, work / design.name)
    _progress(f"{size}x{size} {variant}: generated {design.name} in {seconds:.1f} s")
    return {"variant": variant, "module": design.name, "generate_s": seconds,
            "verilog_bytes": len(design.verilog.encode()), "verilog": v_path, **VARIANTS[variant]}


def _jobs_for(size: int, design: dict[str, Any], targets: list[str], parts: tuple[str, ...]
              ) -> list[SynthJob]:
    tops = {"array": design["module"], "row": f"{design['module']}_row",
            "pe": f"{design['module']}_pe"}
    here = design["verilog"].parent
    return [SynthJob((size, design["variant"], part),
                     f"{size}x{size} {design['variant']} {part} {target}", target,
                     design["verilog"], tops[part], here / f"synth-{part}-{target}")
            for part in parts for target in targets]


_PLOTTED = (("generic_cells", "generic cells"), ("generic_flip_flops", "generic flip-flops"),
            ("ecp5_lut", "ECP5 LUT4"), ("ecp5_lut_with_carry", "ECP5 LUT4 + 2*CCU2C"),
            ("ecp5_ff", "ECP5 FF"), ("ecp5_dsp", "ECP5 DSP"))


def plot_overhead(report: dict[str, Any], path: Path) -> None:
    """FuSe overhead (left) and the requantizer's own cost in GEMM mode (right), in percent
    against array size, with the paper's 4.35 % as a line."""
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(1, 2, figsize=(12, 4.5), sharey=False)
    records = report["sizes"]
    for axis, comparison, title in ((axes[0], "fuse", "FuSe-capable vs plain OS array"),
                                    (axes[1], "requantizer_gemm",
                                     f"{REQUANTIZE} requantizer vs none (GEMM array)")):
        for name, label in _PLOTTED:
            points = [(r["pes"], r["overhead"][comparison][name]["overhead"]) for r in records]
            points = [(pes, 100 * value) for pes, value in points if value is not None]
            if points:
                axis.plot(*zip(*points, strict=True), "o-", label=label)
        axis.axhline(100 * PAPER["overhead"], color="grey", linestyle="--",
                     label=f"paper: {100 * PAPER['overhead']:.2f}% at 32x32")
        _size_ticks(axis, records)
        axis.set(title=title, ylabel="area overhead (%)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    machine = report["machine"]
    figure.suptitle(f"accelgen FuSe area cost, int8, 28-bit accumulators ({machine['date']}, "
                    f"commit {machine['git_commit']})", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    pyplot.close(figure)


def run_fuse_area_benchmark(out_dir: Path, sizes: Sequence[int] = SIZES, *,
                            targets: Sequence[str] = TARGETS, breakdown: bool = True,
                            jobs: int = 2, timeout_s: float = DEFAULT_TIMEOUT_S) -> Path:
    """Measure every size and variant, write ``fuse_area.json`` and ``fuse_area_overhead.png``
    into ``out_dir`` and return the JSON's path.

    ``breakdown`` also synthesizes the PE and row modules of the plain and FuSe arrays;
    ``timeout_s`` limits each ECP5 run (see the module docstring).
    Raises ``ValueError`` for a bad request and :class:`ToolError` for a generic synthesis
    failure, both before anything is written.
    """
    sizes, targets = check_request(sizes, targets, jobs, timeout_s)
    started = time.perf_counter()
    machine = machine_context()
    load_start = os.getloadavg()
    work = new_workdir(out_dir, ".fuse-area-bench-", _progress)

    designs = {(n, variant): _generate(n, variant, work) for n in sizes for variant in VARIANTS}
    all_jobs = []
    for (n, variant), design in designs.items():
        parts = PARTS if breakdown and variant in ("plain", "fuse") else ("array",)
        all_jobs += _jobs_for(n, design, targets, parts)
    areas: dict[tuple[int, str, str], dict[str, Any]] = {}
    for job, record in _run_jobs(all_jobs, jobs, timeout_s).items():
        areas.setdefault(job.key, {})[job.target] = record

    records = []
    for n in sizes:
        variants = {}
        for variant in VARIANTS:
            design = {k: v for k, v in designs[(n, variant)].items() if k != "verilog"}
            design["area"] = areas[(n, variant, "array")]
            for part in ("row", "pe"):
                design[f"{part}_area"] = areas.get((n, variant, part))
            variants[variant] = design
        record: dict[str, Any] = {
            "n": n, "rows": n, "cols": n, "pes": n * n, "variants": variants,
            "overhead": {name: overheads(variants[base]["area"], variants[other]["area"])
                         for name, (base, other) in COMPARISONS.items()},
            "breakdown": None,
        }
        if breakdown:
            parts = {v: {"array": variants[v]["area"], "row": variants[v]["row_area"],
                         "pe": variants[v]["pe_area"]} for v in ("plain", "fuse")}
            record["breakdown"] = split_overhead(n, parts)
        records.append(record)

    report = {
        "benchmark": "fuse_area",
        "config": {key: value for key, value in SystolicConfig(rows=1, cols=1).to_dict().items()
                   if key not in ("rows", "cols", "result_depth", "fuse", "requantize")},
        "variants": VARIANTS,
        "comparisons": {name: {"base": base, "design": other}
                        for name, (base, other) in COMPARISONS.items()},
        "targets": targets,
        "machine": machine,
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "jobs": jobs,
        "timeout_s": timeout_s,
        "notes": NOTES,
        "paper": PAPER,
        "sizes": records,
        "goal": _goal(records),
        "total_s": time.perf_counter() - started,
    }
    write_atomically(out_dir / "fuse_area_overhead.png", lambda p: plot_overhead(report, p))
    json_path = out_dir / "fuse_area.json"
    text = json.dumps(report, indent=2, sort_keys=True) + "\n"
    write_atomically(json_path, lambda p: p.write_text(text))
    shutil.rmtree(work, ignore_errors=True)
    _progress(f"done in {report['total_s']:.0f} s")
    return json_path
