"""Place and route a design on an ECP5 or iCE40 with nextpnr, and report what it achieves.

The design is wrapped in :class:`~accelgen.generators.timing_harness.TimingHarness` (three
pins, every core path register-to-register), synthesized with ``synth_ecp5`` / ``synth_ice40``
and placed and routed by YoWASP's nextpnr, whose wheels carry the chip databases. The device
is the smallest of the family that the synthesized netlist fits with room to route (see
:func:`choose_device`); on ECP5, multipliers go to DSP blocks unless the largest device has too
few, in which case the design is synthesized again with ``-nodsp`` and the report says so.

Every file of a run (scripts, logs, netlist, nextpnr's JSON report) stays in the work
directory, so any figure can be reproduced by hand.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from accelgen.generators.timing_harness import TimingHarness, harness_verilog

from .locks import file_lock
from .ports import find_clock, read_ports
from .synth import _LATCH_CELLS, UNESCAPE_NAMES, _reject_latches
from .toolchain import ToolError, cache_root, run_yosys

__all__ = [
    "DEFAULT_FREQUENCY_MHZ",
    "DEVICES",
    "Device",
    "choose_device",
    "parse_nextpnr_report",
    "place_and_route",
]

DEFAULT_FREQUENCY_MHZ: dict[str, float] = {"ecp5": 100.0, "ice40": 50.0}
"""nextpnr's timing-driven placement aims at this unless ``frequency_mhz`` is given."""

FILL = 0.85
"""Largest fraction of a device's logic or flip-flops a design may need to be placed on it."""


@dataclass(frozen=True)
class Device:
    """One FPGA as nextpnr knows it; ``logic`` is LUT4s (ECP5) or logic cells (iCE40)."""

    family: str
    name: str
    option: str
    package: str
    logic: int
    flip_flops: int
    dsp: int
    bram: int


DEVICES: dict[str, tuple[Device, ...]] = {
    # Resources as nextpnr's utilisation report gives them for these parts.
    "ecp5": (
        Device("ecp5", "LFE5U-25F", "--25k", "CABGA381", 24288, 24288, 28, 56),
        Device("ecp5", "LFE5U-45F", "--45k", "CABGA381", 43848, 43848, 72, 108),
        Device("ecp5", "LFE5U-85F", "--85k", "CABGA381", 83640, 83640, 156, 208),
    ),
    "ice40": (
        Device("ice40", "iCE40UP5K", "--up5k", "sg48", 5280, 5280, 8, 30),
        Device("ice40", "iCE40HX8K", "--hx8k", "ct256", 7680, 7680, 0, 32),
    ),
}
"""Candidate devices per family, smallest first."""


@dataclass(frozen=True)
class Need:
    """What a synthesized netlist asks of a device (see :func:`netlist_need`)."""

    logic: int
    flip_flops: int
    dsp: int
    bram: int


def netlist_need(family: str, cells: dict[str, int]) -> Need:
    """Resources a ``synth_<family>`` netlist needs, from its cell counts.

    ECP5: a CCU2C holds two LUT4s and a TRELLIS_DPR16X4 distributed RAM six (four RAM, two
    write-port LUTs), as nextpnr packs them. iCE40: a logic cell holds one LUT4 and one
    flip-flop, but only a flip-flop fed by its own LUT shares it, so LUTs plus flip-flops is
    the safe count.
    """
    def count(*prefixes: str) -> int:
        return sum(n for cell, n in cells.items() if cell.startswith(prefixes))

    if family == "ecp5":
        return Need(logic=count("LUT4") + 2 * count("CCU2C") + 6 * count("TRELLIS_DPR16X4"),
                    flip_flops=count("TRELLIS_FF"), dsp=count("MULT18X18D"),
                    bram=count("DP16KD", "PDPW16KD"))
    flip_flops = count("SB_DFF")
    return Need(logic=count("SB_LUT4") + flip_flops, flip_flops=flip_flops,
                dsp=count("SB_MAC16"), bram=count("SB_RAM40_4K"))


def _shortfall(need: Need, device: Device) -> list[str]:
    """What ``need`` asks of ``device`` beyond what it may use, one item per resource."""
    limits = [("logic", need.logic, FILL * device.logic, device.logic),
              ("FF", need.flip_flops, FILL * device.flip_flops, device.flip_flops),
              ("DSP", need.dsp, device.dsp, device.dsp),
              ("BRAM", need.bram, device.bram, device.bram)]
    return [f"{wanted} {name} (has {has}" + (f", {FILL:.0%} usable)" if limit < has else ")")
            for name, wanted, limit, has in limits if wanted > limit]


def choose_device(family: str, need: Need, name: str | None = None) -> tuple[Device, str]:
    """The smallest device of ``family`` with room for ``need`` (or the device called
    ``name``, checked), and why it was chosen.

    Logic and flip-flops may fill :data:`FILL` of the device, DSPs and block RAMs all of it.
    Raises :class:`ToolError` naming the resources that do not fit when even the largest
    device (or ``name``) is too small.
    """
    wanted = (f"{need.logic} logic, {need.flip_flops} FF, {need.dsp} DSP, {need.bram} BRAM")
    if name is not None:
        device = next(d for d in DEVICES[family] if d.name == name)
        if _shortfall(need, device):
            raise ToolError(f"the design does not fit {device.name}: it needs "
                            + "; ".join(_shortfall(need, device)))
        return device, f"asked for; {wanted} fit"
    for device in DEVICES[family]:
        if not _shortfall(need, device):
            return device, (f"smallest {family} device with {wanted} at most {FILL:.0%} full "
                            f"({device.logic} logic, {device.flip_flops} FF, {device.dsp} DSP, "
                            f"{device.bram} BRAM)")
    largest = DEVICES[family][-1]
    raise ToolError(f"the design does not fit any {family} device, not even the largest, "
                    f"{largest.name}: it needs " + "; ".join(_shortfall(need, largest)))


# --- synthesis -----------------------------------------------------------------------------

def _synthesis_script(sources: list[str], top: str, family: str, dsp: bool) -> str:
    command = f"synth_{family} -top {top}" + ("" if dsp or family != "ecp5" else " -nodsp")
    # Multipliers left to the fabric are Booth-encoded first: synth_ecp5 / synth_ice40 would
    # otherwise build them as plain partial-product adders, about 2.7 times the LUT4s (an int8
    # multiply-accumulate: 467 LUT4 against 170).
    lut_multipliers = ["booth"] if not (dsp and family == "ecp5") else []
    return "\n".join([
        "read_verilog " + " ".join(f'"{source}"' for source in sources),
        f"hierarchy -check -top {top}",
        "proc",
        f"tee -q -o latches.txt select -list {_LATCH_CELLS}",
        f"select -assert-none {_LATCH_CELLS}",
        *UNESCAPE_NAMES,
        *lut_multipliers,
        command,
        "check -assert",
        "write_json netlist.json",
        "tee -q -o stat.json stat -json",
        "",
    ])


def _synthesize(sources: list[Path], top: str, family: str, dsp: bool, workdir: Path
                ) -> dict[str, int]:
    relative = [os.path.relpath(source.resolve(), workdir.resolve()) for source in sources]
    for stale in ("latches.txt", "stat.json", "netlist.json"):
        (workdir / stale).unlink(missing_ok=True)
    (workdir / "synth.ys").write_text(_synthesis_script(relative, top, family, dsp))
    try:
        run_yosys(["-s", "synth.ys"], cwd=workdir, log=workdir / "yosys.log")
    finally:
        _reject_latches(workdir, top)
    design = json.loads((workdir / "stat.json").read_text())["design"]
    return {cell: int(n) for cell, n in sorted(design.get("num_cells_by_type", {}).items())
            if not cell.startswith("$scopeinfo")}


# --- nextpnr -------------------------------------------------------------------------------

_NEXTPNR_MAIN = ("import sys, yowasp_nextpnr_{family} as tool; "
                 "sys.exit(tool.run_nextpnr_{family}(sys.argv[1:]))")


@functools.cache
def _compiled(family: str) -> None:
    """Let YoWASP compile nextpnr once, alone: its first-run cache is not safe to race on."""
    with file_lock(cache_root() / f"yowasp-nextpnr-{family}.lock"):
        subprocess.run([sys.executable, "-c", _NEXTPNR_MAIN.format(family=family), "--version"],
                       capture_output=True, check=False)


def _run_nextpnr(device: Device, frequency_mhz: float, workdir: Path, *, seed: int,
                 timeout_s: float | None) -> None:
    """Run nextpnr on ``workdir/netlist.json``, writing ``nextpnr.json`` and ``nextpnr.log``."""
    if importlib.util.find_spec(f"yowasp_nextpnr_{device.family}") is None:
        raise ToolError(f"yowasp-nextpnr-{device.family} not found: install it with "
                        f"`pip install yowasp-nextpnr-{device.family}`")
    _compiled(device.family)
    free_pins = "--lpf-allow-unconstrained" if device.family == "ecp5" else \
        "--pcf-allow-unconstrained"
    args = [device.option, "--package", device.package, "--json", "netlist.json",
            "--freq", f"{frequency_mhz:g}", "--seed", str(seed), free_pins,
            "--timing-allow-fail", "--report", "nextpnr.json", "--detailed-timing-report",
            "-l", "nextpnr.log", "-q"]
    (workdir / "nextpnr.json").unlink(missing_ok=True)
    (workdir / "nextpnr.args").write_text(" ".join(args) + "\n")
    command = [sys.executable, "-c", _NEXTPNR_MAIN.format(family=device.family), *args]
    try:
        result = subprocess.run(command, cwd=workdir, capture_output=True, text=True,
                                timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise ToolError(f"nextpnr-{device.family} timed out after {timeout_s:g} s in {workdir} "
                        f"(log: {workdir / 'nextpnr.log'})") from None
    if result.returncode != 0 or not (workdir / "nextpnr.json").is_file():
        log = workdir / "nextpnr.log"
        lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
        errors = [line for line in lines if line.startswith("ERROR")] or lines[-12:]
        console = (result.stdout + result.stderr).strip().splitlines()[-5:]
        raise ToolError(f"nextpnr-{device.family} failed (exit code {result.returncode}) in "
                        f"{workdir} (log: {log}):\n" + "\n".join(errors + console))


_PACKED_SUFFIX = re.compile(r"_(?:DFF)?LC$")
_FLIP_FLOP_SUFFIX = re.compile(r"_(?:TRELLIS_FF|SB_DFF[A-Z]*)_Q(?:_(\d+))?(?:_D(?:_.*)?)?$")


def _register_name(cell: str) -> str:
    """``core.pe_1.acc_TRELLIS_FF_Q_27`` -> ``core.pe_1.acc[27]``.

    Yosys names a flip-flop after the net its Q drives (and the LUT feeding it after that, with
    ``_D_...``); nextpnr's iCE40 packer appends ``_LC`` or ``_DFFLC``. Other cells keep their
    name.
    """
    cell = _PACKED_SUFFIX.sub("", cell)
    match = _FLIP_FLOP_SUFFIX.search(cell)
    if match is None:
        return cell
    bit = f"[{match.group(1)}]" if match.group(1) is not None else ""
    return cell[:match.start()] + bit


def parse_nextpnr_report(report: dict[str, Any], core_prefix: str = "core.") -> dict[str, Any]:
    """Fmax, utilisation and the critical register-to-register path of a nextpnr ``--report``.

    ``fmax_mhz`` is the lowest achieved frequency over the clocks. The critical path is the
    longest path that starts and ends at a clock edge; ``start`` and ``end`` name its
    registers (``end`` with the input pin it reaches), ``in_core`` says whether both lie in
    the design under test rather than in the harness.
    """
    clocks = report.get("fmax", {})
    if not clocks:
        raise ToolError("nextpnr reported no clock: the design has no register on its clock")
    fmax = min(float(clock["achieved"]) for clock in clocks.values())
    target = min(float(clock["constraint"]) for clock in clocks.values())
    synchronous = [path for path in report.get("critical_paths", [])
                   if path["from"].startswith(("posedge", "negedge"))
                   and path["to"].startswith(("posedge", "negedge")) and path["path"]]
    critical: dict[str, Any] | None = None
    if synchronous:
        path = max(synchronous, key=lambda p: sum(step["delay"] for step in p["path"]))
        steps = path["path"]
        first, last = steps[0]["from"], steps[-1]["to"]
        delay = sum(step["delay"] for step in steps)
        logic = sum(step["delay"] for step in steps if step["type"] != "routing")
        start, end = _register_name(first["cell"]), _register_name(last["cell"])
        critical = {
            "start": start,
            "end": end,
            "end_pin": last["port"],
            "delay_ns": round(delay, 3),
            "logic_ns": round(logic, 3),
            "routing_ns": round(delay - logic, 3),
            "cells": len({step["to"]["cell"] for step in steps if step["type"] == "logic"}),
            "in_core": start.startswith(core_prefix) and end.startswith(core_prefix),
        }
    utilization = {name: {"used": int(value["used"]), "available": int(value["available"])}
                   for name, value in sorted(report.get("utilization", {}).items())
                   if value["used"]}
    return {"fmax_mhz": round(fmax, 2), "target_mhz": target, "meets_target": fmax >= target,
            "critical_path": critical, "utilization": utilization}


# --- the flow ------------------------------------------------------------------------------

class _Stopwatch:
    """Wall and child-process CPU seconds per step: on a shared machine the CPU time is the
    figure that does not depend on what else is running."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            yield
        finally:
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            self.wall[name] = round(time.perf_counter() - start, 2)
            self.cpu[name] = round(after.ru_utime - before.ru_utime
                                   + after.ru_stime - before.ru_stime, 2)


def place_and_route(
    verilog: Path,
    target: str,
    workdir: Path,
    *,
    top: str | None = None,
    clock: str | None = None,
    frequency_mhz: float | None = None,
    dsp: bool | None = None,
    seed: int = 1,
    timeout_s: float | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Wrap ``top`` of ``verilog`` in the timing harness, synthesize, place and route it.

    ``target`` is ``"ecp5"`` or ``"ice40"``. ``top`` defaults to the file's marked top module,
    ``clock`` to the first input named like a clock (:data:`~.ports.CLOCK_NAMES`).
    ``frequency_mhz`` is the target nextpnr optimizes for (default
    :data:`DEFAULT_FREQUENCY_MHZ`); the reported ``fmax_mhz`` is what it achieved. ``dsp``
    forces ECP5 multipliers into DSP blocks (``True``) or LUTs (``False``); ``None`` uses DSPs
    when the largest device has enough. ``timeout_s`` bounds nextpnr's run. ``device`` names
    one of :data:`DEVICES` instead of the smallest that fits (to compare sizes on one die).

    Returns a JSON-able report: ``top``, ``target``, ``device`` (name, package, why),
    ``dsp``, ``fmax_mhz``, ``target_mhz``, ``meets_target``, ``critical_path`` (see
    :func:`parse_nextpnr_report`), ``utilization``, ``harness`` (shift-register and capture
    bits, XOR levels), ``synthesis_cells``, and ``seconds`` (wall) and ``cpu_seconds`` (tool
    processes) per step. Raises :class:`ValueError`
    for bad arguments and :class:`ToolError` when a tool fails or nothing is big enough.
    """
    if target not in DEVICES:
        raise ValueError(f"target: must be one of {', '.join(DEVICES)}, got {target!r}")
    if frequency_mhz is not None and not frequency_mhz > 0:
        raise ValueError(f"frequency: must be > 0 MHz, got {frequency_mhz}")
    frequency = frequency_mhz or DEFAULT_FREQUENCY_MHZ[target]
    names = [d.name for d in DEVICES[target]]
    if device is not None and device not in names:
        raise ValueError(f"device: must be one of {', '.join(names)}, got {device!r}")
    most_dsp = DEVICES[target][names.index(device) if device else -1].dsp
    workdir.mkdir(parents=True, exist_ok=True)
    watch = _Stopwatch()

    with watch.step("harness"):
        ports = read_ports(verilog, workdir, top)
        clock_name = find_clock(ports, clock)
        harness = TimingHarness(ports.top, ports.ports, clock=clock_name)
        harness_name = f"{ports.top}_harness"
        harness_file = workdir / "harness.v"
        harness_file.write_text(harness_verilog(harness, harness_name))

    with watch.step("synth"):
        use_dsp = dsp is not False and target == "ecp5"
        cells = _synthesize([verilog, harness_file], harness_name, target, use_dsp, workdir)
        need = netlist_need(target, cells)
        if dsp is None and use_dsp and need.dsp > most_dsp:
            use_dsp = False
            cells = _synthesize([verilog, harness_file], harness_name, target, use_dsp, workdir)
            need = netlist_need(target, cells)
    chosen, reason = choose_device(target, need, device)

    with watch.step("pnr"):
        _run_nextpnr(chosen, frequency, workdir, seed=seed, timeout_s=timeout_s)
    result = parse_nextpnr_report(json.loads((workdir / "nextpnr.json").read_text()))
    return {
        "top": ports.top,
        "target": target,
        "device": {"name": chosen.name, "package": chosen.package, "why": reason},
        "dsp": use_dsp,
        **result,
        "harness": {"module": harness_name, "clock": clock_name, "pins": 3,
                    "input_bits": harness.input_bits, "output_bits": harness.output_bits,
                    "xor_levels": harness.xor_levels},
        "need": asdict(need),
        "synthesis_cells": cells,
        "seed": seed,
        "seconds": watch.wall,
        "cpu_seconds": watch.cpu,
        "workdir": str(workdir),
    }
