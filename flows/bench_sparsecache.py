"""``accelgen bench sparsecache``: SparseCache on pruned DNN inference traces, against the paper.

For each network (:data:`accelgen.sim.workloads.networks.NETWORKS`) a sampled trace of one
inference (:func:`accelgen.sim.workloads.traces.generate_trace`, fine-grained pruning, and a
coarse-grained one) runs through the golden model
(:class:`accelgen.sim.sparsecache.hierarchy.SparseCacheModel`, checked against the RTL access
by access) in these configurations, all with the paper's 4-way L1 of 32-byte lines, 1-cycle
hits and a 100-cycle memory:

* ``l1_16k``: the L1 alone (the model with the null cache disabled, same timing);
* ``l1_16k+null_<size>``: plus a null cache of 0.5, 1 and 2 KB, coverage-aware LRU, exact
  zero detection;
* ``l1_32k``: a 32 KB L1 alone;
* ``l1_16k+null_1k_lru``: plain LRU in the null cache;
* ``l1_16k+null_1k_t<threshold>``: approximate zero detection;
* ``coarse:l1_16k``, ``coarse:l1_16k+null_1k`` and ``coarse:l1_16k+null_1k_lru``: the same
  on the coarse-pruned trace.

A null cache of ``B`` bytes has ``floor(8 B / (2 k + 1))`` entries: each holds a value and a
care mask of ``k`` bits (the line address, 27 bits for 32-bit addresses and 32-byte lines)
and a valid bit, as the generator's JSON states (55 bits: 0.5 KB = 74, 1 KB = 148, 2 KB = 297
entries).

Miss rate = accesses served by memory / accesses; cycles = the model's cycles, which include
the trace's compute gaps. Reductions are ``1 - with / without``. The approximate runs also
report how the layers' outputs change, from :func:`accelgen.sim.workloads.values.network_values`
(every near-zero 32-byte line read as zero, which is what SparseCache returns for one), and
for LeNet the test accuracy. ``sampling_check`` replays LeNet's complete trace for the 16 KB
and 16 KB + 1 KB configurations and reports how far the sampled estimate of the miss-rate
reduction is from the full one (the goal: at most one percentage point).

Bad input (unknown network, a cache size that does not divide into power-of-two sets, a null
cache too small for one entry, a malformed trace file) raises ``ValueError`` from
:func:`check_request` before anything runs or is written; the JSON and plots are written
atomically at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from accelgen.flows.atomic import write_atomically
from accelgen.sim.sparsecache.params import SparseCacheParams
from accelgen.sim.workloads.networks import NETWORKS, network
from accelgen.sim.workloads.replay import replay
from accelgen.sim.workloads.sampling import Sampling
from accelgen.sim.workloads.trace_format import TraceReader
from accelgen.sim.workloads.traces import generate_trace

from .bench_systolic import _pyplot, machine_context
from .json_report import json_safe

__all__ = ["BENCH_SAMPLING", "PAPER", "THRESHOLDS", "CacheSetup", "check_request", "configurations",
           "null_entries", "run_sparsecache_benchmark"]

THRESHOLDS: tuple[float, ...] = (0.01, 0.1)
"""Approximate zero detection thresholds (fp32 magnitudes)."""

BENCH_SAMPLING = Sampling(budget=200_000, min_samples=2, max_samples=32)
"""The benchmark's default sampling: half of :class:`~accelgen.sim.workloads.sampling.Sampling`'s
default budget and minimum windows per loop, with the same windows and warming, so that the
whole benchmark runs in well under an hour on a shared 2-core machine (LeNet-5's check: the
miss-rate reduction moves by less than one point against the complete trace)."""

PAPER = {
    "source": "Ganesan, Sen, Kumar, Gala, Veezhinathan, Raghunathan, 'Sparsity-Aware Caches "
              "to Accelerate Deep Neural Networks', DATE 2020",
    "setup": "in-order Atom-like core at 400 MHz; L1 D 16 KB 4-way 32 B lines 1-cycle hit; "
             "null cache 1 KB (addresses only, TCAM) 1-cycle hit; 100-cycle memory; LeNet "
             "(Scalpel, MNIST), AlexNet, VGG-16, SqueezeNet (Deep Compression, ImageNet)",
    "miss_reduction_percent": [5, 28],
    "time_reduction_percent": [5, 21],
    "claim": "16 KB + 1 KB null cache performs like a 32 KB L1; on AlexNet 13% faster and 20% "
             "fewer misses than the 32 KB L1",
    "alexnet_vs_32k_percent": {"time": 13, "misses": 20},
}

NOTES = {
    "traces": "one inference, batch 1, fp32 words; direct convolution, FC, pooling and "
              "in-place ReLU loops of a single-issue in-order core (accelgen.sim.workloads."
              "kernels); sampled by output windows with null-cache and L1 warming "
              "(accelgen.sim.workloads.sampling); counts are estimates of the complete run",
    "values": "LeNet-5 trained here on scikit-learn digits and pruned to Deep Compression's "
              "densities; AlexNet, VGG-16, SqueezeNet synthetic (seeded), weights pruned to "
              "Deep Compression's densities, ReLU densities from Han et al. NIPS 2015 "
              "(SqueezeNet: 50% assumed)",
    "cycles": "golden-model cycles: 1-cycle hits, 100-cycle memory, the model's miss path "
              "(lookup, memory, zero detection, fill/insert), plus the trace's compute gaps",
    "null_cache_bytes": "entries = floor(8 * bytes / (2 * key_width + 1)), key_width = line "
                        "address bits (value + care mask + valid per entry)",
}


@dataclass(frozen=True)
class CacheSetup:
    """The cache sizes compared; every size in bytes except the L1s (KiB)."""

    l1_kib: int = 16
    big_l1_kib: int = 32
    ways: int = 4
    line_bytes: int = 32
    null_bytes: tuple[int, ...] = (512, 1024, 2048)
    main_null_bytes: int = 1024
    memory_latency: int = 100
    address_bits: int = 32


@dataclass(frozen=True)
class Config:
    label: str
    variant: str  # "fine" or "coarse" trace
    params: SparseCacheParams


def _sets(option: str, kib: object, setup: CacheSetup) -> int:
    if isinstance(kib, bool) or not isinstance(kib, int) or kib < 1:
        raise ValueError(f"{option}: must be a whole number of KiB >= 1, got {kib!r}")
    way_bytes = setup.ways * setup.line_bytes
    if (kib * 1024) % way_bytes:
        raise ValueError(f"{option}: {kib} KiB does not divide into {setup.ways} ways of "
                         f"{setup.line_bytes}-byte lines")
    sets = kib * 1024 // way_bytes
    if sets & (sets - 1):
        raise ValueError(f"{option}: {kib} KiB with {setup.ways} ways of {setup.line_bytes}-byte "
                         f"lines gives {sets} sets, not a power of two")
    return sets


def null_entries(size_bytes: int, setup: CacheSetup) -> int:
    """TCAM entries in a null cache of ``size_bytes`` (value + care mask + valid each)."""
    key = setup.address_bits - (setup.line_bytes.bit_length() - 1)
    if isinstance(size_bytes, bool) or not isinstance(size_bytes, int) or size_bytes < 1:
        raise ValueError(f"null_bytes: each size must be a positive number of bytes, got "
                         f"{size_bytes!r}")
    entries = 8 * size_bytes // (2 * key + 1)
    if entries < 1:
        raise ValueError(f"null_bytes: {size_bytes} bytes hold no {2 * key + 1}-bit entry")
    return entries


def _label(size_bytes: int) -> str:
    return f"{size_bytes / 1024:g}k"


def configurations(setup: CacheSetup, thresholds: Iterable[float], coarse: bool = True
                   ) -> list[Config]:
    """Every configuration the benchmark runs (raises ``ValueError`` naming a bad size)."""
    small = _sets("l1_kib", setup.l1_kib, setup)
    big = _sets("big_l1_kib", setup.big_l1_kib, setup)
    if setup.main_null_bytes not in setup.null_bytes:
        raise ValueError(f"main_null_bytes: {setup.main_null_bytes} must be one of null_bytes "
                         f"{list(setup.null_bytes)}")
    try:
        base = SparseCacheParams(address_bits=setup.address_bits, sets=small, ways=setup.ways,
                                 line_bytes=setup.line_bytes, word_format="fp32",
                                 memory_latency=setup.memory_latency,
                                 null_cache_enabled=False)
    except ValueError as error:
        raise ValueError(f"cache setup: {error}") from None
    l1 = f"l1_{setup.l1_kib}k"
    main = f"{l1}+null_{_label(setup.main_null_bytes)}"
    configs = [Config(l1, "fine", base)]
    for size in setup.null_bytes:
        configs.append(Config(f"{l1}+null_{_label(size)}", "fine",
                              replace(base, null_cache_enabled=True,
                                      null_entries=null_entries(size, setup))))
    main_params = next(c.params for c in configs if c.label == main)
    configs.append(Config(f"l1_{setup.big_l1_kib}k", "fine", replace(base, sets=big)))
    configs.append(Config(f"{main}_lru", "fine", replace(main_params, replacement="lru")))
    for threshold in thresholds:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) \
                or not 0 < threshold < 1e30:
            raise ValueError(f"thresholds: each must be a positive number, got {threshold!r}")
        configs.append(Config(f"{main}_t{threshold:g}", "fine",
                              replace(main_params, threshold=float(threshold))))
    if coarse:
        configs.append(Config(f"coarse:{l1}", "coarse", base))
        configs.append(Config(f"coarse:{main}", "coarse", main_params))
        configs.append(Config(f"coarse:{main}_lru", "coarse",
                              replace(main_params, replacement="lru")))
    return configs


def check_request(networks: Iterable[str] | None = None, *, setup: CacheSetup = CacheSetup(),
                  thresholds: Iterable[float] = THRESHOLDS, coarse: bool = True,
                  traces: Mapping[str, Path | str] | None = None, jobs: int = 2
                  ) -> tuple[list[str], list[Config]]:
    """The networks (in canonical order) and configurations, or a ``ValueError`` naming the
    bad option. Given trace files are read and checked in full."""
    chosen = list(NETWORKS if networks is None else networks)
    if not chosen:
        raise ValueError("networks: give at least one network")
    unknown = [name for name in chosen if name not in NETWORKS]
    if unknown:
        raise ValueError(f"networks: unknown network {unknown[0]!r}; known: "
                         f"{', '.join(NETWORKS)}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs: must be an integer >= 1, got {jobs!r}")
    configs = configurations(setup, tuple(thresholds), coarse)
    for name, path in (traces or {}).items():
        if name not in chosen:
            raise ValueError(f"traces: {name!r} is not one of the networks measured")
        reader = TraceReader(path)  # raises TraceFormatError (a ValueError) naming the file
        if reader.metadata.get("network") != name:
            raise ValueError(f"traces: {path} is a trace of "
                             f"{reader.metadata.get('network')!r}, not {name!r}")
    return [n for n in NETWORKS if n in chosen], configs


def _progress(message: str) -> None:
    print(f"bench sparsecache: {message}", file=sys.stderr, flush=True)


# -- work done in child processes ----------------------------------------------------------
def _train_task(seed: int, granularity: str, training: dict | None) -> str:
    from accelgen.sim.workloads.lenet_digits import train_lenet

    train_lenet(seed, granularity=granularity, **(training or {}))
    return granularity


def _generate_task(name: str, path: str, seed: int, granularity: str, sampling: dict,
                   training: dict | None) -> dict[str, Any]:
    started = time.perf_counter()
    layers = sampling.pop("layers")
    summary = generate_trace(path, name, seed=seed, granularity=granularity,
                             sampling=Sampling(**sampling, layers=layers),
                             lenet_training=training)
    meta = summary.metadata
    return {"path": path, "records": summary.records, "blocks": summary.blocks,
            "bytes": os.path.getsize(path), "seconds": time.perf_counter() - started,
            "measured": sum(op["measured"] for op in meta["ops"]),
            "full_accesses": meta["full_accesses"], "layers": meta["layers"],
            "lenet": meta.get("lenet"), "sources": meta["sources"]}


def _replay_task(path: str, params: dict[str, Any]) -> dict[str, Any]:
    cpu = time.process_time()
    result = replay(path, SparseCacheParams(**params)).to_dict()
    result["cpu_seconds"] = time.process_time() - cpu
    return result


def _error_task(name: str, seed: int, thresholds: tuple[float, ...],
                training: dict | None) -> dict[str, Any]:
    """Relative L2 error of every layer's output, and of the network output, per threshold."""
    from accelgen.sim.workloads.values import network_values

    net = network(name)
    errors: dict[float, dict[str, float]] = {t: {} for t in thresholds}
    last = None
    for values in network_values(net, seed, thresholds=thresholds, lenet_training=training):
        norm = float(np.linalg.norm(values.post)) or 1.0
        for t in thresholds:
            errors[t][values.layer.name] = float(np.linalg.norm(values.approx_post[t]
                                                                - values.post)) / norm
        last = values
    out: dict[str, Any] = {}
    for t in thresholds:
        exact = last.post.reshape(-1)
        approx = last.approx_post[t].reshape(-1)
        out[f"{t:g}"] = {"layer_relative_error": errors[t],
                         "output_relative_error": errors[t][last.layer.name],
                         "top1_agrees": bool(np.argmax(exact) == np.argmax(approx))}
    if net.trained:
        from accelgen.sim.workloads.lenet_digits import accuracy, train_lenet

        trained = train_lenet(seed, **(training or {}))
        out["lenet_accuracy"] = {"exact": accuracy(trained),
                                 **{f"{t:g}": accuracy(trained, t) for t in thresholds}}
    return out


# -- assembling the report -----------------------------------------------------------------
def _summary(result: dict[str, Any]) -> dict[str, Any]:
    totals, stats = result["totals"], result["model_stats"]
    return {"accesses": totals["accesses"], "misses": totals["miss"],
            "miss_rate": result["miss_rate"], "cycles": totals["cycles"],
            "l1_hits": totals["l1_hit"], "null_hits": totals["null_hit"],
            "merges": stats.get("merges", 0), "evictions": stats.get("evictions", 0),
            "inserts": stats.get("inserts", 0), "splits": stats.get("splits", 0),
            "drops": stats.get("drops", 0), "replay_records": result["records"],
            "replay_cpu_seconds": result["cpu_seconds"]}


def _reduction(base: dict[str, Any], other: dict[str, Any]) -> dict[str, float]:
    def pct(key: str) -> float:
        return 100.0 * (1 - other[key] / base[key]) if base[key] else 0.0
    return {"miss_reduction_percent": pct("misses"), "time_reduction_percent": pct("cycles")}


def _network_report(name: str, setup: CacheSetup, configs: list[Config],
                    results: dict[str, dict[str, Any]], traces: dict[str, dict[str, Any]],
                    errors: dict[str, Any] | None, thresholds: tuple[float, ...]
                    ) -> dict[str, Any]:
    summaries = {label: _summary(result) for label, result in results.items()}
    l1 = f"l1_{setup.l1_kib}k"
    big = f"l1_{setup.big_l1_kib}k"
    main = f"{l1}+null_{_label(setup.main_null_bytes)}"
    base = summaries[l1]
    null_sizes = {_label(size): _reduction(base, summaries[f"{l1}+null_{_label(size)}"])
                  for size in setup.null_bytes}
    report: dict[str, Any] = {
        "trace": {variant: {k: v for k, v in info.items() if k != "path"}
                  for variant, info in traces.items()},
        "configs": summaries,
        "null_cache": null_sizes,
        "l1_32k": _reduction(base, summaries[big]),
        "main_vs_32k": _reduction(summaries[big], summaries[main]),
        "replacement": {"coverage_lru": null_sizes[_label(setup.main_null_bytes)],
                        "lru": _reduction(base, summaries[f"{main}_lru"])},
        "merge_histogram": results[main]["merge_histogram"],
        "approximation": [],
    }
    for t in thresholds:
        label = f"{main}_t{t:g}"
        entry = {"threshold": t, **_reduction(base, summaries[label]),
                 "loads_changed": results[label]["approximation"]["loads_changed"],
                 "max_abs_load_error": results[label]["approximation"]["max_abs_error"]}
        if errors is not None:
            entry.update({k: v for k, v in errors[f"{t:g}"].items()})
            if "lenet_accuracy" in errors:
                entry["lenet_accuracy"] = errors["lenet_accuracy"][f"{t:g}"]
        report["approximation"].append(entry)
    if errors is not None and "lenet_accuracy" in errors:
        report["lenet_accuracy_exact"] = errors["lenet_accuracy"]["exact"]
    if f"coarse:{l1}" in summaries:
        coarse_l1 = summaries[f"coarse:{l1}"]
        report["coarse"] = {"l1": coarse_l1, "main": summaries[f"coarse:{main}"],
                            **_reduction(coarse_l1, summaries[f"coarse:{main}"]),
                            "lru": _reduction(coarse_l1, summaries[f"coarse:{main}_lru"])}
    return report


def _paper_comparison(networks: dict[str, dict[str, Any]], setup: CacheSetup
                      ) -> list[dict[str, Any]]:
    low_m, high_m = PAPER["miss_reduction_percent"]
    low_t, high_t = PAPER["time_reduction_percent"]
    rows = []
    main = _label(setup.main_null_bytes)
    for name, rep in networks.items():
        ours = rep["null_cache"][main]
        rows.append({
            "network": name,
            "miss_reduction_percent": ours["miss_reduction_percent"],
            "time_reduction_percent": ours["time_reduction_percent"],
            "paper_miss_reduction_percent": [low_m, high_m],
            "paper_time_reduction_percent": [low_t, high_t],
            "miss_in_paper_range": low_m <= ours["miss_reduction_percent"] <= high_m,
            "time_in_paper_range": low_t <= ours["time_reduction_percent"] <= high_t,
            "main_vs_32k": rep["main_vs_32k"],
            "plain_lru": rep["replacement"]["lru"],
            "paper_vs_32k": PAPER["alexnet_vs_32k_percent"] if name == "alexnet" else None,
        })
    return rows


# -- plots ---------------------------------------------------------------------------------
def _bars(axis: Any, ticks: list[str], series: list[tuple[str, list[float]]],
          fontsize: int = 8) -> None:
    """One group of bars per tick, one bar per series, with grid and legend."""
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series):
        xs = [x + (i - (len(series) - 1) / 2) * width for x in range(len(ticks))]
        axis.bar(xs, values, width, label=label)
    axis.set_xticks(range(len(ticks)), ticks)
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=fontsize)


def _save(pyplot: Any, figure: Any, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    pyplot.close(figure)


def plot_miss_rates(report: dict[str, Any], path: Path) -> None:
    pyplot = _pyplot()
    networks = list(report["networks"])
    labels = [c for c in report["configurations"] if ":" not in c and "_t" not in c]
    figure, axis = pyplot.subplots(figsize=(2.4 * len(networks) + 2, 5))
    axis.set(ylabel="miss rate (% of accesses served by memory)",
             title="SparseCache golden model on sampled inference traces")
    _bars(axis, networks, [(label, [100 * report["networks"][n]["configs"][label]["miss_rate"]
                                    for n in networks]) for label in labels])
    _save(pyplot, figure, path)


def plot_reductions(report: dict[str, Any], path: Path) -> None:
    pyplot = _pyplot()
    per_network = report["networks"]
    networks = list(per_network)
    figure, axes = pyplot.subplots(1, 2, figsize=(13, 5))
    entries = [(f"+{size.upper()}B null (coverage LRU)", ("null_cache", size))
               for size in per_network[networks[0]]["null_cache"]]
    entries += [("+1 KB null, plain LRU", ("replacement", "lru")),
                ("L1 32 KB alone", ("l1_32k",))]
    if all("coarse" in per_network[n] for n in networks):
        entries += [("coarse pruning, +1 KB null", ("coarse",)),
                    ("coarse pruning, +1 KB null, plain LRU", ("coarse", "lru"))]

    def value(name: str, keys: tuple[str, ...], key: str) -> float:
        entry = per_network[name]
        for k in keys:
            entry = entry[k]
        return entry[key]

    for axis, key, paper, title in (
            (axes[0], "miss_reduction_percent", PAPER["miss_reduction_percent"],
             "miss reduction vs L1 16 KB alone"),
            (axes[1], "time_reduction_percent", PAPER["time_reduction_percent"],
             "execution-time reduction vs L1 16 KB alone")):
        axis.axhspan(paper[0], paper[1], color="grey", alpha=0.15,
                     label=f"paper: {paper[0]}-{paper[1]}% (16 KB + 1 KB)")
        axis.axhline(0, color="black", linewidth=0.8)
        axis.set(ylabel="%", title=title)
        _bars(axis, networks, [(label, [value(n, keys, key) for n in networks])
                               for label, keys in entries], fontsize=7)
    _save(pyplot, figure, path)


def plot_merge_histogram(report: dict[str, Any], path: Path) -> None:
    pyplot = _pyplot()
    networks = list(report["networks"])
    histograms = {n: report["networks"][n]["merge_histogram"] for n in networks}
    sizes = sorted({int(k) for h in histograms.values() for k in h})
    figure, axis = pyplot.subplots(figsize=(8, 4.5))
    axis.set(xlabel="lines covered by one TCAM entry", ylabel="% of valid entries (sampled)",
             title="Merge order in the 1 KB null cache (coverage-aware LRU)")
    _bars(axis, [str(s) for s in sizes],
          [(n, [100 * h.get(str(s), 0) / (sum(h.values()) or 1) for s in sizes])
           for n, h in histograms.items()])
    _save(pyplot, figure, path)


def plot_approximation(report: dict[str, Any], path: Path) -> None:
    pyplot = _pyplot()
    networks = list(report["networks"])
    figure, axes = pyplot.subplots(1, 2, figsize=(12, 4.5))
    for n in networks:
        rows = report["networks"][n]["approximation"]
        exact = report["networks"][n]["replacement"]["coverage_lru"]["miss_reduction_percent"]
        ts = [0] + [r["threshold"] for r in rows]
        axes[0].plot(range(len(ts)), [exact] + [r["miss_reduction_percent"] for r in rows],
                     marker="o", label=n)
        if all("output_relative_error" in r for r in rows):
            axes[1].plot(range(1, len(ts)), [max(r["output_relative_error"], 1e-9)
                                             for r in rows], marker="o", label=n)
    for axis in axes:
        axis.set_xticks(range(len(ts)), ["exact"] + [f"{t:g}" for t in ts[1:]])
        axis.set_xlabel("zero-detection threshold")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    axes[0].set(ylabel="miss reduction vs L1 16 KB (%)", title="16 KB + 1 KB null cache")
    axes[1].set(ylabel="relative L2 error of the network output", yscale="log",
                title="numeric effect of reading near-zero lines as zero")
    _save(pyplot, figure, path)


PLOTS = {"miss_rate": ("sparsecache_miss_rate.png", plot_miss_rates),
         "reductions": ("sparsecache_reductions.png", plot_reductions),
         "merge_histogram": ("sparsecache_merge_histogram.png", plot_merge_histogram),
         "approximation": ("sparsecache_approximation.png", plot_approximation)}


# -- the benchmark -------------------------------------------------------------------------
def _sampling_check(run: Any, work: Path, setup: CacheSetup, configs: list[Config],
                    sampled: dict[str, dict[str, Any]], seed: int, training: dict | None
                    ) -> dict[str, Any]:
    """LeNet's complete trace against its sampled estimate, for the main configuration's
    reductions (coverage-aware and plain LRU) against the L1 alone."""
    l1 = f"l1_{setup.l1_kib}k"
    main = f"{l1}+null_{_label(setup.main_null_bytes)}"
    compared = [label for label in (main, f"{main}_lru") if label in sampled]
    path = str(work / "lenet5_full.trc")
    info = run(_generate_task, [("lenet5", path, seed, "fine",
                                 Sampling.full().to_dict(), training)])[0]
    params = {c.label: asdict(c.params) for c in configs if c.label in (l1, *compared)}
    full = dict(zip(params, run(_replay_task, [(path, p) for p in params.values()]),
                    strict=True))
    full_s = {k: _summary(v) for k, v in full.items()}
    sampled_s = {k: _summary(sampled[k]) for k in params}
    rows = {}
    for label in compared:
        full_r = _reduction(full_s[l1], full_s[label])
        sampled_r = _reduction(sampled_s[l1], sampled_s[label])
        rows[label] = {"full": full_r, "sampled": sampled_r,
                       "difference_points": {k: sampled_r[k] - full_r[k] for k in full_r}}
    return {
        "network": "lenet5", "full_records": info["records"],
        "sampled_records": sampled[l1]["records"],
        "full_configs": full_s, "sampled_configs": sampled_s, "reductions": rows,
        "goal_points": 1.0,
        "passed": all(abs(r["difference_points"]["miss_reduction_percent"]) <= 1.0
                      for r in rows.values()),
        "replay_cpu_seconds": sum(v["cpu_seconds"] for v in full.values()),
    }


def run_sparsecache_benchmark(out_dir: Path, networks: Iterable[str] | None = None, *,
                              setup: CacheSetup = CacheSetup(),
                              thresholds: Iterable[float] = THRESHOLDS,
                              sampling: Sampling | None = None, seed: int = 0, jobs: int = 2,
                              coarse: bool = True, sampling_check: bool = True,
                              traces: Mapping[str, Path | str] | None = None,
                              lenet_training: dict | None = None) -> Path:
    """Measure, write ``sparsecache.json`` and the plots; return the JSON path.

    ``traces`` maps a network to an existing (fine-grained) trace file to use instead of
    generating one. ``lenet_training`` shortens LeNet's training (tests). ``jobs`` processes
    run the traces and replays.
    """
    started = time.perf_counter()
    thresholds = tuple(thresholds)
    networks, configs = check_request(networks, setup=setup, thresholds=thresholds,
                                      coarse=coarse, traces=traces, jobs=jobs)
    sampling = BENCH_SAMPLING if sampling is None else sampling
    machine = machine_context()
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".sparsecache-bench-", dir=out_dir))
    phases: dict[str, float] = {}
    try:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            def run(function, argument_list):
                futures = [pool.submit(function, *arguments) for arguments in argument_list]
                return [future.result() for future in futures]

            clock = time.perf_counter()
            variants = ["fine", "coarse"] if coarse else ["fine"]
            if "lenet5" in networks or sampling_check:
                _progress("training LeNet-5 on the digits (cached after the first run)")
                run(_train_task, [(seed, v, lenet_training) for v in variants])
            phases["train_s"] = time.perf_counter() - clock

            clock = time.perf_counter()
            trace_jobs, trace_keys = [], []
            provided = {k: str(v) for k, v in (traces or {}).items()}
            check_extra = sampling_check and "lenet5" not in networks
            for name in networks + (["lenet5"] if check_extra else []):
                for variant in variants if name in networks else ["fine"]:
                    if variant == "fine" and name in provided:
                        continue
                    path = str(work / f"{name}_{variant}.trc")
                    trace_jobs.append((name, path, seed, variant, sampling.to_dict(),
                                       lenet_training))
                    trace_keys.append((name, variant))
            _progress(f"generating {len(trace_jobs)} traces")
            infos = dict(zip(trace_keys, run(_generate_task, trace_jobs), strict=True))
            for name, path in provided.items():
                reader = TraceReader(path)
                infos[(name, "fine")] = {
                    "path": path, "records": reader.record_count, "blocks": reader.block_count,
                    "bytes": os.path.getsize(path), "provided": True,
                    "measured": sum(op["measured"] for op in reader.metadata["ops"]),
                    "full_accesses": reader.metadata.get("full_accesses"),
                    "layers": reader.metadata.get("layers"),
                    "lenet": reader.metadata.get("lenet")}
            phases["traces_s"] = time.perf_counter() - clock

            clock = time.perf_counter()
            replay_jobs, replay_keys = [], []
            for name in networks + (["lenet5"] if check_extra else []):
                for config in configs:
                    if name not in networks and config.variant != "fine":
                        continue
                    replay_jobs.append((infos[(name, config.variant)]["path"],
                                        asdict(config.params)))
                    replay_keys.append((name, config.label))
            _progress(f"{len(replay_jobs)} replays on {jobs} processes")
            futures = [pool.submit(_replay_task, *a) for a in replay_jobs]
            error_futures = {name: pool.submit(_error_task, name, seed, thresholds,
                                               lenet_training)
                             for name in networks} if thresholds else {}
            results: dict[str, dict[str, Any]] = {}
            for (name, label), future in zip(replay_keys, futures, strict=True):
                results.setdefault(name, {})[label] = future.result()
            errors = {name: f.result() for name, f in error_futures.items()}
            phases["replays_s"] = time.perf_counter() - clock

            clock = time.perf_counter()
            check = None
            if sampling_check:
                _progress("sampling check: LeNet-5's complete trace")
                check = _sampling_check(run, work, setup, configs, results["lenet5"], seed,
                                        lenet_training)
            phases["sampling_check_s"] = time.perf_counter() - clock
    finally:
        shutil.rmtree(work, ignore_errors=True)

    per_network = {}
    for name in networks:
        traces_info = {v: infos[(name, v)] for v in variants if (name, v) in infos}
        per_network[name] = _network_report(name, setup, [c for c in configs],
                                            results[name], traces_info, errors.get(name),
                                            thresholds)
    cpu = sum(r["cpu_seconds"] for n in results.values() for r in n.values())
    report = {
        "benchmark": "sparsecache",
        "machine": machine,
        "paper": PAPER,
        "notes": NOTES,
        "setup": {**asdict(setup),
                  "null_entries": {_label(b): null_entries(b, setup) for b in setup.null_bytes}},
        "configurations": {c.label: {"trace": c.variant, "params": asdict(c.params)}
                           for c in configs},
        "sampling": sampling.to_dict(),
        "seed": seed,
        "networks": per_network,
        "paper_comparison": _paper_comparison(per_network, setup),
        "sampling_check": check,
        "plots": {key: name for key, (name, _) in PLOTS.items()},
        "runtime": {**phases, "replay_cpu_s": cpu, "jobs": jobs,
                    "total_s": time.perf_counter() - started},
    }
    for _key, (name, plot) in PLOTS.items():
        write_atomically(out_dir / name, lambda p, plot=plot: plot(report, p))
    json_path = out_dir / "sparsecache.json"
    text = json.dumps(json_safe(report), indent=2, sort_keys=True) + "\n"
    write_atomically(json_path, lambda p: p.write_text(text))
    _progress(f"done in {report['runtime']['total_s']:.0f} s")
    return json_path


