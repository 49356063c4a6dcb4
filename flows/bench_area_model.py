"""``benchmarks/results/area_model.json``: the calibrated area model against flat synthesis.

For every validation point: the model's estimate (cold, calibrating what it lacks, and warm),
the flat synthesis of the whole design with the same library and script, and the relative
error. Then the warm model's speed over many sizes of the calibrated families, which is what a
design-space exploration pays per point, and the TCAM model against flat TCAMs.
"""

from __future__ import annotations

import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from accelgen.generators.sparsecache.config import TcamConfig
from accelgen.generators.sparsecache.tcam import generate_tcam
from accelgen.generators.systolic import SystolicConfig

from .area_model import AreaModel, flat_area, validate
from .bench_systolic import machine_context
from .json_report import write_json_report

__all__ = ["POINTS", "TCAM_POINTS", "run_area_model_benchmark"]

POINTS: dict[str, SystolicConfig] = {
    "os_6x5_int8": SystolicConfig(rows=6, cols=5),
    "os_8x8_int8": SystolicConfig(rows=8, cols=8),
    "os_4x8_int4": SystolicConfig(rows=4, cols=8, input_width=4, weight_width=4),
    "os_6x6_fuse_requant": SystolicConfig(rows=6, cols=6, fuse=True, requantize="half_up",
                                          max_k=256),
    "ws_6x6_int8": SystolicConfig(rows=6, cols=6, dataflow="ws"),
    "ws_8x4_2of4": SystolicConfig(rows=8, cols=4, dataflow="ws", pe="2:4"),
    "ws_5x3_u6_wrap": SystolicConfig(rows=5, cols=3, dataflow="ws", input_width=6,
                                     weight_width=6, signed=False, acc_width=12,
                                     overflow="wrap"),
}
"""Validation points, none of them a calibration size (2x2, 2x4, 3x3, 4x4): both dataflows,
dense and N:M PEs, FuSe with requantization, narrow and wrapping datapaths, square and not."""

TCAM_POINTS: tuple[TcamConfig, ...] = (TcamConfig(entries=16, key_width=16),
                                       TcamConfig(entries=32, key_width=8))

SPEED_REPEATS = 200


def _progress(message: str) -> None:
    print(f"bench area-model: {message}", file=sys.stderr, flush=True)


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _point(label: str, cfg: SystolicConfig, model: AreaModel, work: Path) -> dict[str, Any]:
    before = model.syntheses
    start, cpu = time.perf_counter(), _child_cpu()
    model.estimate(cfg)
    cold_s, cold_cpu = time.perf_counter() - start, _child_cpu() - cpu
    calibration = model.syntheses - before
    start, cpu = time.perf_counter(), _child_cpu()
    record = validate(cfg, model)
    flat_s, flat_cpu = time.perf_counter() - start, _child_cpu() - cpu
    start = time.perf_counter()
    model.estimate(cfg)
    warm_ms = (time.perf_counter() - start) * 1000
    record.update(label=label, parameters=cfg.to_dict(), error_pct=round(100 * record["error"], 2),
                  calibration_syntheses=calibration,
                  calibration_s=round(cold_s, 1), calibration_cpu_s=round(cold_cpu, 1),
                  flat_s=round(flat_s, 1), flat_cpu_s=round(flat_cpu, 1),
                  warm_estimate_ms=round(warm_ms, 3))
    record.pop("error")
    _progress(f"{label}: model {record['model']:,.0f} GE, flat {record['flat']:,.0f} GE, "
              f"error {record['error_pct']:+.2f} % (flat synthesis {record['flat_s']} s)")
    return record


def _speed(model: AreaModel, configs: Sequence[SystolicConfig]) -> dict[str, Any]:
    """Warm estimates of calibrated points: what a design-space exploration pays per point
    once its families are calibrated (the composition does not depend on the array's size)."""
    times = []
    for _ in range(SPEED_REPEATS):
        for cfg in configs:
            start = time.perf_counter()
            model.estimate(cfg)
            times.append((time.perf_counter() - start) * 1000)
    return {"estimates": len(times), "median_ms": round(statistics.median(times), 4),
            "max_ms": round(max(times), 3),
            "points_per_second": round(len(times) / (sum(times) / 1000))}


def _tcam(config: TcamConfig, model: AreaModel, work: Path) -> dict[str, Any]:
    estimate = model.tcam(config)
    design = generate_tcam(config)
    flat = flat_area(design.verilog, design.name, work / design.name, model.liberty)
    record = {"entries": config.entries, "key_width": config.key_width,
              "model": round(estimate.total, 1), "flat": round(flat, 1),
              "error_pct": round(100 * (estimate.total - flat) / flat, 2)}
    _progress(f"tcam {config.entries}x{config.key_width}: error {record['error_pct']:+.2f} %")
    return record


def _report(records: list[dict[str, Any]], speed: dict[str, Any] | None,
            tcams: list[dict[str, Any]], syntheses: int, cached: int) -> dict[str, Any]:
    errors = [abs(r["error_pct"]) for r in records]
    return {
        "benchmark": "area_model",
        "context": machine_context(),
        "notes": {
            "area": "gate equivalents (NAND2 = 1) with flows/cells/accelgen_cells.lib; flat = "
                    "synth -flatten, dfflibmap, abc -liberty of the whole design",
            "error_pct": "100 * (model - flat) / flat",
            "calibration_s": "cold estimate: block syntheses the point needed beyond those "
                             "already cached (by earlier points, or by the cache the run "
                             "started from: see blocks_cached_at_start); *_cpu_s is the CPU "
                             "time of the tool processes, independent of machine load",
            "flat_s": "the flat synthesis of the point; 0 when the cache the run started "
                      "from already held it",
            "speed": f"warm estimates of the validation points, {SPEED_REPEATS} times each",
        },
        "points": records,
        "max_abs_error_pct": max(errors) if errors else None,
        "mean_abs_error_pct": round(statistics.mean(errors), 2) if errors else None,
        "speed": speed,
        "tcam": tcams,
        "block_syntheses": syntheses,
        "blocks_cached_at_start": cached,
    }


def run_area_model_benchmark(out_dir: Path, points: dict[str, SystolicConfig] | None = None, *,
                             cache_dir: Path | None = None, tcam: bool = True) -> Path:
    """Validate every point (default :data:`POINTS`) and write ``area_model.json``.

    ``cache_dir`` defaults to a fresh directory, so calibration times are real; pass the
    user cache to reuse blocks (and flat syntheses). The report is rewritten after every
    point, so an interrupted run keeps what it finished.
    """
    points = POINTS if points is None else points
    path = out_dir / "area_model.json"
    with tempfile.TemporaryDirectory(prefix="accelgen-bench-area-") as scratch:
        work = Path(scratch)
        model = AreaModel(cache_dir=cache_dir or work / "cache")
        cached = len(list(model.cache_dir.glob("*.json"))) if model.cache_dir.is_dir() else 0
        records: list[dict[str, Any]] = []
        for label, cfg in points.items():
            records.append(_point(label, cfg, model, work))
            write_json_report(path, _report(records, None, [], model.syntheses, cached))
        speed = _speed(model, list(points.values()))
        tcams = [_tcam(config, model, work) for config in TCAM_POINTS] if tcam else []
        syntheses = model.syntheses
    return write_json_report(path, _report(records, speed, tcams, syntheses, cached))


if __name__ == "__main__":  # pragma: no cover
    print(run_area_model_benchmark(Path(sys.argv[1] if len(sys.argv) > 1
                                        else "benchmarks/results"),
                                   cache_dir=Path(sys.argv[2]) if len(sys.argv) > 2 else None))
