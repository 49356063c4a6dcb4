"""What a finished study leaves behind: the Pareto front and every trial, as JSON and CSV, 2-D
plots of the front with the baseline designs marked, and a paragraph ready for a README.

Every figure is tagged with where it comes from: ``model`` (the cycle model, the calibrated area
model, the small-array fmax and power models) or ``confirmed`` (the whole design through
synthesis, place and route, or simulation; see :mod:`.confirm`).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from optuna.trial import FrozenTrial, TrialState

from ..atomic import write_atomically
from ..json_report import json_safe, write_json_report
from .evaluate import METRICS

__all__ = ["hypervolume", "hypervolume_history", "log_costs", "pareto_indices", "trial_record",
           "write_outputs"]

CONFIRMABLE: dict[str, str] = {"area": "area_ge", "fmax": "fmax_mhz", "power": "power"}
SAMPLER_NAMES: dict[str, str] = {"nsga2": "NSGA-II", "tpe": "TPE", "random": "random search"}
SHORT_UNITS: dict[str, str] = {"latency": "cycles", "area": "GE", "power": "toggles/cycle",
                               "energy": "toggles", "fmax": "MHz"}


def pareto_indices(values: np.ndarray, directions: Sequence[str]) -> list[int]:
    """Rows of ``values`` (points x objectives) that no other row dominates; ties kept once
    (the first)."""
    if len(values) == 0:
        return []
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    costs = np.asarray(values, dtype=float) * signs
    front: list[int] = []
    for i, point in enumerate(costs):
        no_worse = np.all(costs <= point, axis=1)
        better = np.any(costs < point, axis=1)
        if np.any(no_worse & better):
            continue
        if any(np.array_equal(costs[j], point) for j in front):
            continue
        front.append(i)
    return front


def hypervolume(costs: np.ndarray, reference: np.ndarray) -> float:
    """Volume dominated by ``costs`` (points x objectives, all minimized) up to ``reference``;
    exact, by sweeping the last objective (fine for the tens of points of a front)."""
    points = np.asarray(costs, dtype=float)
    points = points[np.all(points < reference, axis=1)]
    if len(points) == 0:
        return 0.0
    if points.shape[1] == 1:
        return float(reference[0] - points[:, 0].min())
    points = points[np.argsort(points[:, -1])]
    volume = 0.0
    for i in range(len(points)):
        top = points[i + 1, -1] if i + 1 < len(points) else reference[-1]
        if top > points[i, -1]:
            volume += hypervolume(points[: i + 1, :-1], reference[:-1]) * (top - points[i, -1])
    return volume


def log_costs(figures: Sequence[dict[str, Any]], objectives: Sequence[str]) -> np.ndarray:
    """Objectives as log10 costs (maximized ones negated): latency and area span decades, and
    a hypervolume in log space weighs a 2x gain the same anywhere on the front."""
    rows = []
    for f in figures:
        row = []
        for m in objectives:
            value = math.log10(max(float(f[METRICS[m].key]), 1e-300))
            row.append(value if METRICS[m].direction == "minimize" else -value)
        rows.append(row)
    return np.array(rows, dtype=float).reshape(len(rows), len(objectives))


def hypervolume_history(records: Sequence[dict[str, Any]], objectives: Sequence[str],
                        reference: np.ndarray | None = None) -> dict[str, Any]:
    """Hypervolume of the feasible scored trials after each scored trial, in log10 costs,
    up to ``reference`` (default: 0.1 decade beyond the worst scored value)."""
    scored = [r for r in records if r["state"] == "complete"]
    costs = log_costs([r["figures"] for r in scored], objectives)
    if len(costs) == 0:
        return {"reference": None, "values": []}
    if reference is None:
        reference = costs.max(axis=0) + 0.1
    values = []
    front = np.empty((0, len(objectives)))
    for row, record in zip(costs, scored, strict=True):
        if record.get("feasible", True):
            front = np.vstack([front, row])
            front = front[pareto_indices(front, ["minimize"] * len(objectives))]
        values.append(round(hypervolume(front, reference), 6))
    return {"reference": [round(float(v), 6) for v in reference], "values": values}


def trial_record(trial: FrozenTrial) -> dict[str, Any]:
    attrs = trial.user_attrs
    record: dict[str, Any] = {"number": trial.number, "state": trial.state.name.lower(),
                              "point": attrs.get("point", trial.params)}
    if trial.state is TrialState.PRUNED and "rejected" in attrs:
        record["state"] = "rejected"
        record["rejected"] = attrs["rejected"]
    for key in ("name", "hash", "config", "figures", "fidelity", "constraints", "duplicate_of",
                "retry_of", "seconds", "host", "error", "error_type", "detail", "log"):
        if key in attrs:
            record[key] = attrs[key]
    if "constraints" in attrs:
        record["feasible"] = all(v <= 0 for v in attrs["constraints"])
    if trial.datetime_start and trial.datetime_complete:
        record["wall_seconds"] = round(
            (trial.datetime_complete - trial.datetime_start).total_seconds(), 3)
    return record


def _value(figures: dict[str, Any] | None, metric: str) -> float | None:
    if not figures:
        return None
    value = figures.get(METRICS[metric].key)
    return None if value is None else float(value)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


# --- plots ----------------------------------------------------------------------------------

def _pairs(objectives: Sequence[str]) -> list[tuple[str, str]]:
    if len(objectives) == 1:
        other = "area" if objectives[0] != "area" else "latency"
        return [(objectives[0], other)]
    return list(itertools.combinations(objectives, 2))


def _plot(report: dict[str, Any], x: str, y: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    scored = [t for t in report["trials"] if t["state"] == "complete"]
    for feasible, style in ((True, {"c": "0.75", "s": 12, "label": "trials (model)"}),
                            (False, {"c": "#e8a0a0", "s": 14, "marker": "x",
                                     "label": "trials violating a constraint"})):
        points = [(_value(t["figures"], x), _value(t["figures"], y)) for t in scored
                  if t.get("feasible", True) is feasible]
        points = [p for p in points if None not in p]
        if points:
            ax.scatter(*zip(*points, strict=True), zorder=1, **style)
    front = [(_value(p["model"], x), _value(p["model"], y), p) for p in report["pareto"]]
    front = sorted([f for f in front if None not in f[:2]], key=lambda f: f[0])
    if front:
        both_min = all(METRICS[m].direction == "minimize" for m in (x, y))
        ax.plot([f[0] for f in front], [f[1] for f in front], "-o", c="#1f77b4", ms=5,
                zorder=3, label="Pareto front (model)",
                drawstyle="steps-post" if both_min else "default")
    confirmed_label = "confirmed (whole design through the tools)"
    for fx, fy, point in front:
        confirmed = point.get("confirmed") or {}
        cx = _value(confirmed, x) if x in CONFIRMABLE else fx
        cy = _value(confirmed, y) if y in CONFIRMABLE else fy
        if (x in CONFIRMABLE and cx is not None) or (y in CONFIRMABLE and cy is not None):
            cx, cy = cx if cx is not None else fx, cy if cy is not None else fy
            ax.plot([fx, cx], [fy, cy], c="#ff7f0e", lw=0.8, zorder=2)
            ax.scatter([cx], [cy], marker="*", s=110, c="#ff7f0e", zorder=4,
                       label=confirmed_label)
            confirmed_label = "_"
    baseline_label = "baselines (model)"
    for base in report.get("baselines", []):
        bx, by = _value(base.get("figures"), x), _value(base.get("figures"), y)
        if bx is None or by is None:
            continue
        ax.scatter([bx], [by], marker="s", s=40, c="k", zorder=5, label=baseline_label)
        baseline_label = "_"
        ax.annotate(base["label"], (bx, by), textcoords="offset points", xytext=(5, 4),
                    fontsize=7)
    for axis, metric, setter in ((ax.xaxis, x, ax.set_xscale), (ax.yaxis, y, ax.set_yscale)):
        values = [v for v in ([_value(t["figures"], metric) for t in scored]) if v and v > 0]
        if values and max(values) / min(values) > 10:
            setter("log")
        label = f"{metric} ({METRICS[metric].unit})"
        axis.set_label_text(label)
    ax.set_title(f"{report['workload']['name']}: {report['counts']['complete']} scored trials, "
                 f"{report['sampler']}, front of {len(report['pareto'])}", fontsize=9)
    ax.grid(True, which="both", lw=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    write_atomically(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


# --- text -----------------------------------------------------------------------------------

def summary_text(report: dict[str, Any]) -> str:
    """A paragraph and a table for a README."""
    counts = report["counts"]
    objectives = report["objectives"]
    front = report["pareto"]
    lines = []
    seconds = report["seconds"]["study"]
    macs = report["workload"]["macs"]
    size = (f"{macs / 1e9:.2f} G" if macs >= 1e9 else f"{macs / 1e6:.1f} M" if macs >= 1e6
            else f"{macs:,} ")
    this_run = report["this_run"]
    run_trials = this_run["scored"] + this_run["answered_from_earlier_trials"]
    text = (f"`accelgen dse` scored {counts['complete']} design points of "
            f"{report['workload']['name']} ({report['workload']['layers']} layers, "
            f"{size}MACs) with {SAMPLER_NAMES.get(report['sampler'], report['sampler'])} "
            f"(seed {report['seed']}) over a space of {report['space_size']:,} parameter "
            f"combinations; {counts['rejected']} sampled points were rejected by the "
            f"generator's rules and {counts['failed']} failed.")
    if run_trials:
        text += (f" This run scored {run_trials} of them in {seconds:.0f} s "
                 f"({report['trials_per_minute']:.0f} trials per minute on "
                 f"{report['workers']}).")
    if report["constraints"]:
        text += f" Constraints: {', '.join(report['constraints'])}."
    if front:
        ends = sorted(front, key=lambda p: _value(p["model"], objectives[0]) or 0)
        first, last = ends[0], ends[-1]

        def describe(p: dict[str, Any]) -> str:
            parts = [f"{m} {_fmt(_value(p['model'], m))}" for m in objectives]
            return f"{p['name']} ({', '.join(parts)})"

        text += (f" The Pareto front over {', '.join(objectives)} has {len(front)} designs, "
                 f"from {describe(first)} to {describe(last)}.")
    baselines = [b for b in report.get("baselines", []) if b.get("figures")]
    if baselines:
        described = []
        for base in baselines:
            parts = [f"{m} {_fmt(_value(base['figures'], m))}" for m in objectives]
            described.append(f"{base['label']} ({', '.join(parts)})")
        text += f" Baselines (model): {'; '.join(described)}."
    confirmed = [p for p in front if p.get("confirmed")]
    if confirmed:
        errors = [p["error"]["area"] for p in confirmed if p.get("error", {}).get("area")
                  is not None]
        fmax = [p["confirmed"]["fmax_mhz"] for p in confirmed
                if p["confirmed"].get("fmax_mhz") is not None]
        text += f" {len(confirmed)} of them were confirmed with the real tools"
        if errors:
            worst = max(errors, key=abs)
            text += (f": the calibrated area model is within {abs(worst) * 100:.1f} % of flat "
                     "synthesis")
        if fmax:
            text += (f", and place and route on {report['target'].upper()} reaches "
                     f"{min(fmax):.0f}-{max(fmax):.0f} MHz")
        failed = [p for p in confirmed if p["confirmed_errors"]]
        if failed:
            text += (f" ({len(failed)} had a step fail or not fit, e.g. "
                     f"{next(iter(failed[0]['confirmed_errors'].values()))['error'][:80]})")
        text += "."
    skipped = [p for p in front if p.get("confirm_skipped")]
    if skipped:
        text += (f" {len(skipped)} front design{'s were' if len(skipped) > 1 else ' was'} "
                 "too large to confirm "
                 f"({skipped[0]['confirm_skipped']}); their figures are model figures.")
    lines.append(text)
    lines.append("")
    header = ["trial", "design"] + [f"{m} ({SHORT_UNITS[m]}, model)" for m in objectives]
    header += ["confirmed area (GE)", "confirmed fmax (MHz)"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for p in sorted(front, key=lambda p: _value(p["model"], objectives[0]) or 0):
        confirmed_figures = p.get("confirmed") or {}
        row = [str(p["trial"]), p["name"]]
        row += [_fmt(_value(p["model"], m)) for m in objectives]
        row += [_fmt(confirmed_figures.get("area_ge")), _fmt(confirmed_figures.get("fmax_mhz"))]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append("Model figures: latency from the RTL-exact cycle model, area from the calibrated "
                 "area model; confirmed figures: the whole design synthesized flat "
                 "(area) and placed and routed (fmax).")
    return "\n".join(lines) + "\n"


def _csv_text(report: dict[str, Any]) -> str:
    buffer = io.StringIO()
    params = list(report["space"])
    metrics = list(dict.fromkeys([*report["objectives"], "latency", "area", "fmax", "power"]))
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["trial", "design", *params]
    for m in metrics:
        header += [f"{m}_model", f"{m}_confirmed"]
    writer.writerow(header)
    for p in report["pareto"]:
        row = [p["trial"], p["name"], *(p["point"].get(k, "") for k in params)]
        for m in metrics:
            model = _value(p["model"], m)
            confirmed = _value(p.get("confirmed"), m)
            row += ["" if model is None else model, "" if confirmed is None else confirmed]
        writer.writerow(row)
    return buffer.getvalue()




def write_outputs(report: dict[str, Any], out_dir: Path, stem: str, plots: bool = True
                  ) -> dict[str, Path]:
    """Write ``<stem>.json``, ``<stem>_pareto.csv``, one PNG per pair of objectives (unless
    ``plots`` is false) and ``<stem>_summary.md``; every file atomically."""
    paths: dict[str, Path] = {}
    paths["report"] = write_json_report(out_dir / f"{stem}.json", json_safe(report))
    csv_path = out_dir / f"{stem}_pareto.csv"
    csv_text = _csv_text(report)
    write_atomically(csv_path, lambda tmp: tmp.write_text(csv_text))
    paths["csv"] = csv_path
    for x, y in _pairs(report["objectives"]) if plots else ():
        plot = out_dir / f"{stem}_pareto_{x}_{y}.png"
        _plot(report, x, y, plot)
        paths[f"plot_{x}_{y}"] = plot
    summary = out_dir / f"{stem}_summary.md"
    summary_md = summary_text(report)
    write_atomically(summary, lambda tmp: tmp.write_text(summary_md))
    paths["summary"] = summary
    return paths
