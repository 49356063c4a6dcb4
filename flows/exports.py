"""Hand a design to other tools: a FuseSoC core, a file list, an SDC clock and an OpenLane 2
configuration, all in one self-contained directory.

Everything refers to files by names relative to the export directory, so the directory can be
moved, committed or copied into another project as it is:

* ``<top>.v`` (and ``<top>.json`` when the design has one), plus ``verilator_waivers.vlt``
  for Amaranth output;
* ``<top>.core``: a FuseSoC CAPI2 core with a ``lint`` target (Verilator ``--lint-only
  -Wall`` with the waivers) and a ``synth`` target (Yosys, ECP5 by default);
* ``<top>.f``: the Verilog file list, for ``verilator -f`` and most simulators (relative
  names: run from the directory, or use Verilator's ``-F``);
* ``<top>.sdc``: the clock constraint (``create_clock`` on the clock port);
* ``config.json``: an OpenLane 2 configuration template (design name, sources, clock, the SDC
  for place and route and signoff, a starting core utilization) to be completed with a PDK.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .lint import AMARANTH_WAIVERS
from .ports import find_clock, read_ports

__all__ = ["DEFAULT_PERIOD_NS", "ExportedDesign", "export_design"]

DEFAULT_PERIOD_NS = 10.0
"""Clock period written to the SDC and the OpenLane configuration unless told otherwise."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ExportedDesign:
    """Paths of everything :func:`export_design` wrote."""

    directory: Path
    top: str
    clock: str
    verilog: Path
    description: Path | None
    waivers: Path | None
    core: Path
    core_name: str
    file_list: Path
    sdc: Path
    openlane_config: Path

    def files(self) -> list[Path]:
        return [p for p in (self.verilog, self.description, self.waivers, self.core,
                            self.file_list, self.sdc, self.openlane_config) if p is not None]


def _yaml_list(items: list[str], indent: int) -> str:
    pad = " " * indent
    return "\n".join(f"{pad}- {item}" for item in items)


def core_text(core_name: str, top: str, verilog: str, waivers: str | None, sdc: str,
              description: str, arch: str = "ecp5") -> str:
    """A FuseSoC CAPI2 core: filesets for the RTL, the waivers and the SDC; targets
    ``default``, ``lint`` and ``synth``."""
    lint_sets = ["rtl", "waivers"] if waivers else ["rtl"]
    waiver_set = (f"  waivers:\n    files:\n      - {waivers}\n    file_type: vlt\n"
                  if waivers else "")
    return (
        "CAPI=2:\n"
        f"name: {core_name}\n"
        f"description: {json.dumps(description)}\n"
        "\n"
        "filesets:\n"
        f"  rtl:\n    files:\n      - {verilog}\n    file_type: verilogSource\n"
        f"{waiver_set}"
        f"  constraints:\n    files:\n      - {sdc}\n    file_type: SDC\n"
        "\n"
        "targets:\n"
        f"  default:\n    filesets:\n{_yaml_list(['rtl'], 6)}\n    toplevel: {top}\n"
        "  lint:\n"
        "    flow: lint\n"
        "    flow_options:\n"
        "      tool: verilator\n"
        "      verilator_options:\n"
        "        - -Wall\n"
        f"    filesets:\n{_yaml_list(lint_sets, 6)}\n"
        f"    toplevel: {top}\n"
        "  synth:\n"
        "    flow: generic\n"
        "    flow_options:\n"
        "      tool: yosys\n"
        f"      arch: {arch}\n"
        "      output_format: json\n"
        f"    filesets:\n{_yaml_list(['rtl'], 6)}\n"
        f"    toplevel: {top}\n"
    )


def sdc_text(clock: str, period_ns: float) -> str:
    """One clock on port ``clock``; inputs and outputs left unconstrained (the design's own
    ports are register-to-register or documented combinational paths of a stream)."""
    return (f"# accelgen: clock constraint for the design's single clock domain\n"
            f"create_clock -name {clock} -period {period_ns:g} [get_ports {{{clock}}}]\n")


def openlane_config(top: str, verilog: str, clock: str, sdc: str, period_ns: float
                    ) -> dict[str, Any]:
    """An OpenLane 2 configuration: add ``PDK`` (default sky130A) and tune the floorplan."""
    return {
        "meta": {"version": 2, "flow": "Classic"},
        "DESIGN_NAME": top,
        "VERILOG_FILES": [f"dir::{verilog}"],
        "CLOCK_PORT": clock,
        "CLOCK_PERIOD": period_ns,
        "PNR_SDC_FILE": f"dir::{sdc}",
        "SIGNOFF_SDC_FILE": f"dir::{sdc}",
        "FP_CORE_UTIL": 40,
        "PL_TARGET_DENSITY_PCT": 50,
    }


def _copy(source: Path, target: Path) -> None:
    if source.resolve() != target.resolve():
        shutil.copyfile(source, target)


def export_design(verilog: Path, out_dir: Path, *, top: str | None = None,
                  clock: str | None = None, period_ns: float = DEFAULT_PERIOD_NS,
                  vendor: str = "accelgen", library: str | None = None, version: str | None = None,
                  arch: str = "ecp5") -> ExportedDesign:
    """Write the export directory for ``top`` of ``verilog`` (see the module docstring).

    ``top`` and ``clock`` default as in :func:`~accelgen.flows.ports.read_ports` and
    :func:`~accelgen.flows.ports.find_clock`. The core is named
    ``vendor:library:top:version``; ``library`` defaults to the design's kind and ``version``
    to the generator version, both from the JSON description beside ``verilog`` (else
    ``design`` and ``0.0.0``). Raises :class:`ValueError`
    for bad arguments.
    """
    if not period_ns > 0:
        raise ValueError(f"period: must be > 0 ns, got {period_ns}")
    out_dir.mkdir(parents=True, exist_ok=True)
    ports = read_ports(verilog, out_dir / ".ports", top)
    shutil.rmtree(out_dir / ".ports", ignore_errors=True)
    clock_name = find_clock(ports, clock)
    if not _NAME.match(ports.top):
        raise ValueError(f"top: {ports.top!r} is not a plain identifier; FuseSoC and OpenLane "
                         "need one")

    with verilog.open(errors="replace") as handle:
        from_amaranth = "Generated by Amaranth" in handle.readline()
    description_source = verilog.with_suffix(".json")
    description: dict[str, Any] = {}
    if description_source.is_file():
        try:
            description = json.loads(description_source.read_text())
        except ValueError:
            description = {}
    version = version or description.get("generator_version") or "0.0.0"
    library = library or description.get("kind") or "design"

    name = ports.top
    v_target = out_dir / f"{name}.v"
    _copy(verilog, v_target)
    j_target = None
    if description:
        j_target = out_dir / f"{name}.json"
        _copy(description_source, j_target)
    waivers = None
    if from_amaranth and AMARANTH_WAIVERS.is_file():
        waivers = out_dir / AMARANTH_WAIVERS.name
        _copy(AMARANTH_WAIVERS, waivers)

    core_name = f"{vendor}:{library}:{name}:{version}"
    summary = (f"{description.get('kind', 'design')} {name}, exported by accelgen"
               if description else f"{name}, exported by accelgen")
    sdc = out_dir / f"{name}.sdc"
    sdc.write_text(sdc_text(clock_name, period_ns))
    core = out_dir / f"{name}.core"
    core.write_text(core_text(core_name, name, v_target.name,
                              waivers.name if waivers else None, sdc.name, summary, arch))
    file_list = out_dir / f"{name}.f"
    file_list.write_text(f"{v_target.name}\n")
    config = out_dir / "config.json"
    config.write_text(json.dumps(openlane_config(name, v_target.name, clock_name, sdc.name,
                                                 period_ns), indent=2) + "\n")
    return ExportedDesign(out_dir, name, clock_name, v_target, j_target, waivers, core,
                          core_name, file_list, sdc, config)
