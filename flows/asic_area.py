"""ASIC-style area without a PDK: Yosys maps a design to a small cell library and adds it up.

``flows/cells/accelgen_cells.lib`` is accelgen's own Liberty library: eleven cells whose areas
are NAND2 equivalents, so the total is a gate-equivalent (GE) count that compares designs the
way a standard-cell flow would, without anybody's process data. A user's real Liberty file can
be given instead; the area is then in that library's unit (usually square micrometres) and is
also converted to gate equivalents by dividing by the library's smallest two-input NAND.

The script is ``synth`` (flattened by default, as a standard-cell flow would see the design),
``dfflibmap`` for the flip-flops (enables and synchronous resets become gates in front of the
D input) and ``abc -liberty`` for the logic; ``stat -liberty`` sums the areas.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .liberty import LibertyCell, nand2_area, read_liberty
from .synth import _LATCH_CELLS, _reject_latches
from .toolchain import ToolError, run_yosys

__all__ = ["DEFAULT_LIBERTY", "asic_area", "liberty_digest"]

DEFAULT_LIBERTY = Path(__file__).resolve().parent / "cells" / "accelgen_cells.lib"
"""accelgen's cell library; its areas are NAND2 equivalents."""


def liberty_digest(liberty: Path) -> str:
    """A short hash of a Liberty file's bytes, for cache keys."""
    return hashlib.sha256(liberty.read_bytes()).hexdigest()[:16]


def _script(sources: Sequence[str], top: str, *, flatten: bool, blackboxes: Sequence[str],
            netlist: bool) -> str:
    # The library's cells as blackboxes, so that `check` knows their pin directions.
    lines = ["read_liberty -lib cells.lib",
             "read_verilog " + " ".join(f'"{source}"' for source in sources)]
    lines += [f"blackbox {name}" for name in blackboxes]
    lines += [
        f"hierarchy -check -top {top}",
        "proc",
        f"tee -q -o latches.txt select -list {_LATCH_CELLS}",
        f"select -assert-none {_LATCH_CELLS}",
        f"synth {'-flatten ' if flatten else ''}-top {top}",
        "dfflibmap -liberty cells.lib",
        "abc -liberty cells.lib",
        "opt_clean",
        "check -assert",
        "delete t:$scopeinfo",
        "tee -q -o stat.json stat -json -liberty cells.lib",
    ]
    if netlist:
        lines.append("write_json netlist.json")
    return "\n".join([*lines, ""])


def asic_area(
    verilog: Path | Sequence[Path],
    top: str,
    workdir: Path,
    *,
    liberty: Path | None = None,
    flatten: bool = True,
    blackboxes: Sequence[str] = (),
    netlist: bool = False,
) -> dict[str, Any]:
    """Map ``top`` to ``liberty`` (default :data:`DEFAULT_LIBERTY`) and report its area.

    Returns ``top``, ``liberty`` (path), ``area`` (library units), ``gate_equivalents``
    (``area`` over the library's smallest NAND2, ``None`` if it has none), ``nand2_area``,
    ``sequential_area``, ``cells_total``, ``cells`` by type, ``flip_flops`` and, with
    ``flatten=False``, ``modules``: each module's area including its submodules.
    ``blackboxes`` names modules to leave out (counted as zero). With ``netlist`` the mapped
    netlist is kept as ``workdir/netlist.json``. Raises :class:`ToolError` when Yosys fails or
    the design infers a latch.
    """
    sources = [verilog] if isinstance(verilog, Path) else list(verilog)
    library = (liberty or DEFAULT_LIBERTY).resolve()
    if not library.is_file():
        raise ToolError(f"Liberty file {library} does not exist")
    cells: dict[str, LibertyCell] = read_liberty(library)
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in ("latches.txt", "stat.json", "netlist.json"):
        (workdir / stale).unlink(missing_ok=True)
    shutil.copyfile(library, workdir / "cells.lib")  # YoWASP sees relative paths only
    relative = [os.path.relpath(source.resolve(), workdir.resolve()) for source in sources]
    (workdir / "area.ys").write_text(_script(relative, top, flatten=flatten,
                                             blackboxes=blackboxes, netlist=netlist))
    try:
        run_yosys(["-s", "area.ys"], cwd=workdir, log=workdir / "yosys.log")
    finally:
        _reject_latches(workdir, top)

    stat = json.loads((workdir / "stat.json").read_text())
    design = stat["design"]
    by_type = {cell: int(n) for cell, n in sorted(design.get("num_cells_by_type", {}).items())}
    submodules = {name.removeprefix("\\") for name in stat["modules"]} | set(blackboxes)
    unmapped = sorted(cell for cell in by_type if cell not in cells and cell not in submodules)
    if unmapped:
        raise ToolError(f"{top}: cells {', '.join(unmapped[:5])} are not in {library.name}; "
                        "the library lacks a flip-flop or gate this design needs")
    flip_flops = sum(n for cell, n in by_type.items() if cell in cells and cells[cell].sequential)
    area = float(design.get("area", 0.0))
    nand2 = nand2_area(cells)
    report: dict[str, Any] = {
        "top": top,
        "liberty": str(library),
        "area": round(area, 3),
        "gate_equivalents": round(area / nand2, 1) if nand2 else None,
        "nand2_area": nand2,
        "sequential_area": round(float(design.get("sequential_area", 0.0)), 3),
        "cells_total": sum(by_type.values()),
        "cells": by_type,
        "flip_flops": flip_flops,
        "flatten": flatten,
    }
    if not flatten:
        report["modules"] = {name.removeprefix("\\"): round(float(module.get("area", 0.0)), 3)
                             for name, module in stat["modules"].items()}
    return report
