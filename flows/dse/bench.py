"""``accelgen bench dse`` (``benchmarks/results/dse.json``): what a trial costs at each fidelity,
what a second Dask worker buys, and how quickly each sampler approaches the Pareto front.

* **Samplers**: for each sampler (NSGA-II, TPE, random) and seed, one model-fidelity study of
  the workload over the default space (no confirmation, no baselines). All studies share one
  hypervolume reference (0.1 decade beyond the worst value any of them scored, in log10
  costs), so their hypervolume after each trial can be compared. They score one trial at a
  time in this process (``scheduler="threads"``), so each sampler sees every result before its
  next proposal and a seed reproduces its run. Trials per minute count
  scored trials over the study's wall time; the first study warms the area model's block
  cache, so its rate is reported separately (``cold``).
* **Synthesis**: the same small study (:data:`SYNTHESIS_SPACE`, random sampler, fixed seed)
  with every trial scored by the real tools
  (:func:`~.confirm.synthesized`: flat synthesis and ECP5 place and route of the whole
  design) on a Dask LocalCluster of 1 and then 2 worker processes, each run with an empty
  accelgen cache so that nothing is reused: trials per minute at real-synthesis fidelity and
  the speedup of the second worker.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_atomically
from ..bench_systolic import machine_context
from ..json_report import write_json_report
from .names import SAMPLERS
from .report import hypervolume_history, log_costs
from .run import run_dse

__all__ = ["SYNTHESIS_SPACE", "run_dse_benchmark"]

SYNTHESIS_SPACE: dict[str, Any] = {"rows": [2, 3], "cols": [2, 3], "dataflow": ["os", "ws"]}
"""Small int8 arrays: a trial through Yosys and nextpnr takes tens of seconds, not hours."""
SYNTHESIS_SCORER = "accelgen.flows.dse.confirm:synthesized"


def _plot(results: list[dict[str, Any]], path: Path, workload: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=120)
    colours = {"nsga2": "#1f77b4", "tpe": "#ff7f0e", "random": "#2ca02c"}
    for sampler in SAMPLERS:
        runs = [r["hypervolume"] for r in results if r["sampler"] == sampler]
        if not runs:
            continue
        length = min(len(h) for h in runs)
        mean = np.mean([h[:length] for h in runs], axis=0)
        ax.plot(range(1, length + 1), mean, c=colours[sampler],
                label=f"{sampler} (mean of {len(runs)} seed{'s' if len(runs) > 1 else ''})")
    ax.set_xlabel("scored trials")
    ax.set_ylabel("hypervolume (log10 latency x log10 area)")
    ax.set_title(f"{workload}: hypervolume against trials", fontsize=9)
    ax.grid(True, lw=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    write_atomically(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def _sampler_runs(workload: str, trials: int, seeds: Sequence[int], samplers: Sequence[str],
                  jobs: int, space: Any, scorer: str | None) -> dict[str, Any]:
    results = []
    records_by_run = []
    with tempfile.TemporaryDirectory(prefix="accelgen-bench-dse-") as scratch:
        for sampler in samplers:
            for seed in seeds:
                print(f"bench dse: {sampler} seed {seed} ...", file=sys.stderr, flush=True)
                result = run_dse(workload, trials, ("latency", "area"), sampler=sampler,
                                 seed=seed, out_dir=Path(scratch) / f"{sampler}-{seed}",
                                 confirm=0, baselines=(), jobs=jobs, space=space,
                                 scorer=scorer, scheduler="threads", plots=False)
                report = result.report
                records_by_run.append(report["trials"])
                results.append({
                    "sampler": sampler, "seed": seed,
                    "scored": report["counts"]["complete"],
                    "rejected": report["counts"]["rejected"],
                    "failed": report["counts"]["failed"],
                    "seconds": report["seconds"]["study"],
                    "trials_per_minute": report["trials_per_minute"],
                    "pareto_size": len(report["pareto"]),
                })
    scored = [r for records in records_by_run for r in records if r["state"] == "complete"]
    reference = log_costs([r["figures"] for r in scored], ("latency", "area")).max(axis=0) + 0.1
    for result, records in zip(results, records_by_run, strict=True):
        history = hypervolume_history(records, ("latency", "area"), reference)["values"]
        result["hypervolume"] = history
        result["final_hypervolume"] = history[-1] if history else 0.0
    return {
        "hypervolume_reference_log10": [round(float(v), 6) for v in reference],
        "cold": {"sampler": results[0]["sampler"], "seed": results[0]["seed"],
                 "trials_per_minute": results[0]["trials_per_minute"]},
        "warm_trials_per_minute": round(float(np.median(
            [r["trials_per_minute"] for r in results[1:]] or [0.0])), 1),
        "runs": results,
    }


@contextlib.contextmanager
def _empty_cache() -> Iterator[None]:
    """``$ACCELGEN_CACHE`` pointed at a new directory (inherited by Dask worker processes)."""
    before = os.environ.get("ACCELGEN_CACHE")
    with tempfile.TemporaryDirectory(prefix="accelgen-bench-dse-cache-") as directory:
        os.environ["ACCELGEN_CACHE"] = directory
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("ACCELGEN_CACHE", None)
            else:
                os.environ["ACCELGEN_CACHE"] = before


def _synthesis_runs(workload: str, trials: int, workers: Sequence[int], scorer: str,
                    space: Any) -> dict[str, Any]:
    from .space import SearchSpace

    runs = []
    for count in workers:
        print(f"bench dse: real synthesis, {trials} trials on {count} Dask worker(s) ...",
              file=sys.stderr, flush=True)
        with _empty_cache(), tempfile.TemporaryDirectory(prefix="accelgen-bench-dse-") as scratch:
            result = run_dse(workload, trials, ("latency", "area"), sampler="random", seed=0,
                             out_dir=Path(scratch), confirm=0, baselines=(),
                             space=SearchSpace(space), scorer=scorer,
                             scheduler=f"local:{count}", plots=False)
        report = result.report
        scored = report["this_run"]["scored"]
        evaluated = scored + report["this_run"]["failed"]  # a failing tool costs time too
        seconds = report["seconds"]["study"]
        complete = [t for t in report["trials"] if t["state"] == "complete"]
        runs.append({
            "workers": count, "scored": scored,
            "answered_from_earlier_trials": report["this_run"]["answered_from_earlier_trials"],
            "failed": report["counts"]["failed"], "seconds": seconds,
            "trials_per_minute": round(60 * evaluated / max(seconds, 1e-9), 2),
            "failures": [{"name": t.get("name"), "error": t.get("error")}
                         for t in report["trials"] if t["state"] == "fail"],
            "mean_trial_seconds": report["seconds"]["mean_score"],
            "designs": [{"name": t["name"], "area_ge": t["figures"].get("area_ge"),
                         "fmax_mhz": t["figures"].get("fmax_mhz"), "seconds": t.get("seconds")}
                        for t in complete if "duplicate_of" not in t],
        })
    speedup = None
    if len(runs) >= 2 and runs[0]["seconds"] and runs[-1]["seconds"]:
        speedup = round(runs[0]["seconds"] / runs[-1]["seconds"], 2)
    return {"space": space, "scorer": scorer, "trials": trials, "runs": runs,
            "speedup": speedup,
            "note": "every run starts with an empty accelgen cache; the machine's other load "
                    "is in context.load_average"}


def run_dse_benchmark(out_dir: Path, *, workload: str = "mobilenet_v2", trials: int = 100,
                      seeds: Sequence[int] = (0, 1, 2), samplers: Sequence[str] = SAMPLERS,
                      jobs: int = 1, space: Any = None, scorer: str | None = None,
                      synthesis_trials: int = 6, synthesis_workers: Sequence[int] = (1, 2),
                      synthesis_scorer: str = SYNTHESIS_SCORER,
                      synthesis_space: dict[str, Any] | None = None) -> Path:
    """Run the studies (in temporary directories) and write ``dse.json`` and
    ``dse_hypervolume.png`` to ``out_dir``; ``space`` and ``scorer`` as for
    :func:`~.run.run_dse`; no ``samplers`` skips the sampler part, ``synthesis_trials = 0``
    the real-synthesis part."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    report: dict[str, Any] = {
        "benchmark": "dse",
        "workload": workload,
        "objectives": ["latency", "area"],
        "trials": trials,
        "context": machine_context(),
    }
    with contextlib.suppress(OSError):
        report["context"]["load_average"] = [round(v, 2) for v in os.getloadavg()]
    if samplers:
        samplers_part = _sampler_runs(workload, trials, seeds, samplers, jobs, space, scorer)
        report["model_fidelity"] = {key: samplers_part[key] for key in
                                    ("cold", "warm_trials_per_minute")}
        report["hypervolume_reference_log10"] = samplers_part["hypervolume_reference_log10"]
        report["runs"] = samplers_part["runs"]
    if synthesis_trials > 0:
        report["synthesis"] = _synthesis_runs(workload, synthesis_trials, synthesis_workers,
                                              synthesis_scorer,
                                              synthesis_space or SYNTHESIS_SPACE)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = write_json_report(out_dir / "dse.json", report)
    if samplers:
        _plot(report["runs"], out_dir / "dse_hypervolume.png", workload)
    return path
