"""The port list of a Verilog module, read by Yosys, and which of its inputs is the clock.

Flows that wrap or export a design (place and route, FuseSoC, OpenLane) need its ports and
clock without trusting a hand-kept list, and they must work on any Verilog, not only ours.
Yosys reads the file with ``-lib``, which keeps every module's ports and nothing else, so this
takes about a second even for a large array.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from accelgen.generators.timing_harness import Port

from .toolchain import ToolError, run_yosys

__all__ = ["CLOCK_NAMES", "ModulePorts", "find_clock", "read_ports"]

CLOCK_NAMES: tuple[str, ...] = ("clk", "clock", "clk_i", "i_clk", "aclk", "sys_clk")
"""Input names taken for a clock, in this order, when none is named explicitly."""


class ModulePorts:
    """The ``top`` module of a Verilog file and its ports, sorted by name (deterministic)."""

    def __init__(self, top: str, ports: list[Port]):
        self.top = top
        self.ports = sorted(ports, key=lambda port: port.name)

    def __repr__(self) -> str:
        return f"ModulePorts({self.top!r}, {len(self.ports)} ports)"

    def by_name(self, name: str) -> Port | None:
        return next((port for port in self.ports if port.name == name), None)


def read_ports(verilog: Path, workdir: Path, top: str | None = None) -> ModulePorts:
    """Ports of module ``top`` of ``verilog``; without ``top``, the module marked
    ``(* top = 1 *)`` (Amaranth marks its top), or the only module in the file.

    ``workdir`` keeps the Yosys script, log and ``ports.json``. Raises :class:`ValueError` when
    the module is missing or ambiguous and :class:`ToolError` when Yosys cannot read the file.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    source = os.path.relpath(verilog.resolve(), workdir.resolve())
    (workdir / "ports.ys").write_text(f'read_verilog -lib "{source}"\nwrite_json ports.json\n')
    (workdir / "ports.json").unlink(missing_ok=True)
    run_yosys(["-s", "ports.ys"], cwd=workdir, log=workdir / "ports.log")
    modules: dict = json.loads((workdir / "ports.json").read_text())["modules"]
    if top is None:
        marked = [name for name, module in modules.items()
                  if int(module.get("attributes", {}).get("top", "0"), 2)]
        candidates = marked or list(modules)
        if len(candidates) != 1:
            raise ValueError(f"top: {verilog} holds {len(candidates)} candidate modules "
                             f"({', '.join(sorted(candidates)[:4])}...); name one with --top")
        top = candidates[0]
    if top not in modules:
        raise ValueError(f"top: no module {top!r} in {verilog}")
    specs: dict = modules[top]["ports"]
    bidirectional = sorted(name for name, spec in specs.items()
                           if spec["direction"] not in ("input", "output"))
    if bidirectional:
        raise ToolError(f"{top} has inout ports ({', '.join(bidirectional)}), which no accelgen "
                        "flow supports")
    return ModulePorts(top, [Port(name, spec["direction"], len(spec["bits"]))
                             for name, spec in specs.items()])


def find_clock(ports: ModulePorts, clock: str | None = None) -> str:
    """The clock input: ``clock`` if given (checked), else the first of :data:`CLOCK_NAMES`."""
    names = [clock] if clock is not None else list(CLOCK_NAMES)
    for name in names:
        port = ports.by_name(name)
        if port is not None and port.direction == "input" and port.width == 1:
            return name
    if clock is not None:
        raise ValueError(f"clock: {ports.top} has no 1-bit input named {clock!r}")
    raise ValueError(f"clock: {ports.top} has no input named {', '.join(CLOCK_NAMES)}; "
                     "name it with --clock")
