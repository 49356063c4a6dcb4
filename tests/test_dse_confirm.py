"""The second fidelity with the real tools: a tiny study whose Pareto front is confirmed by flat
synthesis and ECP5 place and route, and the cache that keeps a design from being synthesized
twice. The int8 output-stationary family is the one test_area_model.py and
test_dse_evaluate.py calibrate in the shared block cache (whichever runs first synthesizes the
blocks), so what this test adds is flat synthesis and ECP5 place and route of the confirmed 2x3
array, about half a minute.
Also, fast: how the real-synthesis scorer reports a failing step."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import accelgen.flows.dse.confirm as confirm
from accelgen.flows.dse import SearchSpace, run_dse
from accelgen.flows.dse.confirm import confirm_point, synthesized
from accelgen.flows.dse.evaluate import Scoring, evaluate_point
from accelgen.flows.dse.space import canonical_point, point_configs
from accelgen.flows.dse.workload import load_workload

CSV = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
       "Num Filter, Strides,\n"
       "conv1, 8, 8, 3, 3, 2, 4, 1,\n"
       "pw1, 6, 6, 1, 1, 4, 6, 1,\n")


@pytest.mark.slow
def test_a_real_confirmation(tmp_path: Path) -> None:
    workload = tmp_path / "tiny.csv"
    workload.write_text(CSV)
    space = SearchSpace({"rows": [2], "cols": [2, 3]})
    result = run_dse(str(workload), 2, space=space, out_dir=tmp_path / "out", confirm=1,
                     baselines=(), sampler="random", seed=1, scheduler="threads")
    report = result.report
    assert report["counts"]["complete"] == 2
    confirmed = [p for p in report["pareto"] if p["confirmed"] is not None]
    assert len(confirmed) == 1
    point = confirmed[0]
    assert not point["confirmed_errors"], point["confirmed_errors"]
    assert point["fidelity"] == {"latency": "model", "area": "confirmed", "fmax": "confirmed"}
    real = point["confirmed"]
    assert real["area_ge"] > 0 and real["fmax_mhz"] > 20 and real["device"].startswith("LFE5U")
    # The calibrated model against flat synthesis of the same design.
    assert abs(point["error"]["area"]) < 0.15, point["error"]
    assert point["model"]["cycles"] == real["cycles"]
    assert "confirmed with the real tools" in result.paths["summary"].read_text()

    # Cached: the same design is not synthesized or placed again.
    cfg, cache = point_configs(point["point"])
    start = time.monotonic()
    again = confirm_point(canonical_point(cfg, cache, point["point"]),
                          Scoring(frozenset({"latency", "area"})), tmp_path / "again")
    assert time.monotonic() - start < 10
    assert again["figures"]["area_ge"] == real["area_ge"]
    assert again["figures"]["fmax_mhz"] == real["fmax_mhz"]


def test_the_synthesis_scorer_fails_a_trial_with_the_tools_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every trial at the second fidelity: a failing step fails the trial, log attached."""
    outcome = {"figures": {}, "errors": {"pnr": {"error": "nextpnr timed out after 1800 s",
                                                 "log": "pnr.log:\nInfo: placing..."}},
               "seconds": {}}

    def fake(canonical: dict, scoring: Scoring, out_dir: Path, timeout_s: float | None
             ) -> dict:
        if canonical["systolic"]["cols"] == 3:
            return outcome
        return {"figures": {"area_ge": 900.0, "area_array_ge": 900.0, "fmax_mhz": 150.0},
                "errors": {}, "seconds": {"area": 1.0}}

    monkeypatch.setattr(confirm, "confirm_point", fake)
    layers = load_workload("mobilenet_v1").layers
    scoring = Scoring(frozenset({"latency", "area"}), scorer="accelgen.flows.dse.confirm:"
                                                             "synthesized")
    failed = evaluate_point({"rows": 2, "cols": 3}, layers, scoring)
    assert failed["error"] == "pnr: nextpnr timed out after 1800 s"
    assert failed["error_type"] == "ScoringError" and "placing" in failed["log"]
    cfg, _ = point_configs({"rows": 2, "cols": 2})
    good = synthesized(cfg, None, layers, None, scoring)
    assert good["fidelity"] == {"latency": "model", "area": "confirmed", "fmax": "confirmed"}
    assert good["figures"]["area_ge"] == 900.0 and good["figures"]["cycles"] > 0
