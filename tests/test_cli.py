"""The command line: outputs, determinism, and one clear line with exit 2 for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from accelgen.flows.cli import main


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "accelgen.flows.cli", *args],
                          capture_output=True, text=True, check=False)


def test_generate_writes_verilog_and_a_complete_description(tmp_path):
    assert main(["generate", "systolic", "--rows", "2", "--cols", "3", "--dataflow", "ws",
                 "--unsigned", "--input-width", "4", "-o", str(tmp_path)]) == 0
    (v_file,) = tmp_path.glob("*.v")
    description = json.loads(v_file.with_suffix(".json").read_text())
    assert v_file.stem == description["module"] == "systolic_ws_2x3_u4x8_acc24"
    params = description["parameters"]
    assert (params["rows"], params["cols"], params["signed"]) == (2, 3, False)
    ports = {p["name"]: p for p in description["ports"]}
    assert ports["operands__ready"]["direction"] == "output"
    assert ports["results__payload"]["width"] == 3 * params["acc_width"] + 1
    assert description["generator_version"]
    assert f"module {v_file.stem}(" in v_file.read_text()


def test_same_parameters_give_byte_identical_files(tmp_path):
    for sub in ("a", "b"):
        assert main(["generate", "systolic", "--rows", "3", "--cols", "2",
                     "-o", str(tmp_path / sub)]) == 0
    for name in ("systolic_os_3x2_s8x8_acc28.v", "systolic_os_3x2_s8x8_acc28.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_config_file_and_overrides(tmp_path):
    config = tmp_path / "array.toml"
    config.write_text("[systolic]\nrows = 4\ncols = 2\nacc_width = 12\noverflow = 'wrap'\n")
    assert main(["generate", "systolic", "--config", str(config), "--cols", "5",
                 "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "systolic_os_4x5_s8x8_acc12_wrap.v").is_file()


@pytest.mark.parametrize(("args", "message"), [
    (["--rows", "0", "--cols", "2"], "rows: must be between 1 and 256, got 0"),
    (["--rows", "2", "--cols", "2", "--input-width", "0"], "input_width: must be"),
    (["--rows", "2", "--cols", "2", "--weight-width", "65"], "weight_width: must be"),
    (["--rows", "2", "--cols", "2", "--acc-width", "12"], "acc_width: 12 bits can overflow"),
    (["--rows", "2", "--cols", "2", "--dataflow", "diag"], "invalid choice: 'diag'"),
    (["--rows", "2"], "--cols: required"),
    (["--rows", "4", "--cols", "2", "--fuse"], "fuse: FuSe mode needs rows <= cols"),
    (["--rows", "2", "--cols", "2", "--fuse", "--dataflow", "ws"], "fuse: FuSe mode needs"),
    (["--rows", "2", "--cols", "2", "--requantize", "odd"], "invalid choice: 'odd'"),
])
def test_bad_parameters_exit_2_with_one_line_and_no_output(tmp_path, args, message):
    out = tmp_path / "out"
    result = _run("generate", "systolic", *args, "-o", str(out))
    assert result.returncode == 2
    assert message in result.stderr
    assert len([line for line in result.stderr.splitlines() if "error" in line]) == 1
    assert not out.exists() or not any(out.iterdir())


def test_malformed_config_file_is_named(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("rows = [\n")
    result = _run("generate", "systolic", "--config", str(config), "-o", str(tmp_path / "o"))
    assert result.returncode == 2 and "bad.toml is not valid TOML" in result.stderr
    config.write_text("rows = 2\ncolumns = 3\n")
    result = _run("generate", "systolic", "--config", str(config), "-o", str(tmp_path / "o"))
    assert result.returncode == 2 and "columns: not a systolic-array parameter" in result.stderr


def test_output_path_that_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = _run("generate", "systolic", "--rows", "2", "--cols", "2", "-o", str(blocker / "x"))
    assert result.returncode == 2 and "-o/--output: cannot create" in result.stderr


def test_lint_reports_generated_designs_clean(tmp_path):
    assert main(["generate", "systolic", "--rows", "2", "--cols", "2", "--dataflow", "ws",
                 "--acc-width", "12", "--overflow", "saturate", "-o", str(tmp_path)]) == 0
    (v_file,) = tmp_path.glob("*.v")
    result = _run("lint", str(v_file))
    assert result.returncode == 0, result.stdout
    assert "clean:" in result.stdout


def test_lint_fails_on_a_real_problem(tmp_path):
    bad = tmp_path / "bad.v"
    bad.write_text("module bad(input [7:0] a, output [3:0] y);\n  assign y = a;\nendmodule\n")
    assert _run("lint", str(bad)).returncode == 1


def test_missing_file_is_a_usage_error(tmp_path):
    result = _run("lint", str(tmp_path / "nope.v"))
    assert result.returncode == 2 and "no such file" in result.stderr


def test_synth_writes_a_report_and_passes_check_assert(tmp_path):
    assert main(["generate", "systolic", "--rows", "2", "--cols", "2", "-o", str(tmp_path)]) == 0
    (v_file,) = tmp_path.glob("*.v")
    report = tmp_path / "generic.json"
    assert main(["synth", str(v_file), "--target", "generic", "-o", str(report)]) == 0
    data = json.loads(report.read_text())
    assert data["top"] == v_file.stem and data["cells_total"] > 0 and data["flip_flops"] > 0
    assert not any("DLATCH" in cell.upper() for cell in data["cells"])


def test_regress_runs_a_user_configuration(tmp_path):
    result = _run("regress", "--rows", "2", "--cols", "2", "--dataflow", "ws", "--seeds", "1",
                  "--jobs", "2", "-o", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[0]
    assert summary.startswith("PASS systolic_ws_2x2_s8x8_acc28: 5/5 cases passed")
    junit = Path(summary.split("JUnit XML: ")[1])
    assert junit.is_file() and junit.read_text().count("<testcase") == 5


@pytest.mark.cocotb
def test_regress_covers_fuse_mode_for_fuse_capable_arrays(tmp_path):
    result = _run("regress", "--rows", "2", "--cols", "3", "--fuse", "--max-kernel", "3",
                  "--requantize", "half_up", "--max-k", "64", "--jobs", "2", "-o",
                  str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[0]
    assert summary.startswith("PASS systolic_os_2x3_s8x8_acc22_fuse_rqhu: ")
    junit = Path(summary.split("JUnit XML: ")[1]).read_text()
    assert "fuse_matches_golden" in junit and "gemm_matches_golden" in junit


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    import accelgen.flows.cli as cli

    def interrupted(_args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_generate", interrupted)  # the parser is built in main()
    assert main(["generate", "systolic", "--rows", "2", "--cols", "2"]) == 130
    assert capsys.readouterr().err == "accelgen: interrupted\n"
