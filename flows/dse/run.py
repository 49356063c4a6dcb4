"""``run_dse``: the whole exploration from one call: study, Pareto front, confirmation, report."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from accelgen.generators.systolic import SystolicConfig

from .confirm import confirm_point
from .engine import Constraint, DseRun, redact, run_study
from .evaluate import METRICS, Scoring, evaluate_point
from .report import (
    CONFIRMABLE,
    hypervolume_history,
    pareto_indices,
    trial_record,
    write_outputs,
)
from .workload import Workload

__all__ = ["BASELINES", "DseResult", "run_dse"]

BASELINES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("8x8 os", {"rows": 8, "cols": 8}),
    ("16x16 os", {"rows": 16, "cols": 16}),
    ("16x16 ws", {"rows": 16, "cols": 16, "dataflow": "ws"}),
    ("16x16 os FuSe", {"rows": 16, "cols": 16, "fuse": True, "fuse_variant": "half"}),
)
"""Reference designs (int8, default parameters; the ``rtl/`` reference arrays' family) scored
the same way and marked on the plots; those the space holds are a new study's first trials."""

NOTES: tuple[str, ...] = (
    "latency is cycles per inference from the cycle model, which the RTL matches edge for edge: "
    "layers run back to back, each from its first operand to its last result, operands always "
    "available (no memory stalls); it is never re-measured, so it is 'model' everywhere",
    "area 'model' is the calibrated area model (blocks synthesized once and composed), "
    "'confirmed' the whole design synthesized flat to the same cell library; GE = NAND2 "
    "equivalents",
    "fmax 'model' is place and route of a 2x2 array of the same family with the same multiplier "
    "mapping; 'confirmed' is the whole design in the timing harness",
    "power is a proxy (cell inputs switched per cycle under a random GEMM), not watts",
    "N:M points assume the workload's weights are pruned to the pattern and FuSe points run the "
    "FuSe variant of the network; neither accuracy change is modelled",
    "SparseCache points: the area adds the null cache's TCAM only; the L1 (l1_data_bits) has no "
    "area block and no memory-traffic model exists for these workloads, so L1 size is not "
    "scored",
)


@dataclass(frozen=True)
class DseResult:
    """Paths of what :func:`run_dse` wrote and the report it wrote."""

    report: dict[str, Any]
    paths: dict[str, Path]

    @property
    def pareto(self) -> list[dict[str, Any]]:
        return self.report["pareto"]


def _stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "dse"


def _choose(front: list[dict[str, Any]], objective: str, count: int, max_pes: int | None
            ) -> list[dict[str, Any]]:
    """``count`` points spread evenly along the first objective, among those with at most
    ``max_pes`` PEs (the others are marked ``confirm_skipped``)."""
    if count <= 0:
        return []
    eligible = []
    for point in front:
        if max_pes is not None and point["model"]["pes"] > max_pes:
            point["confirm_skipped"] = f"{point['model']['pes']} PEs > --confirm-max-pes {max_pes}"
        else:
            eligible.append(point)
    if not eligible:
        return []
    ordered = sorted(eligible, key=lambda p: p["model"][METRICS[objective].key])
    if len(ordered) <= count:
        return ordered
    if count == 1:
        return [ordered[len(ordered) // 2]]
    picks = sorted({round(i * (len(ordered) - 1) / (count - 1)) for i in range(count)})
    return [ordered[i] for i in picks]


def _pareto(run: DseRun, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    candidates = []
    for record in records:
        if record["state"] != "complete" or not record.get("feasible", True):
            continue
        if record["hash"] in seen:
            continue
        seen.add(record["hash"])
        candidates.append(record)
    keys = [METRICS[m].key for m in run.objectives]
    values = np.array([[r["figures"][k] for k in keys] for r in candidates], dtype=float)
    directions = [METRICS[m].direction for m in run.objectives]
    front = []
    for i in pareto_indices(values.reshape(len(candidates), len(keys)), directions):
        record = candidates[i]
        front.append({"trial": record["number"], "name": record["name"],
                      "hash": record["hash"], "point": record["point"],
                      "config": record["config"],
                      "model": record["figures"], "fidelity": dict(record["fidelity"]),
                      "confirmed": None, "confirmed_errors": {}})
    return front


def _confirm(run: DseRun, workers: Any, chosen: list[dict[str, Any]], out_dir: Path,
             timeout_s: float | None) -> float:
    start = time.perf_counter()
    study = run.study
    futures = {}
    for point in chosen:
        stored = study.user_attrs.get(f"confirmed:{point['hash']}")
        if stored is not None:
            _apply(run, point, stored)
            continue
        futures[workers.submit(confirm_point, point["config"], run.scoring, out_dir.resolve(),
                               timeout_s)] = point
    while futures:
        for future in workers.wait(list(futures), timeout=5.0):
            point = futures.pop(future)
            try:
                result = future.result()
            except Exception as error:  # a worker died
                result = {"figures": {}, "errors": {"worker": {"error": str(error)}},
                          "seconds": {}}
            study.set_user_attr(f"confirmed:{point['hash']}", result)
            _apply(run, point, result)
    return time.perf_counter() - start


def _apply(run: DseRun, point: dict[str, Any], result: dict[str, Any]) -> None:
    figures = dict(result["figures"])
    if "power" in figures:
        figures["energy"] = round(figures["power"] * point["model"]["cycles"], 1)
    figures["cycles"] = point["model"]["cycles"]  # the cycle model is the RTL's schedule
    point["confirmed"] = figures
    point["confirmed_errors"] = result.get("errors", {})
    point["confirm_seconds"] = result.get("seconds", {})
    point["confirm_workdir"] = result.get("workdir")
    point["error"] = {}
    for metric, key in CONFIRMABLE.items():
        model, real = point["model"].get(key), figures.get(key)
        if real is not None:
            point["fidelity"][metric] = "confirmed"
            if model is not None and real:
                point["error"][metric] = round((model - real) / real, 4)
    if "energy" in figures:
        point["fidelity"]["energy"] = "confirmed"
    point["confirmed_feasible"] = all(
        c.violation({**point["model"], **figures}) <= 0 for c in run.constraints)


def _baselines(run: DseRun, workers: Any, baselines: Sequence[tuple[str, dict[str, Any]]]
               ) -> list[dict[str, Any]]:
    layers = workers.share(run.workload.layers)
    futures = {}
    for label, overrides in baselines:
        point = {**overrides}
        futures[workers.submit(evaluate_point, point, layers, run.scoring)] = (label, point)
    results = []
    while futures:
        for future in workers.wait(list(futures), timeout=5.0):
            label, point = futures.pop(future)
            try:
                result = future.result()
            except Exception as error:
                result = {"error": str(error)}
            name = SystolicConfig(**{k: v for k, v in point.items() if k != "fuse_variant"}).name
            results.append({"label": label, "name": name, "point": point,
                            "figures": result.get("figures"), "error": result.get("error")})
    order = [label for label, _ in baselines]
    return sorted(results, key=lambda r: order.index(r["label"]))


def run_dse(
    workload: Workload | str,
    trials: int = 50,
    objectives: Sequence[str] = ("latency", "area"),
    constraints: Sequence[Constraint | str] = (),
    *,
    confirm: int = 3,
    liberty: Path | None = None,
    target: str = "ecp5",
    confirm_timeout_s: float | None = 3600.0,
    confirm_max_pes: int | None = 256,
    baselines: Sequence[tuple[str, dict[str, Any]]] = BASELINES,
    scorer: str | None = None,
    plots: bool = True,
    **study: Any,
) -> DseResult:
    """Explore, confirm ``confirm`` points of the Pareto front with the real tools, report.

    Arguments as the ``accelgen dse`` options (see :mod:`.cli`); ``study`` holds
    :func:`~.engine.run_study`'s keyword options (``study_name``, ``storage``, ``scheduler``,
    ``sampler``, ``space``, ``seed``, ``out_dir``, ``jobs``, ``progress``).
    ``confirm_max_pes`` keeps larger designs (hours of flat synthesis) out of the confirmation;
    ``scorer`` replaces the model-fidelity scoring (see :class:`~.evaluate.Scoring`). Returns
    the report and the paths of the files written to ``out_dir`` (PNG plots unless
    ``plots`` is false).
    """
    start = time.perf_counter()
    out_dir = Path(study.setdefault("out_dir", Path("out/dse")))
    scoring = Scoring(frozenset(), str(liberty.resolve()) if liberty else None, target, 1,
                      scorer)
    run = run_study(workload, trials, objectives, constraints, scoring=scoring,
                    keep_workers=True, start_points=[point for _, point in baselines], **study)
    workers = run.pool
    try:
        records = [trial_record(t) for t in run.study.get_trials(deepcopy=False)]
        front = _pareto(run, records)
        chosen = _choose(front, run.objectives[0], confirm, confirm_max_pes)
        confirm_seconds = _confirm(run, workers, chosen, out_dir, confirm_timeout_s)
        base = _baselines(run, workers, baselines)
    finally:
        workers.close()
    counts = {state: sum(1 for r in records if r["state"] == state)
              for state in ("complete", "rejected", "fail", "running", "waiting")}
    counts["failed"] = counts.pop("fail")
    study_seconds = run.seconds
    report = {
        "study": run.study.study_name,
        "storage": redact(run.storage_url),
        "workload": run.workload.to_dict(),
        "objectives": list(run.objectives),
        "constraints": [str(c) for c in run.constraints],
        "sampler": run.sampler,
        "seed": run.seed,
        "space": run.space.to_dict(),
        "space_size": run.space.size,
        "target": run.scoring.target,
        "liberty": run.scoring.liberty,
        "workers": run.workers,
        "metrics": {name: {"key": m.key, "unit": m.unit, "direction": m.direction,
                           "model": m.source} for name, m in METRICS.items()},
        "counts": counts,
        "this_run": {"scored": run.scored_here, "answered_from_earlier_trials": run.cached_here,
                     "rejected": run.rejected_here, "failed": run.failed_here},
        "seconds": {"study": round(study_seconds, 2), "confirm": round(confirm_seconds, 2),
                    "total": round(time.perf_counter() - start, 2),
                    "mean_score": round(float(np.mean(run.score_seconds)), 3)
                    if run.score_seconds else None},
        "trials_per_minute": round(60 * (run.scored_here + run.cached_here)
                                   / max(study_seconds, 1e-9), 1),
        "hypervolume": hypervolume_history(records, run.objectives),
        "notes": list(NOTES),
        "pareto": front,
        "baselines": base,
        "trials": records,
    }
    paths = write_outputs(report, out_dir, _stem(run.study.study_name), plots=plots)
    return DseResult(report, paths)
