"""Exports, checked with the real tools: fusesoc reads the core and lints through it, Verilator
and Yosys read the file list, Tcl evaluates the SDC, and OpenLane's paths resolve."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tkinter
from pathlib import Path

import pytest

from accelgen.flows.cli import main
from accelgen.flows.exports import export_design
from accelgen.flows.toolchain import run_yosys, tool_environment, verilator_executable
from accelgen.generators.emit import generate_systolic, write_design
from accelgen.generators.systolic import SystolicConfig

FUSESOC = str(Path(sys.executable).with_name("fusesoc"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    source = tmp_path_factory.mktemp("design")
    v_path, _ = write_design(generate_systolic(SystolicConfig(rows=2, cols=2, max_k=64)), source)
    return export_design(v_path, tmp_path_factory.mktemp("export"), period_ns=5.0)


def _fusesoc(directory: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([FUSESOC, "--cores-root", str(directory), *args], cwd=directory,
                          env=tool_environment(), capture_output=True, text=True, timeout=600)


def test_the_export_directory(exported):
    names = sorted(path.name for path in exported.files())
    top = exported.top
    assert names == sorted([f"{top}.v", f"{top}.json", "verilator_waivers.vlt", f"{top}.core",
                            f"{top}.f", f"{top}.sdc", "config.json"])
    assert exported.core_name == f"accelgen:systolic:{top}:" + \
        json.loads((exported.directory / f"{top}.json").read_text())["generator_version"]


def test_fusesoc_accepts_the_core(exported):
    result = _fusesoc(exported.directory, "core", "show", exported.core_name)
    assert result.returncode == 0, result.stderr
    for target in ("default", "lint", "synth"):
        assert f"\n{target} " in result.stdout


def test_fusesoc_lints_through_verilator(exported):
    result = _fusesoc(exported.directory, "run", "--target", "lint", "--build-root",
                      str(exported.directory / "build"), exported.core_name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "--lint-only" in next((exported.directory / "build").rglob("*.vc")).read_text()


def test_fusesoc_sets_up_yosys_synthesis(exported):
    build = exported.directory / "build-synth"
    result = _fusesoc(exported.directory, "run", "--target", "synth", "--setup",
                      "--build-root", str(build), exported.core_name)
    assert result.returncode == 0, result.stdout + result.stderr
    procs = next(build.rglob("edalize_yosys_procs.tcl")).read_text()
    assert "synth_ecp5  -top $top" in procs or "synth_ecp5 -top $top" in procs
    assert f"{exported.top}.v" in procs


def test_fusesoc_lint_fails_on_a_warning(tmp_path):
    """The lint target really lints: a truncating assignment fails -Wall."""
    source = tmp_path / "bad.v"
    source.write_text("module bad(input clk, input [1:0] d, output q);\n"
                      "  assign q = d + {1'b0, clk};\nendmodule\n")
    exported = export_design(source, tmp_path / "out")
    assert exported.waivers is None  # hand-written Verilog gets no Amaranth waivers
    result = _fusesoc(exported.directory, "run", "--target", "lint", "--build-root",
                      str(tmp_path / "build"), exported.core_name)
    assert result.returncode != 0
    assert "WIDTHTRUNC" in result.stdout + result.stderr


def test_verilator_reads_the_file_list(exported):
    result = subprocess.run(
        [str(verilator_executable()), "--lint-only", "-Wall", "verilator_waivers.vlt", "-f",
         exported.file_list.name, "--top-module", exported.top],
        cwd=exported.directory, env=tool_environment(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_yosys_reads_the_file_list(exported):
    files = exported.file_list.read_text().split()
    script = "".join(f"read_verilog {name}\n" for name in files)
    script += f"hierarchy -check -top {exported.top}\n"
    (exported.directory / "read.ys").write_text(script)
    run_yosys(["-s", "read.ys"], cwd=exported.directory, log=exported.directory / "read.log")


def test_the_sdc_is_tcl_that_constrains_the_clock_port(exported):
    interpreter = tkinter.Tcl()
    interpreter.eval("set ports {}; set clocks {}")
    interpreter.eval("proc get_ports {names} { global ports; lappend ports $names; "
                     "return [list port $names] }")
    interpreter.eval("proc create_clock {args} { global clocks; lappend clocks $args }")
    interpreter.eval(exported.sdc.read_text())
    assert interpreter.eval("set ports") == exported.clock
    assert interpreter.eval("lindex $clocks 0") == f"-name {exported.clock} -period 5 {{port clk}}"


def test_openlane_config_points_at_real_files(exported):
    config = json.loads(exported.openlane_config.read_text())
    assert config["DESIGN_NAME"] == exported.top
    assert config["CLOCK_PORT"] == exported.clock and config["CLOCK_PERIOD"] == 5.0
    for key in ("PNR_SDC_FILE", "SIGNOFF_SDC_FILE"):
        assert config[key].startswith("dir::")
        assert (exported.directory / config[key].removeprefix("dir::")).is_file()
    for entry in config["VERILOG_FILES"]:
        assert (exported.directory / entry.removeprefix("dir::")).is_file()


def test_export_command_generates_from_parameters(tmp_path):
    out = tmp_path / "out"
    assert main(["export", "--rows", "2", "--cols", "3", "--dataflow", "ws", "--period", "4",
                 "-o", str(out)]) == 0
    top = "systolic_ws_2x3_s8x8_acc28"
    assert (out / f"{top}.core").is_file()
    assert "-period 4 " in (out / f"{top}.sdc").read_text()


def test_export_command_errors(tmp_path):
    source = tmp_path / "x.v"
    source.write_text("module x(input clk, output q); assign q = clk; endmodule\n")
    assert main(["export", str(source), "--rows", "2", "-o", str(tmp_path / "o")]) == 2
    assert main(["export", "-o", str(tmp_path / "o")]) == 2
    assert main(["export", str(source), "--clock", "nope", "-o", str(tmp_path / "o")]) == 2
    assert main(["export", str(source), "--period", "0", "-o", str(tmp_path / "o")]) == 2
    shutil.rmtree(tmp_path / "o", ignore_errors=True)
