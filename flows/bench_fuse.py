"""``accelgen bench fuse``: FuSeConv's network-level speedups on square output-stationary arrays.

For every array size, network (:data:`accelgen.sim.networks.NETWORKS`, 224x224) and variant
(:data:`accelgen.sim.network_cycles.VARIANTS`): total cycles, cycles and MACs by layer group
(depthwise, pointwise, other), speedup over the baseline on the same array, and PE utilization
(MACs / (cycles * rows * cols)). Cycles come from :mod:`accelgen.sim.network_cycles`: every layer
timed alone by the RTL-exact schedule, layers back to back.

The 50 % variants (``full50``, ``half50``) are fixed architectures, as a network to be trained
must be: their layers are chosen once per network, on the :data:`REFERENCE_SIZE` array (the
paper's 64x64), by :func:`accelgen.sim.network_cycles.select_greedy`, and the same choice is
timed at every size.

An optional cross-check runs SCALE-Sim v3 (output-stationary, GEMM mode) on a few MobileNet-V2
layers in a child interpreter. The JSON and the plots are written atomically at the end; bad
input raises ``ValueError`` from :func:`check_request` before anything is computed.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from accelgen.flows.atomic import write_atomically
from accelgen.generators.systolic import SystolicConfig
from accelgen.sim.layers import LayerSpec
from accelgen.sim.network_cycles import (
    VARIANTS,
    network_cycles,
    replacement_savings,
    select_greedy,
    variant_layers,
)
from accelgen.sim.networks import NETWORKS, network
from accelgen.sim.systolic_cycles import ArrayTiming, gemm_cycles

from .bench_systolic import _pyplot, _size_ticks, machine_context
from .scalesim import Gemm, run_scalesim, scalesim_python

__all__ = ["PAPER", "REFERENCE_SIZE", "SIZES", "array_timing", "check_request", "measure",
           "run_fuse_benchmark", "scalesim_cross_check", "scalesim_layers"]

SIZES: tuple[int, ...] = (32, 64, 128, 256)
REFERENCE_SIZE = 64
"""The array on which the 50 % variants are chosen and whose speedups the bar chart shows."""

MAX_SIZE = 256  # the generator's limit on rows and cols

PAPER = {
    "source": "Selvam, Ganesan, Kumar, 'FuSeConv: Fully Separable Convolutions for Fast "
              "Inference on Systolic Arrays', DATE 2021 (arXiv:2105.13434)",
    "array": "64x64",
    "headline": {"network": "mobilenet_v2", "speedup": 7.23,
                 "quote": "up to 7.23x faster inference (MobileNet-V2, 64x64 array), as issue 3 "
                          "quotes the paper; the variant it belongs to is not given there"},
    "range": {"low": 3.0, "high": 7.0,
              "quote": "abstract: 'a significant speed-up of 3x-7x with the MobileNet family of "
                       "networks on a systolic array of size 64x64'"},
    "area_overhead_32x32": 0.0435,
    "power_overhead_32x32": 0.0225,
}

NOTES = {
    "cycles": "accelgen.sim.network_cycles: each layer alone on the array, timed by the "
              "RTL-exact schedule (accelgen.sim.systolic_cycles.schedule) from its first accepted "
              "step to its last delivered result; layers back to back, no overlap between them",
    "mapping": "KxK depthwise (baseline): one im2col GEMM per channel, M = out_h*out_w, K = k*k, "
               "N = 1, channels streamed back to back (depthwise_baseline_steps); FuSe 1xK / Kx1 "
               "layers: FuSe mode, one 1-D convolution per array row (fuse_layer); every other "
               "layer (conv, pointwise, fc, SE fc): im2col GEMM, M = out_h*out_w, K = kh*kw*"
               "C_in/groups, N = C_out/groups, groups GEMMs back to back (the five networks have "
               "no grouped layer other than depthwise)",
    "array": "square, output-stationary, result FIFO of the default depth 2*rows+cols+3 (an "
             "always-ready consumer never holds the array back); the same array runs every "
             "variant, FuSe layers in FuSe mode",
    "groups": "depthwise = KxK depthwise and FuSe 1xK/Kx1 layers; pointwise = 1x1 convolutions; "
              "other = the stem convolution, fully connected and squeeze-and-excitation layers",
    "utilization": "the variant's own MACs (FuSe layers have fewer) / (cycles * rows * cols)",
    "speedup": "baseline cycles / variant cycles, same network and array size",
    "layers": "per-layer cycles and MACs are listed for the bar chart's array size only",
    "variants": "full: every KxK depthwise layer -> 1xK and Kx1 over all C channels, the next "
                "1x1 layer reads 2C (an SE pair in between scales 2C); half: 1xK on the first "
                "C/2 channels, Kx1 on the last C/2; full50 / half50: see selection",
    "selection": "per network, on the reference_size array: each KxK depthwise layer's saving = "
                 "baseline network cycles - cycles with only that layer replaced (its 1xK + Kx1 "
                 "layers and, for full, the widened 1x1 consumer); savings add up, so taking the "
                 "floor(n/2) layers with the largest savings (ties: earlier layer) gives the "
                 "fewest cycles of any floor(n/2)-layer choice. The same layers are replaced at "
                 "every array size",
}


def check_request(sizes: Iterable[int], networks: Iterable[str] | None,
                  variants: Iterable[str] | None) -> tuple[list[int], list[str], list[str]]:
    """Sorted unique sizes, networks and variants (``baseline`` always included), or a
    ``ValueError`` naming the bad option."""
    sizes = list(sizes)
    if not sizes:
        raise ValueError("--sizes: give at least one array size")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_SIZE:
            raise ValueError(f"--sizes: each size must be an integer from 1 to {MAX_SIZE}, "
                             f"got {size!r}")
    networks = list(NETWORKS if networks is None else networks)
    if not networks:
        raise ValueError("--networks: give at least one network")
    unknown = [name for name in networks if name not in NETWORKS]
    if unknown:
        raise ValueError(f"--networks: unknown network {unknown[0]!r}; known: "
                         f"{', '.join(NETWORKS)}")
    variants = list(VARIANTS if variants is None else variants)
    unknown = [name for name in variants if name not in VARIANTS]
    if unknown:
        raise ValueError(f"--variants: unknown variant {unknown[0]!r}; known: "
                         f"{', '.join(VARIANTS)}")
    return (sorted(set(sizes)), [n for n in NETWORKS if n in networks],
            [v for v in VARIANTS if v == "baseline" or v in variants])


def array_timing(size: int) -> ArrayTiming:
    """A ``size x size`` output-stationary array with the generator's default result FIFO."""
    cfg = SystolicConfig(rows=size, cols=size, dataflow="os")
    return ArrayTiming(cfg.rows, cfg.cols, "os", cfg.result_depth)


def _progress(message: str) -> None:
    print(f"bench fuse: {message}", file=sys.stderr, flush=True)


def _selection(net: list[LayerSpec], reference: ArrayTiming) -> dict[str, Any]:
    chosen: dict[str, Any] = {"reference_size": reference.rows}
    for variant in ("full", "half"):
        savings = replacement_savings(reference, net, variant)
        chosen[f"{variant}50"] = select_greedy(savings)
        chosen[f"{variant}_savings"] = savings
    chosen["replaced"] = len(chosen["full50"])
    chosen["depthwise_layers"] = len(chosen["full_savings"])
    return chosen


def measure(sizes: list[int], networks: list[str], variants: list[str],
            reference_size: int = REFERENCE_SIZE) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The 50 % selections per network and one record per (network, variant, size)."""
    reference = array_timing(reference_size)
    selections: dict[str, Any] = {}
    records: list[dict[str, Any]] = []
    for name in networks:
        net = network(name)
        if {"full50", "half50"} & set(variants):
            _progress(f"{name}: choosing the 50 % layers on {reference_size}x{reference_size}")
            selections[name] = _selection(net, reference)
        for size in sizes:
            timing = array_timing(size)
            base = network_cycles(timing, net)
            for variant in variants:
                result = (base if variant == "baseline" else
                          network_cycles(timing, variant_layers(net, variant,
                                                                selections.get(name))))
                records.append({
                    "network": name, "variant": variant, "size": size, "rows": size,
                    "cols": size, "pes": size * size, "result_depth": timing.result_depth,
                    "cycles": result.cycles, "cycles_by_group": result.cycles_by_group,
                    "macs": result.macs, "macs_by_group": result.macs_by_group,
                    "speedup": base.cycles / result.cycles,
                    "utilization": result.utilization,
                    "replaced_depthwise": sum(x.mapping == "fuse_row" for x in result.layers),
                    "layers": [{"name": x.name, "group": x.group, "mapping": x.mapping,
                                "cycles": x.cycles, "macs": x.macs} for x in result.layers],
                })
        _progress(f"{name}: {len(sizes)} sizes x {len(variants)} variants done")
    return selections, records


def _paper_comparison(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our speedups on the 64x64 array, per network, next to what the paper states."""
    rows = []
    for name in dict.fromkeys(r["network"] for r in records):
        ours = {r["variant"]: r["speedup"] for r in records
                if r["network"] == name and r["size"] == REFERENCE_SIZE
                and r["variant"] != "baseline"}
        if not ours:
            continue
        paper = (PAPER["headline"]["speedup"] if name == PAPER["headline"]["network"] else None)
        rows.append({"network": name, "ours": ours, "ours_best": max(ours.values()),
                     "paper_up_to": paper,
                     "paper_range": [PAPER["range"]["low"], PAPER["range"]["high"]]})
    return rows


# --- SCALE-Sim cross-check -----------------------------------------------------------------

SCALESIM_NETWORK = "mobilenet_v2"
SCALESIM_LAYERS = ("stem", "block2_expand", "block6_project", "head", "block2_dw")
"""A standard 3x3 convolution, three pointwise layers of different shapes, and one channel of
a depthwise layer's baseline GEMM (SCALE-Sim builds cycle-by-cycle demand matrices, so the
cross-check stays small)."""

SCALESIM_SIZES = (32, 64)

SCALESIM_DIFFERENCES = [
    "SCALE-Sim v3 OS (compute/systolic_compute_os.py) gives every fold T + (cols - 1) ifmap "
    "demand rows (the T = K operand steps, then idle rows while the outputs drain) and skews "
    "them over rows - 1 more, so a fold costs K + rows + cols - 2 cycles and folds never "
    "overlap; its 'Total Cycles' (ideal SRAM, no stalls here) is folds * (K + rows + cols - 2) "
    "- 1.",
    "accelgen's array overlaps folds: a tile's drain runs while the next tile's K steps stream "
    "in, limited only by the drain chain (tiles' last steps >= rows edges apart), so a GEMM "
    "costs about tiles * max(K, rows) + 2*rows + cols + 2 edges. SCALE-Sim is therefore higher "
    "by about rows + cols - 2 per fold (or, when K < rows, by K + cols - 2) once there are "
    "many folds.",
    "For a single fold accelgen is higher (K + 2*rows + cols + 2 against K + rows + cols - 3): "
    "the RTL's input register, row/column skew and deskew registers, a drain of one row per "
    "edge and the two-edge result FIFO are all counted, from the first accepted step to the "
    "last delivered result row.",
    "The depthwise baseline (one GEMM per channel, N = 1) shows the difference most: K = 9 < "
    "rows, so accelgen's tiles are rows edges apart while SCALE-Sim pays 9 + rows + cols - 2; "
    "channels multiply both.",
    "SCALE-Sim runs in GEMM mode with M, N, K as here (M = out_h*out_w on rows, N = C_out on "
    "columns, T = K), dense (SparsitySupport false), so the mapping is the same.",
]


def scalesim_layers() -> list[Gemm]:
    """:data:`SCALESIM_LAYERS` of MobileNet-V2 as GEMMs; a depthwise layer as one channel."""
    gemms = []
    by_name = {layer.name: layer for layer in network(SCALESIM_NETWORK)}
    for name in SCALESIM_LAYERS:
        layer = by_name[name]
        kernel_h, kernel_w = layer.kernel
        m = layer.out_height * layer.out_width
        if layer.kind == "depthwise":
            gemms.append(Gemm(f"{name} (1 of {layer.in_channels} channels)", m,
                              kernel_h * kernel_w, 1))
        else:
            gemms.append(Gemm(name, m, kernel_h * kernel_w * layer.in_channels // layer.groups,
                              layer.out_channels // layer.groups))
    return gemms


def scalesim_cross_check(sizes: list[int], work: Path, gemms: list[Gemm] | None = None
                         ) -> dict[str, Any]:
    """Our GEMM cycles next to SCALE-Sim's on :func:`scalesim_layers`, or why there are none.

    Runs at the sizes in :data:`SCALESIM_SIZES` that were requested (else the smallest one).
    Optional: any failure is recorded with its reason, never raised and never silent.
    """
    python = scalesim_python()
    gemms = scalesim_layers() if gemms is None else gemms
    chosen = [s for s in sizes if s in SCALESIM_SIZES] or [min(sizes)]
    rows = []
    versions: dict[str, str] = {}
    for size in chosen:
        _progress(f"SCALE-Sim {size}x{size} os on {len(gemms)} GEMMs ({python}) ...")
        timing = array_timing(size)
        try:
            theirs = run_scalesim(python, size, size, gemms, work / f"{size}", dataflow="os")
        except (OSError, RuntimeError, ValueError, LookupError,
                subprocess.SubprocessError) as error:
            return {"status": "skipped", "reason": f"SCALE-Sim did not run: {error}",
                    "python": python, "layers": [vars(g) for g in gemms]}
        versions = {"scalesim": theirs["scalesim"], "numpy": theirs["numpy"]}
        for gemm, cycles in zip(gemms, theirs["cycles"], strict=True):
            ours = gemm_cycles(timing, gemm.m, gemm.k, gemm.n)
            folds = math.ceil(gemm.m / size) * math.ceil(gemm.n / size)
            rows.append({"size": size, "layer": gemm.name, "m": gemm.m, "k": gemm.k,
                         "n": gemm.n, "folds": folds, "accelgen_cycles": ours,
                         "scalesim_cycles": cycles, "scalesim_over_accelgen": cycles / ours,
                         "scalesim_formula": folds * (gemm.k + 2 * size - 2) - 1})
    return {"status": "ok", "python": python, "network": SCALESIM_NETWORK, **versions,
            "dataflow": "os", "rows": rows, "differences": SCALESIM_DIFFERENCES}


# --- plots -------------------------------------------------------------------------------

_VARIANT_COLOURS = {"full": "tab:blue", "half": "tab:orange", "full50": "tab:cyan",
                    "half50": "tab:olive"}


def plot_speedup_bars(report: dict[str, Any], size: int, path: Path) -> None:
    """Speedup over the baseline per network (groups) and variant (bars) on one array size."""
    pyplot = _pyplot()
    records = [r for r in report["results"] if r["size"] == size and r["variant"] != "baseline"]
    networks = list(dict.fromkeys(r["network"] for r in records))
    variants = [v for v in VARIANTS if any(r["variant"] == v for r in records)]
    width = 0.8 / max(1, len(variants))
    figure, axis = pyplot.subplots(figsize=(2.2 * len(networks) + 2, 5.5))
    for i, variant in enumerate(variants):
        values = [next(r["speedup"] for r in records
                       if r["network"] == n and r["variant"] == variant) for n in networks]
        xs = [x + (i - (len(variants) - 1) / 2) * width for x in range(len(networks))]
        axis.bar(xs, values, width, label=variant, color=_VARIANT_COLOURS[variant])
        for x, value in zip(xs, values, strict=True):
            axis.text(x, value, f"{value:.2f}", ha="center", va="bottom", fontsize=7)
    if size == 64:
        axis.axhspan(PAPER["range"]["low"], PAPER["range"]["high"], color="grey", alpha=0.12,
                     label="paper: 3x-7x (MobileNet family, 64x64)")
        axis.axhline(PAPER["headline"]["speedup"], color="red", linestyle="--", alpha=0.6,
                     label="paper: up to 7.23x (MobileNet-V2, 64x64)")
    axis.axhline(1, color="black", linewidth=0.8)
    axis.set_ylim(0, 1.3 * max([r["speedup"] for r in records] + [PAPER["headline"]["speedup"]]))
    axis.set_xticks(range(len(networks)), networks)
    axis.set(ylabel="speedup over the KxK depthwise baseline (cycles)",
             title=f"FuSeConv on a {size}x{size} output-stationary array (accelgen cycle model)")
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=8, ncol=3, loc="upper center")
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    pyplot.close(figure)


def plot_speedup_vs_size(report: dict[str, Any], path: Path) -> None:
    """Speedup against array size: one panel per FuSe variant, one line per network."""
    pyplot = _pyplot()
    records = [r for r in report["results"] if r["variant"] != "baseline"]
    variants = [v for v in VARIANTS if any(r["variant"] == v for r in records)]
    columns = min(2, max(1, len(variants)))
    panels = max(1, math.ceil(len(variants) / columns))
    figure, axes = pyplot.subplots(panels, columns, figsize=(7 * columns, 4.5 * panels),
                                   squeeze=False, sharey=True)
    networks = list(dict.fromkeys(r["network"] for r in records))
    for axis, variant in zip(axes.flat, variants, strict=False):
        here = [r for r in records if r["variant"] == variant]
        for name in networks:
            line = sorted((r for r in here if r["network"] == name), key=lambda r: r["size"])
            axis.plot([r["pes"] for r in line], [r["speedup"] for r in line], "o-", label=name)
        _size_ticks(axis, [{"pes": r["pes"], "n": r["size"]} for r in here])
        axis.axhline(1, color="black", linewidth=0.8)
        axis.set(title=f"variant {variant}", ylabel="speedup over baseline")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    for axis in list(axes.flat)[len(variants):]:
        axis.set_visible(False)
    figure.suptitle("FuSeConv speedup against array size (square, output-stationary; cycle "
                    "model)", fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    pyplot.close(figure)


def run_fuse_benchmark(out_dir: Path, *, sizes: Iterable[int] = SIZES,
                       networks: Iterable[str] | None = None,
                       variants: Iterable[str] | None = None, scalesim: bool = True,
                       scalesim_gemms: list[Gemm] | None = None) -> Path:
    """Measure, write ``fuse.json`` and the two plots; return the JSON path.

    ``networks`` / ``variants`` default to all; the baseline is always measured (speedups
    need it). ``scalesim_gemms`` replaces :func:`scalesim_layers` (tests use a tiny one).
    """
    started = time.perf_counter()
    sizes, networks, variants = check_request(sizes, networks, variants)
    machine = machine_context()
    selections, records = measure(sizes, networks, variants)
    bar_size = REFERENCE_SIZE if REFERENCE_SIZE in sizes else sizes[0]
    for record in records:  # per-layer detail for one size keeps the report readable
        if record["size"] != bar_size:
            del record["layers"]
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".fuse-bench-", dir=out_dir))
    try:
        cross = (scalesim_cross_check(sizes, work, scalesim_gemms) if scalesim
                 else {"status": "skipped", "reason": "not requested (--no-scalesim)"})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    plots = {"speedup_bars": f"fuse_speedup_{bar_size}.png",
             "speedup_vs_size": "fuse_speedup_vs_size.png"}
    report = {
        "benchmark": "fuse",
        "machine": machine,
        "notes": NOTES,
        "paper": {**PAPER, "ours_at_64x64": _paper_comparison(records)},
        "sizes": sizes,
        "networks": networks,
        "variants": variants,
        "reference_size": REFERENCE_SIZE,
        "selection": selections,
        "results": records,
        "scalesim": cross,
        "plots": plots,
        "total_s": time.perf_counter() - started,
    }
    write_atomically(out_dir / plots["speedup_bars"],
                     lambda p: plot_speedup_bars(report, bar_size, p))
    write_atomically(out_dir / plots["speedup_vs_size"],
                     lambda p: plot_speedup_vs_size(report, p))
    json_path = out_dir / "fuse.json"
    text = json.dumps(report, indent=2, sort_keys=True) + "\n"
    write_atomically(json_path, lambda p: p.write_text(text))
    _progress(f"done in {report['total_s']:.0f} s")
    return json_path
