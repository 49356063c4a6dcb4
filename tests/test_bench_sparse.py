"""Fast checks of ``accelgen bench sparse``: design points, model arithmetic, report shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accelgen.flows import bench_sparse
from accelgen.flows.bench_sparse import (
    Gemm,
    design_points,
    equal_multiplier_shape,
    run_sparse_benchmark,
    scalesim_cross_check,
    throughput,
)
from accelgen.flows.scalesim import SCALESIM_PYTHON
from accelgen.flows.toolchain import ToolError
from accelgen.generators.systolic import SystolicConfig

TINY = [Gemm("tiny", 4, 8, 2)]


@pytest.mark.parametrize(("rows", "cols", "kept", "shape"), [
    (8, 8, 2, (4, 8)), (8, 8, 4, (2, 8)), (16, 16, 2, (8, 16)), (16, 16, 4, (4, 16)),
    (6, 6, 4, (3, 3)),  # rows not divisible by N: the most nearly square shape
    (3, 3, 2, None),  # 4.5 PEs: no integer shape
    (8, 8, 1, (8, 8)),
])
def test_equal_multiplier_shape(rows: int, cols: int, kept: int,
                                shape: tuple[int, int] | None) -> None:
    assert equal_multiplier_shape(rows, cols, kept) == shape
    if shape:
        assert shape[0] * shape[1] * kept == rows * cols


def test_design_points_have_equal_multipliers() -> None:
    points = design_points([8], bench_sparse.PATTERNS)
    dense = points[0]
    assert dense.config.pe == "dense" and dense.multipliers == 64
    for point in points[1:]:
        if "equal_multipliers" in point.comparisons:
            assert point.multipliers == dense.multipliers
        if "equal_pes" in point.comparisons:
            assert point.pes == dense.pes
    # N = 1 patterns are one design serving both comparisons, listed once.
    assert [p.label for p in points if p.config.pe == "1:2"] == ["8x8 1:2"]
    assert len(points) == 1 + 5 + 3


def test_throughput_matches_hand_count() -> None:
    # 2x2 WS: 2 weight steps (edges 0, 1), 4 activations (2..5); the last result is written
    # rows + cols = 4 edges after edge 5 and delivered 2 later, at 11: 12 edges in all.
    dense = throughput(SystolicConfig(rows=2, cols=2, dataflow="ws"), [Gemm("g", 4, 2, 2)])
    assert dense["cycles"] == 12
    assert dense["macs_per_cycle"] == pytest.approx(16 / 12)
    # 2:4 covers K = rows * M = 8 in one tile: same schedule, 4x the dense-equivalent work.
    sparse = throughput(SystolicConfig(rows=2, cols=2, dataflow="ws", pe="2:4"), TINY)
    assert sparse["cycles"] == 12
    assert sparse["dense_equivalent_macs"] == 64 and sparse["issued_macs"] == 32
    assert sparse["macs_per_cycle"] == pytest.approx(64 / 12)
    assert sparse["macs_per_cycle_per_pe"] == pytest.approx(64 / 12 / 4)
    assert sparse["macs_per_cycle_per_multiplier"] == pytest.approx(64 / 12 / 8)
    assert sparse["utilization"] == pytest.approx(dense["utilization"])


def test_tiny_run_writes_complete_report(tmp_path: Path) -> None:
    path = run_sparse_benchmark(tmp_path, sizes=[2], patterns=["2:4"], ecp5_sizes=(),
                                gemms=TINY, scalesim=False)
    report = json.loads(path.read_text())
    assert (tmp_path / "sparse_throughput_per_area.png").stat().st_size > 0
    assert [p["label"] for p in report["points"]] == [
        "2x2 dense", "2x2 2:4", "1x2 2:4 (=2x2 mults)"]
    for point in report["points"]:
        assert point["area"]["generic"]["cells"] > 0 and point["area"]["ecp5"] is None
        assert point["throughput"]["macs_per_cycle"] > 0
        assert point["throughput_per_area"]["per_generic_cell"] > 0
        assert set(point["vs_dense"]) >= {"macs_per_cycle", "macs_per_cycle_per_multiplier",
                                          "throughput_per_generic_cell"}
    assert {g["comparison"] for g in report["goals"]} == {"equal_pes", "equal_multipliers"}
    assert report["scalesim"]["status"] == "skipped"
    assert "ecp5_skipped" in report["notes"]
    assert not list(tmp_path.glob(".sparse-bench-*"))


def test_failing_synthesis_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    def broken(*args: object, **kwargs: object) -> dict:
        raise ToolError("yosys exploded")

    monkeypatch.setattr(bench_sparse, "synthesize", broken)
    with pytest.raises(ToolError, match="yosys generic failed: yosys exploded"):
        run_sparse_benchmark(tmp_path, sizes=[2], patterns=["2:4"], ecp5_sizes=(),
                             gemms=TINY, scalesim=False)
    assert not (tmp_path / "sparse.json").exists()
    assert not (tmp_path / "sparse_throughput_per_area.png").exists()


def test_scalesim_failure_is_recorded_not_raised(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SCALESIM_PYTHON, str(tmp_path / "no-such-python"))
    cfg = SystolicConfig(rows=2, cols=2, dataflow="ws")
    record = {"size": 2, "pe": "dense", "rows": 2, "cols": 2, "label": "2x2 dense",
              "module": cfg.name, "throughput": throughput(cfg, TINY)}
    result = scalesim_cross_check([record], TINY, tmp_path)
    assert result["status"] == "failed" and "no-such-python" in result["error"]


def test_synthesis_cache_reuses_identical_verilog(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake(v_path: Path, top: str, target: str, workdir: Path) -> dict:
        calls.append(target)
        return {"cells_total": 7, "cells": {"$_AND_": 7}, "flip_flops": 0}

    monkeypatch.setattr(bench_sparse, "synthesize", fake)
    cfg = SystolicConfig(rows=2, cols=2, dataflow="ws", pe="2:4")
    first = bench_sparse.area(cfg, tmp_path / "a", ("generic",), tmp_path / "cache")
    second = bench_sparse.area(cfg, tmp_path / "b", ("generic",), tmp_path / "cache")
    assert calls == ["generic"]
    assert not first["generic"]["cached"] and second["generic"]["cached"]
    assert second["generic"]["cells"] == 7


def test_ecp5_failure_can_be_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(v_path: Path, top: str, target: str, workdir: Path) -> dict:
        if target == "ecp5":
            raise ToolError("abc9 assertion")
        return {"cells_total": 7, "cells": {"$_AND_": 7}, "flip_flops": 0}

    monkeypatch.setattr(bench_sparse, "synthesize", fake)
    cfg = SystolicConfig(rows=2, cols=2, dataflow="ws", pe="2:4")
    with pytest.raises(ToolError, match="abc9 assertion"):
        bench_sparse.area(cfg, tmp_path / "a", ("generic", "ecp5"))
    record = bench_sparse.area(cfg, tmp_path / "b", ("generic", "ecp5"), tmp_path / "cache",
                               record_ecp5_failure=True)
    assert record["generic"]["cells"] == 7 and "abc9 assertion" in record["ecp5"]["error"]
    again = bench_sparse.area(cfg, tmp_path / "c", ("generic", "ecp5"), tmp_path / "cache",
                              record_ecp5_failure=True)
    assert "(cached)" in again["ecp5"]["error"]
