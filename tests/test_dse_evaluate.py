"""Model-fidelity scoring of one point: what the figures are made of and how failures look."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import accelgen.flows.dse.evaluate as evaluate
from accelgen.flows.area_model import AreaEstimate
from accelgen.flows.dse.engine import Constraint, parse_constraint
from accelgen.flows.dse.evaluate import (
    Scoring,
    area_config,
    check_point,
    evaluate_point,
    score_point,
)
from accelgen.flows.dse.space import point_configs
from accelgen.flows.dse.workload import load_workload
from accelgen.generators.emit import generate_systolic
from accelgen.generators.systolic import SystolicConfig
from accelgen.sim.network_cycles import variant_layers
from accelgen.sim.network_latency import network_latency
from accelgen.sim.networks import network
from accelgen.sim.systolic_cycles import ArrayTiming


def test_max_kernel_does_not_change_the_verilog() -> None:
    """Why area_config may set max_kernel to its default: the design is the same."""
    a = SystolicConfig(rows=2, cols=3, fuse=True, max_kernel=3)
    b = replace(a, max_kernel=9)
    assert generate_systolic(a).verilog == generate_systolic(b).verilog
    assert area_config(b).max_kernel == SystolicConfig.max_kernel
    assert area_config(replace(a, max_k=5, max_kernel=5)) == replace(a, max_k=5, max_kernel=5)


class StubAreaModel:
    """Stands in for the calibrated model (tested in its own file) to check the composition."""

    def __init__(self) -> None:
        self.seen: list[SystolicConfig] = []

    def estimate(self, cfg: SystolicConfig) -> AreaEstimate:
        self.seen.append(cfg)
        return AreaEstimate(1000.0 * cfg.rows * cfg.cols, {"pes": 900.0 * cfg.rows * cfg.cols,
                                                           "control": 100.0 * cfg.rows * cfg.cols},
                            "GE", 1000.0 * cfg.rows * cfg.cols)

    def tcam(self, cfg: Any) -> AreaEstimate:
        return AreaEstimate(50.0 * cfg.entries, {"entries": 50.0 * cfg.entries}, "GE",
                            50.0 * cfg.entries)


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> StubAreaModel:
    model = StubAreaModel()
    monkeypatch.setattr(evaluate, "_area_model", lambda liberty: model)
    return model


def test_score_point_composes_the_models(stub: StubAreaModel) -> None:
    layers = tuple(network("mobilenet_v2"))
    cfg, cache = point_configs({"rows": 8, "cols": 16, "fuse": True, "max_kernel": 3,
                                "null_entries": 8, "l1_kib": 4})
    result = score_point(cfg, cache, layers, "full", Scoring(frozenset({"latency", "area"})))
    figures = result["figures"]
    expected = network_latency(ArrayTiming(8, 16, "os", cfg.result_depth),
                               variant_layers(list(layers), "full"), max_kernel=3)
    assert figures["cycles"] == expected.cycles
    assert figures["macs"] == expected.macs
    assert figures["area_array_ge"] == 128_000.0
    assert figures["area_null_cache_ge"] == 400.0
    assert figures["area_ge"] == 128_400.0
    assert figures["l1_data_bits"] == 4 * 1024 * 8
    assert result["fidelity"] == {"latency": "model", "area": "model"}
    assert stub.seen[0].max_kernel == SystolicConfig.max_kernel  # shared blocks


def test_nm_points_run_the_weight_stationary_mapping(stub: StubAreaModel) -> None:
    layers = tuple(network("mobilenet_v2"))
    scoring = Scoring(frozenset({"latency", "area"}))
    dense, _ = point_configs({"rows": 8, "cols": 8, "dataflow": "ws"})
    sparse, _ = point_configs({"rows": 8, "cols": 8, "dataflow": "ws", "pe": "2:4"})
    dense_cycles = score_point(dense, None, layers, None, scoring)["figures"]["cycles"]
    sparse_figures = score_point(sparse, None, layers, None, scoring)["figures"]
    assert sparse_figures["cycles"] < dense_cycles
    assert sparse_figures["multipliers"] == 128


def test_fuse_points_must_take_the_networks_kernels() -> None:
    layers = tuple(network("mobilenet_v3_small"))
    cfg, _ = point_configs({"rows": 8, "cols": 8, "fuse": True, "max_kernel": 3})
    with pytest.raises(ValueError, match=r"mobilenet_v3_small/.*: kernel 5 is larger than the "
                                         r"array's max_kernel 3"):
        check_point(cfg, layers, "half")
    check_point(replace(cfg, max_kernel=5), layers, "half")
    check_point(replace(cfg, fuse=False), layers, None)  # plain arrays run the baseline


def test_a_failing_tool_becomes_an_error_record(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCELGEN_TEST_DSE_LOGDIR", str(tmp_path))
    layers = load_workload("mobilenet_v1").layers
    scoring = Scoring(frozenset({"latency", "area"}), scorer="tests.dse_scorer:failing")
    failed = evaluate_point({"rows": 2, "cols": 4}, layers, scoring)
    assert failed["error"].startswith("yosys failed (exit code 134)")
    assert failed["error_type"] == "ToolError"
    assert "Assertion `cell != nullptr' failed" in failed["log"]
    scored = evaluate_point({"rows": 4, "cols": 4}, layers, scoring)
    assert "error" not in scored and scored["figures"]["cycles"] > 0


def test_constraints() -> None:
    area = parse_constraint("area<=1e5")
    fmax = parse_constraint(" fmax >= 80 ")
    assert (area.metric, area.op, area.bound) == ("area", "<=", 100000.0)
    assert area.violation({"area_ge": 90000.0}) == -10000.0
    assert fmax.violation({"fmax_mhz": 70.0}) == 10.0
    assert Constraint("power", "<=", 1.0).violation({}) == float("inf")
    assert str(fmax) == "fmax>=80"


def test_workloads(tmp_path: Path) -> None:
    net = load_workload("mobilenet_v2")
    assert net.macs > 290e6 and len(net.layers) > 50
    topology = tmp_path / "mine.csv"
    topology.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                        "Channels, Num Filter, Strides,\nc1, 9, 9, 3, 3, 4, 8, 1,\n")
    mine = load_workload(str(topology))
    assert mine.name == "mine" and len(mine.layers) == 1
    assert mine.digest != net.digest
    topology.write_text("Layer name, IFMAP Height\nc1, 9\n")
    with pytest.raises(ValueError, match="--workload: mine CSV row 2: expected 8 or 9"):
        load_workload(str(topology))


@pytest.mark.slow
def test_real_area_model_scores_a_point() -> None:
    """The calibrated area model itself (cold: synthesizes the int8 OS blocks once)."""
    from accelgen.flows.area_model import AreaModel

    cfg, _ = point_configs({"rows": 2, "cols": 3})
    figures = score_point(cfg, None, load_workload("mobilenet_v1").layers, None,
                          Scoring(frozenset({"latency", "area"})))["figures"]
    estimate = AreaModel().estimate(cfg)
    assert figures["area_ge"] == pytest.approx(estimate.gate_equivalents, abs=0.1)
    assert figures["area_parts"]["pes"] > 0
