"""Write the reference designs committed under ``rtl/``: Verilog, JSON, FuseSoC core, SDC.

The cores are the same CAPI2 files ``accelgen export`` writes (``lint`` and ``synth``
targets), naming their Verilog, the shared Verilator waivers and the design's SDC by relative
paths, so ``fusesoc --cores-root rtl run --target lint accelgen:systolic:<name>`` works from
a clone.
"""

from __future__ import annotations

from pathlib import Path

from accelgen.generators.emit import GeneratedDesign, generate_systolic, write_design
from accelgen.generators.reference import REFERENCE_CONFIGS, REFERENCE_SPARSECACHES
from accelgen.generators.sparsecache.top import generate_sparsecache

from .exports import DEFAULT_PERIOD_NS, core_text, sdc_text
from .lint import AMARANTH_WAIVERS

__all__ = ["reference_designs", "write_reference"]

CLOCK = "clk"
"""The clock port of every generated design (Amaranth's default ``sync`` domain)."""


def reference_designs() -> list[GeneratedDesign]:
    return ([generate_systolic(cfg) for cfg in REFERENCE_CONFIGS]
            + [generate_sparsecache(cfg) for cfg in REFERENCE_SPARSECACHES])


def write_reference(rtl_dir: Path) -> list[Path]:
    """(Re)write every reference design into ``rtl_dir``; returns the files written."""
    written: list[Path] = []
    for design in reference_designs():
        verilog, description = write_design(design, rtl_dir)
        sdc = rtl_dir / f"{design.name}.sdc"
        sdc.write_text(sdc_text(CLOCK, DEFAULT_PERIOD_NS))
        kind = design.description["kind"]
        version = design.description["generator_version"]
        core = rtl_dir / f"{design.name}.core"
        core.write_text(core_text(f"accelgen:{kind}:{design.name}:{version}", design.name,
                                  verilog.name, AMARANTH_WAIVERS.name, sdc.name,
                                  f"{kind} {design.name}, accelgen reference design"))
        written += [verilog, description, sdc, core]
    return written
