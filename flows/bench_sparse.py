"""``accelgen bench sparse``: what N:M sparse PEs buy per cycle, per area and per multiplier.

For each square dense weight-stationary array in ``sizes`` and each N:M pattern, two sparse
design points are compared with the dense one:

* equal PEs: the same ``rows x cols``, so the sparse array has N times the multipliers;
* equal multipliers: ``rows * cols / N`` PEs, shaped by :func:`equal_multiplier_shape` (the
  columns are kept and the rows divided by N, so the output tiling along N is unchanged and a
  K tile covers ``rows / N * M`` reduction indices). For N = 1 both points are the same design.

Throughput is dense-equivalent MACs (``m * k * n``, what the dense GEMM would compute) divided by
the cycles of :func:`accelgen.sim.systolic_cycles.gemm_cycles`, the model the RTL is checked
against edge for edge, summed over the layers of :func:`workload` run back to back. Area is
Yosys on the generated Verilog (generic cells; ECP5 LUT4/FF/MULT18X18D/CCU2C). An optional
cross-check runs SCALE-Sim v3's layer-wise N:M model on the same GEMMs in a child interpreter.

A tool failure raises :class:`ToolError` naming the step before anything is written; the JSON
and the plot are written atomically at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from accelgen.flows.atomic import write_atomically
from accelgen.generators.emit import generate_systolic, write_design
from accelgen.generators.systolic import SystolicConfig
from accelgen.sim.networks import network
from accelgen.sim.nm_format import NMPattern
from accelgen.sim.nm_gemm import compressed_macs, dense_equivalent_macs
from accelgen.sim.systolic_cycles import ArrayTiming, gemm_cycles

from .bench_systolic import machine_context
from .scalesim import Gemm, run_scalesim, scalesim_python
from .synth import synthesize
from .toolchain import ToolError

__all__ = ["PATTERNS", "Gemm", "Point", "design_points", "equal_multiplier_shape",
           "run_sparse_benchmark", "throughput", "workload"]

PATTERNS: tuple[str, ...] = ("1:2", "2:4", "1:4", "2:8", "4:8")
SIZES: tuple[int, ...] = (8, 16)
GOALS = {"throughput_per_area_2_4": 1.5, "throughput_per_multiplier_2_4": 2.0}

RESNET50_3X3 = {
    "name": "resnet50_conv3_x_3x3",
    "source": "He et al., Deep Residual Learning (CVPR 2016), Table 1, conv3_x: "
              "3x3, 128 -> 128 on a 28x28 map (the stride-1 3x3 of blocks 2-4), "
              "im2col: M = 28*28, K = 3*3*128, N = 128",
}


@dataclass(frozen=True)
class Point:
    """One design point: ``comparisons`` says which dense baseline it is compared with."""

    label: str
    size: int
    config: SystolicConfig
    comparisons: tuple[str, ...]

    @property
    def pes(self) -> int:
        return self.config.rows * self.config.cols

    @property
    def multipliers(self) -> int:
        return self.pes * (self.config.sparsity[0] if self.config.sparsity else 1)


def workload() -> list[Gemm]:
    """Every MobileNet-V2 pointwise layer, then one ResNet-50 3x3 conv as im2col."""
    gemms = [Gemm(layer.name, layer.out_height * layer.out_width, layer.in_channels,
                  layer.out_channels)
             for layer in network("mobilenet_v2") if layer.kind == "pointwise"]
    return [*gemms, Gemm(RESNET50_3X3["name"], 28 * 28, 3 * 3 * 128, 128)]


def equal_multiplier_shape(rows: int, cols: int, kept: int) -> tuple[int, int] | None:
    """``rows x cols`` PEs re-shaped to hold ``kept`` multipliers each, with the same total.

    Keeps ``cols`` and divides ``rows`` when it can; else the most nearly square shape with
    ``rows * cols / kept`` PEs; ``None`` when that PE count is not an integer.
    """
    if (rows * cols) % kept:
        return None
    if rows % kept == 0:
        return rows // kept, cols
    pes = rows * cols // kept
    best = min((r for r in range(1, pes + 1) if pes % r == 0), key=lambda r: abs(r - pes // r))
    return best, pes // best


def design_points(sizes: Iterable[int], patterns: Iterable[str]) -> list[Point]:
    """Dense, every pattern at equal PEs, and every pattern with N > 1 at equal multipliers."""
    points: list[Point] = []
    for size in sizes:
        dense = SystolicConfig(rows=size, cols=size, dataflow="ws")
        points.append(Point(f"{size}x{size} dense", size, dense, ("dense",)))
        for pattern in patterns:
            sparse = SystolicConfig(rows=size, cols=size, dataflow="ws", pe=pattern)
            kept = sparse.sparsity[0]
            same = ("equal_pes", "equal_multipliers") if kept == 1 else ("equal_pes",)
            points.append(Point(f"{size}x{size} {pattern}", size, sparse, same))
            shape = equal_multiplier_shape(size, size, kept) if kept > 1 else None
            if shape is not None:
                cfg = SystolicConfig(rows=shape[0], cols=shape[1], dataflow="ws", pe=pattern)
                points.append(Point(f"{shape[0]}x{shape[1]} {pattern} (={size}x{size} mults)",
                                    size, cfg, ("equal_multipliers",)))
    return points


@cache
def _cycles(rows: int, cols: int, group: int, depth: int, m: int, k: int, n: int) -> int:
    return gemm_cycles(ArrayTiming(rows, cols, "ws", depth, group=group), m, k, n)


def throughput(cfg: SystolicConfig, gemms: Iterable[Gemm]) -> dict[str, Any]:
    """Cycle-model throughput of ``cfg`` on ``gemms`` run one after another, no overlap.

    ``utilization`` is dense-equivalent MACs over what the PEs could do (PEs * M per cycle);
    ``multiplier_utilization`` counts the products the multipliers really issue (padding slots
    and ragged K groups included), over multipliers * cycles.
    """
    kept, group = cfg.sparsity or (1, 1)
    pattern = NMPattern(kept, group) if cfg.sparsity else None
    pes = cfg.rows * cfg.cols
    layers = []
    for gemm in gemms:
        cycles = _cycles(cfg.rows, cfg.cols, group, cfg.result_depth, gemm.m, gemm.k, gemm.n)
        issued = (compressed_macs(gemm.m, gemm.k, gemm.n, pattern) if pattern
                  else dense_equivalent_macs(gemm.m, gemm.k, gemm.n))
        layers.append({"name": gemm.name, "m": gemm.m, "k": gemm.k, "n": gemm.n,
                       "cycles": cycles, "issued_macs": issued,
                       "dense_equivalent_macs": dense_equivalent_macs(gemm.m, gemm.k, gemm.n)})
    cycles = sum(layer["cycles"] for layer in layers)
    macs = sum(layer["dense_equivalent_macs"] for layer in layers)
    issued = sum(layer["issued_macs"] for layer in layers)
    rate = macs / cycles
    return {
        "cycles": cycles,
        "dense_equivalent_macs": macs,
        "issued_macs": issued,
        "macs_per_cycle": rate,
        "utilization": rate / (pes * group),
        "macs_per_cycle_per_pe": rate / pes,
        "macs_per_cycle_per_multiplier": rate / (pes * kept),
        "multiplier_utilization": issued / cycles / (pes * kept),
        "layers": layers,
    }


def _progress(message: str) -> None:
    print(f"bench sparse: {message}", file=sys.stderr, flush=True)


def _synth(step: str, action: Callable[[], dict]) -> tuple[dict, float]:
    _progress(f"{step} ...")
    start = time.perf_counter()
    try:
        result = action()
    except ToolError as error:
        raise ToolError(f"{step} failed: {error}") from error
    seconds = time.perf_counter() - start
    _progress(f"{step}: {seconds:.1f} s")
    return result, seconds


def _cached_synthesis(v_path: Path, top: str, target: str, workdir: Path,
                      cache: Path | None) -> tuple[dict, float, bool]:
    """Synthesize, or reuse a result (or failure) stored under ``cache`` for identical Verilog."""
    key = hashlib.sha256(v_path.read_bytes()).hexdigest()[:16]
    stored = cache / f"{top}-{target}-{key}.json" if cache else None
    if stored and stored.is_file():
        entry = json.loads(stored.read_text())
        if "error" in entry:  # the same tool on the same Verilog fails the same way
            raise ToolError(f"(cached) {entry['error']}")
        return entry["report"], entry["seconds"], True
    step = f"{top}: yosys {target}"
    try:
        report, seconds = _synth(step, lambda: synthesize(v_path, top, target, workdir))
    except ToolError as error:
        if stored:
            stored.parent.mkdir(parents=True, exist_ok=True)
            stored.write_text(json.dumps({"error": str(error)}))
        raise
    if stored:
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_text(json.dumps({"report": report, "seconds": seconds}))
    return report, seconds, False


def area(cfg: SystolicConfig, work: Path, targets: tuple[str, ...],
         cache: Path | None = None, record_ecp5_failure: bool = False) -> dict[str, Any]:
    """Generate ``cfg`` and synthesize it for each of ``targets`` ("generic", "ecp5").

    With ``record_ecp5_failure`` an ECP5 tool failure becomes ``{"error": ...}`` in the record
    instead of a :class:`ToolError` (generic failures always raise).
    """
    design = generate_systolic(cfg)
    v_path, _ = write_design(design, work / design.name)
    record: dict[str, Any] = {"module": design.name, "generic": None, "ecp5": None}
    for target in targets:
        try:
            report, seconds, cached = _cached_synthesis(
                v_path, design.name, target, work / design.name / f"synth-{target}", cache)
        except ToolError as error:
            if target == "generic" or not record_ecp5_failure:
                raise
            _progress(f"{design.name}: yosys {target} FAILED, recorded: {error}"[:300])
            record[target] = {"error": str(error)[-1500:]}
            continue
        common = {"seconds": seconds, "cached": cached, "cell_types": report["cells"]}
        if target == "generic":
            record["generic"] = {"cells": report["cells_total"],
                                 "flip_flops": report["flip_flops"], **common}
        else:
            record[target] = {"cells": report["cells_total"], **report["fpga"], **common}
    return record


def _per_area(rate: float, record: dict[str, Any]) -> dict[str, float | None]:
    generic = record["generic"]
    ecp5 = record["ecp5"] if record["ecp5"] and "error" not in record["ecp5"] else None
    return {
        "per_generic_cell": rate / generic["cells"] if generic else None,
        "per_ecp5_lut_ff": rate / (ecp5["lut"] + ecp5["ff"]) if ecp5 else None,
        "per_ecp5_lut_ff_carry": (rate / (ecp5["lut"] + ecp5["ff"] + 2 * ecp5["carry"])
                                  if ecp5 else None),
        "per_ecp5_dsp": rate / ecp5["dsp"] if ecp5 and ecp5["dsp"] else None,
    }


def _ratio(value: float | None, base: float | None) -> float | None:
    return value / base if value is not None and base else None


def _compare(record: dict[str, Any], dense: dict[str, Any]) -> dict[str, float | None]:
    """This point's figures divided by its dense baseline's (same size)."""
    ours, base = record["throughput"], dense["throughput"]
    return {
        "macs_per_cycle": ours["macs_per_cycle"] / base["macs_per_cycle"],
        "macs_per_cycle_per_multiplier": (ours["macs_per_cycle_per_multiplier"]
                                          / base["macs_per_cycle_per_multiplier"]),
        **{f"throughput_{key}": _ratio(record["throughput_per_area"][key],
                                       dense["throughput_per_area"][key])
           for key in record["throughput_per_area"]},
        "generic_cells": _ratio(*(r["area"]["generic"]["cells"] if r["area"]["generic"]
                                  else None for r in (record, dense))),
    }


def _goals(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets for 2:4, checked at each size and comparison that has the data."""
    verdicts = []
    for record in records:
        if record["pe"] != "2:4":
            continue
        for comparison in record["comparisons"]:
            ratios = record["vs_dense"]
            for goal, key in (("throughput_per_area_2_4", "throughput_per_generic_cell"),
                              ("throughput_per_multiplier_2_4",
                               "macs_per_cycle_per_multiplier")):
                value = ratios[key]
                verdicts.append({"goal": goal, "target": GOALS[goal], "label": record["label"],
                                 "comparison": comparison, "ratio": value,
                                 "pass": None if value is None else value >= GOALS[goal]})
    return verdicts


NOTES = {
    "throughput": "dense-equivalent MACs (m*k*n per layer) / cycles of accelgen.sim."
                  "systolic_cycles.gemm_cycles (edge-exact against the RTL: weight loads, "
                  "skew, fill and drain, result FIFO); layers run back to back, nothing "
                  "overlapped; cycles do not depend on N, only on M (the group)",
    "equal_multipliers": "rows*cols*N == dense rows*cols: cols kept, rows divided by N (all "
                         "patterns here have an integer shape); for N = 1 the equal-PE design "
                         "already has equal multipliers and is listed once",
    "area": "Yosys: generic = synth -flatten (internal gate library); ecp5 = synth_ecp5. "
            "lut counts free-standing LUT4s; each CCU2C (carry) holds two more; multipliers "
            "map to MULT18X18D (dsp), so LUT+FF area hides the multiplier cost: DSP counts "
            "are reported separately",
    "workload": "MobileNet-V2 pointwise layers (all 34, M = H*W, K = C_in, N = C_out) and "
                "one ResNet-50 conv3_x 3x3 conv as im2col (see resnet50_layer)",
    "scalesim": "optional cross-check on a subset of layers (SCALESIM_LAYERS) at the smallest "
                "size, in a child interpreter (ACCELGEN_SCALESIM_PYTHON, default ours). "
                "scalesim 3.0.0 from PyPI fails under NumPy 2.4.6 (TypeError: only 0-dimensional "
                "arrays can be converted to Python scalars, in double_buffered_scratchpad_mem."
                "service_memory_requests) and runs under NumPy 2.2.6; it is not a dependency",
    "sparsity_assumed": "every weight matrix is taken as exactly N:M sparse (pruned to the "
                        "pattern); accuracy is not evaluated",
}


def _synthesis_cost(point: Point) -> int:
    """A rough ordering key: multipliers plus M-wide activation registers, per PE."""
    return point.pes * (point.multipliers // point.pes + point.config.group)


def _measure(points: list[Point], gemms: list[Gemm], work: Path, ecp5_sizes: set[int],
             jobs: int, cache: Path | None, record_ecp5_failure: bool
             ) -> list[dict[str, Any]]:
    def one(point: Point) -> dict[str, Any]:
        targets = ("generic", "ecp5") if point.size in ecp5_sizes else ("generic",)
        return area(point.config, work, targets, cache, record_ecp5_failure)

    _progress(f"cycle model on {len(gemms)} GEMMs for {len(points)} design points ...")
    rates = [throughput(point.config, gemms) for point in points]
    # Longest first, so the biggest synthesis does not start last and hold up the run.
    order = sorted(range(len(points)), key=lambda i: -_synthesis_cost(points[i]))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        done = dict(zip(order, pool.map(one, [points[i] for i in order]), strict=True))
    areas = [done[i] for i in range(len(points))]
    records = []
    for point, rate, record in zip(points, rates, areas, strict=True):
        records.append({
            "label": point.label, "size": point.size, "rows": point.config.rows,
            "cols": point.config.cols, "pe": point.config.pe, "comparisons": point.comparisons,
            "pes": point.pes, "multipliers": point.multipliers, "module": record["module"],
            "throughput": rate, "area": record,
            "throughput_per_area": _per_area(rate["macs_per_cycle"], record),
        })
    for record in records:
        dense = next(r for r in records if r["size"] == record["size"] and r["pe"] == "dense")
        record["vs_dense"] = _compare(record, dense)
    return records


# --- SCALE-Sim cross-check -----------------------------------------------------------------

SCALESIM_LAYERS = ("block1_project", "block14_project")
"""A subset: SCALE-Sim builds cycle-by-cycle demand matrices (about 12 s per 100k cycles)."""


def scalesim_gemms(gemms: list[Gemm]) -> list[Gemm]:
    """The cross-check's layers: :data:`SCALESIM_LAYERS` where present, else all."""
    chosen = [g for g in gemms if g.name in SCALESIM_LAYERS]
    return chosen or gemms


SCALESIM_DIFFERENCES = [
    "Mapping: SCALE-Sim v3's non-optimized ('layer-wise') N:M mode keeps a 1-multiplier PE and "
    "compresses K to ceil(K/M)*N rows of kept weights, feeding each kept row its gathered "
    "activation (ifmap reads scaled by M/N). Our PE holds N weights and takes M activations. "
    "So our rows x cols N:M array is compared with SCALE-Sim's (rows*N) x cols array with N:M "
    "sparsity: same multipliers, same dense K per fold (rows*M), same N per fold (cols).",
    "Per fold SCALE-Sim counts rows (weight load) + T (activations) + rows + cols - 2 (skew and "
    "drain) and serializes folds with no overlap; our model overlaps the next fold's weight "
    "load with the previous fold's drain (a weight step waits only cols - 1 edges after the "
    "commit) and adds the RTL's result FIFO latency and back-pressure, so SCALE-Sim is higher "
    "per fold by roughly rows + cols - a few edges.",
    "SCALE-Sim's 'Total Cycles' (compute, without DRAM prefetch) is used; it assumes an ideal "
    "SRAM (no stalls here) and counts from the first weight read, as ours counts from the "
    "first accepted step to the last delivered result.",
    "SCALE-Sim does not model the M-wide activation port: its sparse array reads M/N times "
    "more ifmap data, but cycles are those of a dense array on the compressed K.",
]


def scalesim_cross_check(records: list[dict[str, Any]], gemms: list[Gemm], work: Path
                         ) -> dict[str, Any]:
    """Our cycles next to SCALE-Sim v3's for the smallest size's points, or why there are none.

    Optional: any failure (not installed, incompatible NumPy, a crash) is recorded, not raised.
    """
    python = scalesim_python()
    size = min(r["size"] for r in records)
    rows_out = []
    for record in (r for r in records if r["size"] == size):
        kept, _ = (int(x) for x in record["pe"].split(":")) if record["pe"] != "dense" else (1, 1)
        nm = "1:1" if record["pe"] == "dense" else record["pe"]
        shape = (record["rows"] * kept, record["cols"])
        _progress(f"SCALE-Sim {shape[0]}x{shape[1]} {nm} on {len(gemms)} GEMMs ...")
        try:
            theirs = run_scalesim(python, *shape, gemms, work / record["module"], nm=nm)
        except (OSError, RuntimeError, ValueError, LookupError,
                subprocess.SubprocessError) as error:
            return {"status": "failed", "python": python, "error": str(error),
                    "layers": [g.name for g in gemms]}
        ours = {layer["name"]: layer["cycles"] for layer in record["throughput"]["layers"]}
        for gemm, cycles in zip(gemms, theirs["cycles"], strict=True):
            rows_out.append({"label": record["label"], "scalesim_array": f"{shape[0]}x{shape[1]}",
                             "nm": nm, "layer": gemm.name, "m": gemm.m, "k": gemm.k,
                             "n": gemm.n, "accelgen_cycles": ours[gemm.name],
                             "scalesim_cycles": cycles,
                             "scalesim_over_accelgen": cycles / ours[gemm.name]})
        versions = {"scalesim": theirs["scalesim"], "numpy": theirs["numpy"]}
    return {"status": "ok", "python": python, **versions, "rows": rows_out,
            "differences": SCALESIM_DIFFERENCES}


# --- plot --------------------------------------------------------------------------------

def plot(report: dict[str, Any], path: Path) -> None:
    """Dense-equivalent MACs/cycle per generic cell for every point, grouped by comparison."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    records = [r for r in report["points"] if r["throughput_per_area"]["per_generic_cell"]]
    sizes = sorted({r["size"] for r in records})
    figure, axes = pyplot.subplots(1, len(sizes), figsize=(7 * len(sizes), 6), squeeze=False)
    colours = {"dense": "black", "equal_pes": "tab:blue", "equal_multipliers": "tab:orange"}
    for axis, size in zip(axes[0], sizes, strict=True):
        here = [r for r in records if r["size"] == size]
        dense = next(r for r in here if r["pe"] == "dense")
        bars = [("dense", dense)]
        for comparison in ("equal_pes", "equal_multipliers"):
            bars += [(comparison, r) for r in here if comparison in r["comparisons"]]
        values = [1000 * r["throughput_per_area"]["per_generic_cell"] for _, r in bars]
        axis.bar(range(len(bars)), values, color=[colours[c] for c, _ in bars])
        axis.axhline(values[0], color="black", linestyle=":", label="dense")
        axis.axhline(1.5 * values[0], color="red", linestyle="--", alpha=0.6,
                     label="goal for 2:4: 1.5x dense")
        for x, ((_, record), value) in enumerate(zip(bars, values, strict=True)):
            axis.text(x, value, f"{record['vs_dense']['throughput_per_generic_cell']:.2f}x",
                      ha="center", va="bottom", fontsize=8)
        ticks = [f"{r['rows']}x{r['cols']}\n{r['pe']}\n{r['multipliers']} mul" for _, r in bars]
        axis.set_xticks(range(len(bars)), ticks, fontsize=8)
        for comparison, colour in colours.items():
            axis.bar([0], [0], color=colour, label=comparison.replace("_", " "))
        axis.set(title=f"{size}x{size}-dense baseline: equal PEs (blue), equal multipliers "
                       "(orange)", ylabel="dense-eq. MACs/cycle per 1000 generic cells")
        axis.title.set_fontsize(10)
        axis.grid(axis="y", alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle("accelgen N:M sparse WS arrays: throughput per area on MobileNet-V2 "
                    "pointwise + ResNet-50 3x3 (int8, cycle model; ratios vs dense above bars)",
                    fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    pyplot.close(figure)


def run_sparse_benchmark(out_dir: Path, *, sizes: Iterable[int] = SIZES,
                         patterns: Iterable[str] = PATTERNS,
                         ecp5_sizes: Iterable[int] | None = None,
                         gemms: list[Gemm] | None = None, scalesim: bool = True,
                         jobs: int | None = None, max_multipliers: int | None = None,
                         synthesis_cache: Path | None = None,
                         record_ecp5_failure: bool = False) -> Path:
    """Measure every design point, write ``sparse.json`` and the plot; return the JSON path.

    ``ecp5_sizes`` (default: all of ``sizes``) get ECP5 synthesis as well as generic; the rest
    report ``ecp5: null``. ``gemms`` replaces :func:`workload` (tests use a tiny one).
    """
    started = time.perf_counter()
    sizes, patterns = list(sizes), list(patterns)
    ecp5 = set(sizes if ecp5_sizes is None else ecp5_sizes)
    gemms = workload() if gemms is None else gemms
    machine = machine_context()
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".sparse-bench-", dir=out_dir))
    _progress(f"work directory {work}")
    points = design_points(sizes, patterns)
    left_out = [p.label for p in points if max_multipliers and p.multipliers > max_multipliers]
    points = [p for p in points if p.label not in left_out]
    records = _measure(points, gemms, work, ecp5, jobs or os.cpu_count() or 1, synthesis_cache,
                       record_ecp5_failure)
    cross = (scalesim_cross_check(records, scalesim_gemms(gemms), work / "scalesim")
             if scalesim else {"status": "skipped", "reason": "not requested"})
    notes = dict(NOTES)
    if left_out:
        notes["left_out"] = (f"not measured, more than {max_multipliers} multipliers "
                             f"(synthesis time budget): {', '.join(left_out)}")
    if any(p["area"][t] and p["area"][t].get("cached") for p in records
           for t in ("generic", "ecp5")):
        notes["synthesis_cache"] = ("area records with cached=true reuse a Yosys result of an "
                                    "earlier run on byte-identical Verilog (same key: module, "
                                    "target, sha256 of the .v)")
    failed = [p["label"] for p in records if p["area"]["ecp5"] and "error" in p["area"]["ecp5"]]
    if failed:
        notes["ecp5_failed"] = (f"Yosys synth_ecp5 failed (error kept in area.ecp5.error) for: "
                                f"{', '.join(failed)}")
    skipped = sorted(set(sizes) - ecp5)
    if skipped:
        notes["ecp5_skipped"] = f"sizes {skipped}: generic synthesis only (time budget)"
    report = {
        "benchmark": "sparse",
        "machine": machine,
        "notes": notes,
        "resnet50_layer": RESNET50_3X3,
        "workload": [vars(g) for g in gemms],
        "points": records,
        "goals": _goals(records),
        "scalesim": cross,
        "total_s": time.perf_counter() - started,
    }
    write_atomically(out_dir / "sparse_throughput_per_area.png", lambda p: plot(report, p))
    json_path = out_dir / "sparse.json"
    text = json.dumps(report, indent=2, sort_keys=True, default=list) + "\n"
    write_atomically(json_path, lambda p: p.write_text(text))
    shutil.rmtree(work, ignore_errors=True)
    _progress(f"done in {report['total_s']:.0f} s")
    return json_path

