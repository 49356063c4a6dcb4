"""Fast checks of ``accelgen bench fuse-area``: request checks, overhead arithmetic, report
shape on a 2x2 array (generic only), timeouts and tool failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accelgen.flows import bench_fuse_area
from accelgen.flows.bench_fuse_area import (
    METRICS,
    VARIANTS,
    check_request,
    overheads,
    run_fuse_area_benchmark,
    split_overhead,
    target_record,
)
from accelgen.flows.toolchain import ToolError
from accelgen.generators.emit import GeneratedDesign, generate_systolic


def _generic(cells: int, flip_flops: int = 0) -> dict:
    return {"generic": {"measured": True, "cells": cells, "flip_flops": flip_flops}}


def test_check_request_normalizes() -> None:
    assert check_request([32, 8, 32], ["ecp5", "generic"], 2, 60) == (
        [8, 32], ["generic", "ecp5"])


@pytest.mark.parametrize(("args", "message"), [
    (([], ["generic"], 1, 1), "--sizes: give at least one"),
    (([0], ["generic"], 1, 1), "--sizes: each size must be an integer from 1 to 256, got 0"),
    ((["8"], ["generic"], 1, 1), "got '8'"),
    (([True], ["generic"], 1, 1), "got True"),
    (([8], ["ice40"], 1, 1), "--targets: choose from generic, ecp5, got 'ice40'"),
    (([8], [], 1, 1), "--targets: choose from generic, ecp5, got 'none'"),
    (([8], ["generic"], 0, 1), "--jobs: must be an integer >= 1, got 0"),
    (([8], ["generic"], 1, 0), "--timeout: must be a number of seconds > 0, got 0"),
])
def test_check_request_rejects(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        check_request(*args)


def test_overheads_arithmetic() -> None:
    table = overheads(_generic(1000, 100), _generic(1040, 100))
    assert table["generic_cells"] == {"base": 1000, "design": 1040, "delta": 40,
                                      "overhead": pytest.approx(0.04)}
    assert table["generic_flip_flops"]["overhead"] == 0
    # ECP5 not measured on either side: every ECP5 metric is null, never zero.
    assert all(table[name]["overhead"] is None for name in METRICS if name.startswith("ecp5"))
    zero_base = overheads(_generic(0), _generic(5))["generic_cells"]
    assert zero_base["delta"] == 5 and zero_base["overhead"] is None


def test_split_overhead_adds_up() -> None:
    # 2x2: PE +10 cells, row +15 (5 less than two PEs), array +70 (+40 beyond two rows).
    parts = {"plain": {"array": _generic(4000), "row": _generic(900), "pe": _generic(400)},
             "fuse": {"array": _generic(4070), "row": _generic(915), "pe": _generic(410)}}
    cells = split_overhead(2, parts)["generic_cells"]
    assert cells == {"pe_delta": 10, "pe_overhead": pytest.approx(0.025), "pe": 40, "row": -10,
                     "array": 40, "total": 70}
    assert cells["pe"] + cells["row"] + cells["array"] == cells["total"]


def test_target_record_failures() -> None:
    report = {"cells_total": 9, "cells": {"LUT4": 3},
              "fpga": {"lut": 3, "ff": 1, "dsp": 0, "carry": 2, "bram": 0}}
    measured = target_record("x ecp5", "ecp5", {"report": report, "seconds": 1.5,
                                                "yosys_cpu_s": 1.2, "yosys_max_rss_mib": 80})
    assert measured["measured"] and measured["lut"] == 3 and measured["seconds"] == 1.5
    failed = target_record("x ecp5", "ecp5", {"error": "ABC9 assertion", "seconds": 2.0})
    assert failed == {"measured": False, "reason": "not measured: Yosys failed: ABC9 assertion",
                      "seconds": 2.0}
    timed_out = target_record("x ecp5", "ecp5", {"timeout": "not measured: slow",
                                                 "seconds": 9.0})
    assert timed_out["measured"] is False and timed_out["reason"] == "not measured: slow"
    with pytest.raises(ToolError, match="x generic failed: latch"):
        target_record("x generic", "generic", {"error": "latch", "seconds": 1.0})


def test_tiny_run_writes_complete_report(tmp_path: Path) -> None:
    path = run_fuse_area_benchmark(tmp_path, sizes=(2,), targets=("generic",), jobs=2)
    assert path == tmp_path / "fuse_area.json"
    assert (tmp_path / "fuse_area_overhead.png").stat().st_size > 0
    assert not list(tmp_path.glob(".fuse-area-bench-*"))  # work directory removed
    report = json.loads(path.read_text())
    assert report["benchmark"] == "fuse_area" and report["targets"] == ["generic"]
    [record] = report["sizes"]
    assert record["n"] == 2 and set(record["variants"]) == set(VARIANTS)
    for name, design in record["variants"].items():
        generic = design["area"]["generic"]
        assert generic["measured"] and generic["cells"] > 0 and generic["seconds"] > 0
        assert generic["yosys_cpu_s"] > 0 and generic["yosys_max_rss_mib"] > 0
        assert "ecp5" not in design["area"]
        assert (design["pe_area"] is not None) == (name in ("plain", "fuse"))
    assert record["variants"]["fuse"]["module"].endswith("_fuse")
    assert record["variants"]["plain_rq"]["module"].endswith("_rqhe")
    fuse = record["overhead"]["fuse"]
    plain_cells = record["variants"]["plain"]["area"]["generic"]["cells"]
    fuse_cells = record["variants"]["fuse"]["area"]["generic"]["cells"]
    assert fuse["generic_cells"]["overhead"] == pytest.approx(
        (fuse_cells - plain_cells) / plain_cells)
    assert fuse["ecp5_lut"]["overhead"] is None
    assert record["overhead"]["requantizer_gemm"]["generic_cells"]["delta"] > 0
    split = record["breakdown"]["generic_cells"]
    assert split["pe"] + split["row"] + split["array"] == split["total"] == \
        fuse_cells - plain_cells
    assert "ecp5_lut" not in record["breakdown"]
    assert report["goal"]["met"] is None  # no 32x32 in this run


def test_ecp5_timeout_is_recorded_not_raised(tmp_path: Path) -> None:
    path = run_fuse_area_benchmark(tmp_path, sizes=(1,), targets=("ecp5",), breakdown=False,
                                   jobs=2, timeout_s=0.01)
    report = json.loads(path.read_text())
    [record] = report["sizes"]
    for design in record["variants"].values():
        ecp5 = design["area"]["ecp5"]
        assert ecp5["measured"] is False and "0.01 s limit" in ecp5["reason"]
    assert record["overhead"]["fuse"]["ecp5_lut"]["overhead"] is None
    assert report["goal"]["met"] is None
    assert record["breakdown"] is None


def test_generic_failure_raises_before_writing(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(cfg):
        design = generate_systolic(cfg)
        return GeneratedDesign(design.name, design.verilog + "\nmodule broken(;\n",
                               design.description)

    monkeypatch.setattr(bench_fuse_area, "generate_systolic", broken)
    with pytest.raises(ToolError, match=r"1x1 \w+ array generic failed: yosys failed"):
        run_fuse_area_benchmark(tmp_path, sizes=(1,), targets=("generic",), breakdown=False)
    assert not (tmp_path / "fuse_area.json").exists()
    assert not (tmp_path / "fuse_area_overhead.png").exists()
