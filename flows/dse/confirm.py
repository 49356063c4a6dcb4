"""Second fidelity: the real tools on the chosen Pareto points.

For each point the whole generated design is

* synthesized flat and mapped to the cell library (:func:`accelgen.flows.asic_area.asic_area`):
  the confirmed **area** (plus the SparseCache TCAM, synthesized alone, when there is one);
* placed and routed in the timing harness (:func:`accelgen.flows.pnr.place_and_route`): the
  confirmed **fmax**, device and utilization;
* when power or energy is an objective or constraint, run on Verilator for the power proxy
  (:func:`accelgen.flows.power.gemm_power`): the confirmed **power**.

Latency is not re-measured: the cycle model is the RTL's schedule, checked edge for edge by
the regression. Each step's result is cached by a hash of what it depends on (the design's
parameters, the generator sources, the tool versions), so no design is synthesized twice, even
across studies; a failing step is recorded with the tail of its log and does not stop the
others. The tools' files stay in ``out_dir/confirm/<design>``.

:func:`synthesized` is the same measurement as a scorer
(``--scorer accelgen.flows.dse.confirm:synthesized``): every trial at the second fidelity,
for small spaces and for measuring what the real tools cost per trial.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

from accelgen.generators.sparsecache.cache_config import SparseCacheConfig
from accelgen.generators.systolic import SystolicConfig
from accelgen.sim.layers import LayerSpec

from ..toolchain import ToolError
from .evaluate import Scoring, ScoringError, cached, latency_figures
from .space import canonical_point

__all__ = ["SYNTHESIS_TIMEOUT_S", "confirm_point", "synthesized"]

SYNTHESIS_TIMEOUT_S = 1800.0
"""nextpnr's time limit per trial when every trial is synthesized."""

LOG_TAIL = 4000


def _log_tail(error: BaseException, workdir: Path) -> str | None:
    """The end of the newest log in ``workdir`` (the failing tool's)."""
    logs = sorted(workdir.rglob("*.log"), key=lambda p: p.stat().st_mtime)
    for path in reversed(logs):
        with contextlib.suppress(OSError):
            return f"{path}:\n" + path.read_text(errors="replace")[-LOG_TAIL:]
    return None


def _step(name: str, result: dict[str, Any], workdir: Path, run: Any) -> None:
    start = time.perf_counter()
    try:
        result["figures"].update(run())
    except (ToolError, ValueError, OSError, RuntimeError) as error:
        result["errors"][name] = {"error": str(error).splitlines()[0] if str(error) else
                                  type(error).__name__, "log": _log_tail(error, workdir)}
    result["seconds"][name] = round(time.perf_counter() - start, 1)


def confirm_point(canonical: dict[str, Any], scoring: Scoring, out_dir: Path,
                  timeout_s: float | None = None) -> dict[str, Any]:
    """Real figures of one canonical point (see :func:`~.space.canonical_point`).

    Returns ``{"module", "figures": {area_ge, fmax_mhz, device, ..., power}, "errors":
    {step: {error, log}}, "seconds": {step: s}, "workdir"}`` (``workdir`` relative to
    ``out_dir``, beside the report, so a committed report names no machine's paths); never
    raises for a tool failure.
    """
    from accelgen.generators.emit import generate_systolic, write_design

    cfg = SystolicConfig(**canonical["systolic"])
    cache = (SparseCacheConfig(**canonical["sparsecache"]) if "sparsecache" in canonical
             else None)
    liberty = Path(scoring.liberty) if scoring.liberty else None
    workdir = out_dir / "confirm" / cfg.name
    design = generate_systolic(cfg)
    v_path, _ = write_design(design, workdir / "design")
    result: dict[str, Any] = {"module": cfg.name, "figures": {}, "errors": {}, "seconds": {},
                              "workdir": workdir.relative_to(out_dir).as_posix()}
    material = {"config": cfg.to_dict(), "liberty": scoring.liberty}

    def area() -> dict[str, Any]:
        from ..asic_area import asic_area

        def compute(work: Path) -> dict[str, Any]:
            report = asic_area(v_path, design.name, work, liberty=liberty)
            return {"area": report["area"], "gate_equivalents": report["gate_equivalents"],
                    "cells_total": report["cells_total"], "flip_flops": report["flip_flops"]}

        array = cached("confirm-area", material, compute, workdir / "asic")
        ge = array["gate_equivalents"] or array["area"]
        figures = {"area_array_ge": ge, "area_ge": ge}
        if cache is not None:
            from accelgen.generators.sparsecache.tcam import generate_tcam

            def tcam_compute(work: Path) -> dict[str, Any]:
                tcam = generate_tcam(cache.tcam)
                source = work / f"{tcam.name}.v"
                work.mkdir(parents=True, exist_ok=True)
                source.write_text(tcam.verilog)
                report = asic_area(source, tcam.name, work / "asic", liberty=liberty)
                return {"area": report["area"], "gate_equivalents": report["gate_equivalents"]}

            tcam = cached("confirm-tcam", {"tcam": cache.tcam.to_dict(),
                                           "liberty": scoring.liberty},
                          tcam_compute, workdir / "tcam")
            figures["area_null_cache_ge"] = tcam["gate_equivalents"] or tcam["area"]
            figures["area_ge"] = round(ge + figures["area_null_cache_ge"], 1)
        return figures

    def fmax() -> dict[str, Any]:
        from ..pnr import place_and_route

        def compute(work: Path) -> dict[str, Any]:
            report = place_and_route(v_path, scoring.target, work, seed=scoring.seed,
                                     timeout_s=timeout_s)
            return {"fmax_mhz": report["fmax_mhz"], "device": report["device"]["name"],
                    "dsp": report["dsp"], "utilization": report.get("utilization"),
                    "critical_path": report.get("critical_path")}

        report = cached("confirm-pnr", {**material, "target": scoring.target,
                                        "seed": scoring.seed}, compute, workdir / "pnr")
        return {"fmax_mhz": report["fmax_mhz"], "device": report["device"],
                "dsp": report["dsp"], "utilization": report["utilization"],
                "critical_path": report["critical_path"]}

    def power() -> dict[str, Any]:
        from ..power import gemm_power

        def compute(work: Path) -> dict[str, Any]:
            report = gemm_power(cfg, work, liberty=liberty)
            return {"power": report["weighted_toggles_per_cycle"],
                    "workload": report["workload"]}

        report = cached("confirm-power", material, compute, workdir / "power")
        return {"power": report["power"], "power_workload": report["workload"]}

    _step("area", result, workdir, area)
    _step("pnr", result, workdir, fmax)
    if scoring.needs & {"power", "energy"}:
        _step("power", result, workdir, power)
    return result


def synthesized(cfg: SystolicConfig, cache: SparseCacheConfig | None,
                layers: tuple[LayerSpec, ...], fuse_variant: str | None, scoring: Scoring
                ) -> dict[str, Any]:
    """A scorer with :func:`~.evaluate.score_point`'s signature: latency from the cycle model,
    area, fmax (and power when needed) from :func:`confirm_point` on the whole design, marked
    ``confirmed``. A failing step raises :class:`~.evaluate.ScoringError` with its log."""
    figures = latency_figures(cfg, layers, fuse_variant)
    canonical = canonical_point(cfg, cache, {"fuse_variant": fuse_variant})
    out_dir = Path(tempfile.gettempdir()) / "accelgen-dse-synthesized"
    result = confirm_point(canonical, scoring, out_dir, SYNTHESIS_TIMEOUT_S)
    if result["errors"]:
        step, failure = next(iter(result["errors"].items()))
        raise ScoringError(f"{step}: {failure['error']}", failure.get("log"))
    figures.update(result["figures"])
    if "power" in figures:
        figures["energy"] = round(figures["power"] * figures["cycles"], 1)
    fidelity = {"latency": "model", "area": "confirmed", "fmax": "confirmed"}
    if "power" in figures:
        fidelity["power"] = fidelity["energy"] = "confirmed"
    return {"figures": figures, "fidelity": fidelity, "synthesis_seconds": result["seconds"]}
