"""Lint and synthesis accept real Amaranth output and refuse broken designs with a clear reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from amaranth import Module, signed
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from accelgen.flows.lint import AMARANTH_WAIVERS, lint
from accelgen.flows.synth import synthesize
from accelgen.flows.toolchain import ToolError
from tests.cocotb_smoke import registered_adder_verilog

CLEAN = """\
module clean(input wire clk, input wire [7:0] d, output reg [7:0] q);
  always @(posedge clk) q <= d;
endmodule
"""

UNUSED_INPUT = """\
module unused_input(input wire clk, input wire [7:0] d, input wire spare, output reg [7:0] q);
  always @(posedge clk) q <= d;
endmodule
"""

WIDTH_MISMATCH = """\
module width_mismatch(input wire [7:0] d, output wire [3:0] q);
  assign q = d;
endmodule
"""

LATCH = """\
module latch(input wire en, input wire [3:0] d, output reg [3:0] q);
  always @* if (en) q = d;
endmodule
"""


class _ProcessingElement(wiring.Component):
    """Multiply-accumulate cell that passes its operands on, like one cell of a systolic array."""

    def __init__(self) -> None:
        super().__init__(
            {
                "a_in": In(signed(8)),
                "b_in": In(signed(8)),
                "a_out": Out(signed(8)),
                "b_out": Out(signed(8)),
                "acc": Out(signed(20)),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.d.sync += [
            self.a_out.eq(self.a_in),
            self.b_out.eq(self.b_in),
            self.acc.eq(self.acc + self.a_in * self.b_in),
        ]
        return m


class _TwoCellRow(wiring.Component):
    """Two chained processing elements: hierarchy, signed arithmetic and a switch."""

    def __init__(self) -> None:
        ports = {"a": In(signed(8)), "b": In(signed(8)), "mode": In(2), "y": Out(signed(21))}
        super().__init__(ports)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.pe0 = pe0 = _ProcessingElement()
        m.submodules.pe1 = pe1 = _ProcessingElement()
        m.d.comb += [
            pe0.a_in.eq(self.a),
            pe0.b_in.eq(self.b),
            pe1.a_in.eq(pe0.a_out),
            pe1.b_in.eq(pe0.b_out),
        ]
        with m.Switch(self.mode):
            with m.Case(0):
                m.d.comb += self.y.eq(pe0.acc + pe1.acc)
            with m.Case(1):
                m.d.comb += self.y.eq(pe0.acc - pe1.acc)
        return m


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.v"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def adder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("adder")
    return _write(directory, "registered_adder", registered_adder_verilog())


@pytest.fixture(scope="module")
def row(tmp_path_factory: pytest.TempPathFactory) -> Path:
    text = verilog.convert(_TwoCellRow(), name="two_cell_row", emit_src=False)
    return _write(tmp_path_factory.mktemp("row"), "two_cell_row", text)


def test_clean_module_is_clean(tmp_path: Path) -> None:
    report = lint(_write(tmp_path, "clean", CLEAN), waivers=None)
    assert report.clean, report.log
    assert report.warnings == []


def test_unused_input_is_reported(tmp_path: Path) -> None:
    report = lint(_write(tmp_path, "unused_input", UNUSED_INPUT), waivers=None)
    assert not report.clean
    assert any("UNUSEDSIGNAL" in line and "spare" in line for line in report.warnings)


def test_width_mismatch_is_reported(tmp_path: Path) -> None:
    report = lint(_write(tmp_path, "width_mismatch", WIDTH_MISMATCH), waivers=None)
    assert not report.clean
    assert any("WIDTHTRUNC" in line for line in report.warnings)


def test_waivers_do_not_hide_latches(tmp_path: Path) -> None:
    report = lint(_write(tmp_path, "latch", LATCH))
    assert str(AMARANTH_WAIVERS) in report.command
    assert not report.clean
    assert any("LATCH" in line for line in report.warnings)


def test_missing_explicit_waiver_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        lint(_write(tmp_path, "clean", CLEAN), waivers=tmp_path / "missing.vlt")


def test_amaranth_adder_lints_clean_with_waivers(adder: Path) -> None:
    assert AMARANTH_WAIVERS.is_file()
    report = lint(adder, top="registered_adder")
    assert report.clean, report.log
    # Without the waivers the init-value idiom alone is flagged: the waiver file is needed.
    bare = lint(adder, top="registered_adder", waivers=None)
    assert any("PROCASSINIT" in line for line in bare.warnings)


def test_amaranth_hierarchy_lints_clean_with_waivers(row: Path) -> None:
    report = lint(row, top="two_cell_row")
    assert report.clean, report.log


def test_generic_synthesis_counts_flip_flops(adder: Path, tmp_path: Path) -> None:
    report = synthesize(adder, "registered_adder", "generic", tmp_path)
    assert report["target"] == "generic" and report["top"] == "registered_adder"
    assert report["flip_flops"] == 9
    assert report["cells_total"] == sum(report["cells"].values()) > report["flip_flops"]
    assert "fpga" not in report
    assert (tmp_path / "yosys.log").is_file() and (tmp_path / "synth.ys").is_file()


@pytest.mark.parametrize("target", ["ecp5", "ice40"])
def test_fpga_synthesis_counts_resources(row: Path, tmp_path: Path, target: str) -> None:
    report = synthesize(row, "two_cell_row", target, tmp_path)
    fpga = report["fpga"]
    assert set(fpga) == {"lut", "ff", "dsp", "carry", "bram"}
    assert fpga["lut"] > 0 and fpga["carry"] > 0
    # Both accumulators and the first cell's forwarded operands; the last cell's are unused.
    assert fpga["ff"] == 2 * 20 + 8 + 8
    if target == "ecp5":
        assert fpga["dsp"] == 2


def test_latch_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="latch"):
        synthesize(_write(tmp_path, "latch", LATCH), "latch", "generic", tmp_path / "work")


def test_unknown_target_names_the_choices(adder: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="generic, ice40, ecp5"):
        synthesize(adder, "registered_adder", "xc7", tmp_path)


def test_yosys_error_is_reported(adder: Path, tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="no_such_top"):
        synthesize(adder, "no_such_top", "generic", tmp_path)


def test_escaped_names_do_not_break_the_ecp5_flow(tmp_path: Path) -> None:
    """Without ``rename -unescape``, Yosys 0.70 aborts on the 2x2 FuSe row (``count_id``):
    the FPGA flow must give a real netlist with the row's resources."""
    from accelgen.generators.emit import generate_systolic, write_design
    from accelgen.generators.systolic import SystolicConfig

    cfg = SystolicConfig(rows=2, cols=2, fuse=True)
    v_path, _ = write_design(generate_systolic(cfg), tmp_path)
    assert re.search(r"wire \[\d+:0\] \\\S+\[1\] ;", v_path.read_text())  # the trigger
    report = synthesize(v_path, f"{cfg.name}_row", "ecp5", tmp_path / "ecp5")
    assert report["fpga"]["dsp"] == cfg.cols  # one MULT18X18D per PE of the row
    assert report["fpga"]["ff"] > 0 and report["fpga"]["lut"] > 0
    assert "rename -unescape" in (tmp_path / "ecp5" / "synth.ys").read_text()


def test_unescaping_keeps_a_hierarchy_with_odd_port_names_intact(tmp_path: Path) -> None:
    """The requantizer's port ``shift$1``: renamed before flattening, the parent's connection
    would dangle and Yosys would stop."""
    from accelgen.generators.emit import generate_systolic, write_design
    from accelgen.generators.systolic import SystolicConfig

    cfg = SystolicConfig(rows=2, cols=2, requantize="half_even", max_k=64)
    v_path, _ = write_design(generate_systolic(cfg), tmp_path)
    assert "shift$" in v_path.read_text()
    report = synthesize(v_path, cfg.name, "ecp5", tmp_path / "ecp5")
    assert report["fpga"]["dsp"] == cfg.rows * cfg.cols

