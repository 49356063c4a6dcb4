"""The DSE loop with a stand-in scorer (real cycle model, instant analytic area): trial counts,
rejected and failed points, constraints, samplers, resume, the report and the export."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import numpy as np
import optuna
import pytest

from accelgen.flows.dse import DseError, SearchSpace, export_trial, run_dse
from accelgen.flows.dse.report import pareto_indices
from accelgen.flows.dse.run import BASELINES

SCORER = "tests.dse_scorer:score"
SPACE = {"rows": [2, 4, 8], "cols": [2, 4, 8], "dataflow": ["os", "ws"], "fuse": [False, True],
         "pe": ["dense", "2:4"], "input_width": [4, 8]}
CSV = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
       "Num Filter, Strides,\n"
       "conv1, 12, 12, 3, 3, 3, 8, 1,\n"
       "dw_DP, 10, 10, 3, 3, 8, 1, 1,\n"
       "pw1, 8, 8, 1, 1, 8, 16, 1,\n")


@pytest.fixture
def workload(tmp_path: Path) -> str:
    path = tmp_path / "tiny.csv"
    path.write_text(CSV)
    return str(path)


def dse(workload: str, out: Path, trials: int, **options: object):
    options.setdefault("space", SearchSpace(SPACE))
    options.setdefault("confirm", 0)
    options.setdefault("baselines", ())
    options.setdefault("scorer", SCORER)
    options.setdefault("plots", False)
    options.setdefault("scheduler", "threads")
    return run_dse(workload, trials, out_dir=out, **options)


def dominated(a: list[float], b: list[float]) -> bool:
    """``a`` is dominated by ``b`` (both minimized)."""
    return all(y <= x for x, y in zip(a, b, strict=True)) and b != a


def test_pareto_indices_by_hand() -> None:
    values = np.array([[1, 9], [2, 5], [3, 5], [4, 1], [2, 5], [5, 0.5], [6, 6]])
    assert pareto_indices(values, ["minimize", "minimize"]) == [0, 1, 3, 5]
    # Maximizing the second column turns the order around.
    assert pareto_indices(values, ["minimize", "maximize"]) == [0]
    # The check can fail: a dominated point is not on the front.
    assert 6 not in pareto_indices(values, ["minimize", "minimize"])


def test_run_reaches_the_trial_count_and_writes_the_report(workload: str, tmp_path: Path
                                                           ) -> None:
    out = tmp_path / "out"
    result = dse(workload, out, 24, seed=3, plots=True)
    report = result.report
    assert report["counts"]["complete"] == 24
    rejected = [t for t in report["trials"] if t["state"] == "rejected"]
    assert rejected, "the space has impossible combinations; some must be sampled"
    assert all(t["rejected"].split(":")[0] in ("fuse", "pe") for t in rejected)
    complete = [t for t in report["trials"] if t["state"] == "complete"]
    front = report["pareto"]
    assert front and all(p["fidelity"]["latency"] == "model" for p in front)
    objectives = [[t["figures"]["cycles"], t["figures"]["area_ge"]] for t in complete]
    for point in front:
        mine = [point["model"]["cycles"], point["model"]["area_ge"]]
        assert not any(dominated(mine, other) for other in objectives)
    for trial in complete:  # everything off the front is dominated by a front point
        mine = [trial["figures"]["cycles"], trial["figures"]["area_ge"]]
        on_front = any(mine == [p["model"]["cycles"], p["model"]["area_ge"]] for p in front)
        assert on_front or any(
            dominated(mine, [p["model"]["cycles"], p["model"]["area_ge"]]) for p in front)
    assert json.loads(result.paths["report"].read_text())["study"] == "tiny"
    rows = list(csv.DictReader(result.paths["csv"].open()))
    assert len(rows) == len(front)
    assert {"latency_model", "latency_confirmed", "area_model", "rows", "dataflow"} <= set(rows[0])
    assert result.paths["plot_latency_area"].stat().st_size > 10_000
    summary = result.paths["summary"].read_text()
    assert "Pareto front over latency, area" in summary
    assert (out / "dse.db").is_file()
    history = report["hypervolume"]["values"]
    assert len(history) == 24 and history[-1] > 0
    assert all(b >= a for a, b in itertools.pairwise(history))


def test_duplicates_are_answered_from_the_study(workload: str, tmp_path: Path) -> None:
    result = dse(workload, tmp_path / "out", 6, space=SearchSpace({"rows": [4], "cols": [4, 8]}))
    report = result.report
    assert report["counts"]["complete"] == 6
    assert report["this_run"]["scored"] == 2
    assert report["this_run"]["answered_from_earlier_trials"] == 4
    duplicates = [t for t in report["trials"] if "duplicate_of" in t]
    assert all(t["figures"] == report["trials"][t["duplicate_of"]]["figures"]
               for t in duplicates)


def test_constraints_exclude_points_from_the_front(workload: str, tmp_path: Path) -> None:
    result = dse(workload, tmp_path / "out", 20, constraints=["area<=60000", "fmax>=100"],
                 seed=1)
    report = result.report
    assert report["constraints"] == ["area<=60000", "fmax>=100"]
    complete = [t for t in report["trials"] if t["state"] == "complete"]
    assert any(not t["feasible"] for t in complete)
    for point in report["pareto"]:
        assert point["model"]["area_ge"] <= 60000 and point["model"]["fmax_mhz"] >= 100


@pytest.mark.parametrize("sampler", ["nsga2", "tpe", "random"])
def test_samplers_are_seeded(workload: str, tmp_path: Path, sampler: str) -> None:
    runs = [dse(workload, tmp_path / f"out{i}", 10, sampler=sampler, seed=7) for i in range(2)]
    points = [[t["point"] for t in r.report["trials"]] for r in runs]
    assert points[0] == points[1]
    assert runs[0].report["sampler"] == sampler


def test_resume_in_process_keeps_every_trial(workload: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = dse(workload, out, 6)
    second = dse(workload, out, 10)
    before = {t["number"]: t for t in first.report["trials"] if t["state"] == "complete"}
    after = {t["number"]: t for t in second.report["trials"] if t["state"] == "complete"}
    assert len(after) == 10
    assert all(after[n]["figures"] == trial["figures"] for n, trial in before.items())
    assert second.report["this_run"]["scored"] + second.report["this_run"][
        "answered_from_earlier_trials"] == 4


def test_resume_with_other_settings_is_refused(workload: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    dse(workload, out, 3)
    with pytest.raises(DseError, match="was started with other objectives"):
        dse(workload, out, 4, objectives=["latency", "area", "power"])
    with pytest.raises(DseError, match="was started with another space"):
        dse(workload, out, 4, space=SearchSpace({"rows": [4], "cols": [4]}))


def test_a_failing_tool_fails_the_trial_and_the_study_goes_on(
        workload: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCELGEN_TEST_DSE_LOGDIR", str(tmp_path))
    space = SearchSpace({"rows": [2, 4], "cols": [4, 8]})
    result = dse(workload, tmp_path / "out", 12, space=space, scorer="tests.dse_scorer:failing",
                 sampler="random")
    report = result.report
    failed = [t for t in report["trials"] if t["state"] == "fail"]
    assert failed and report["counts"]["failed"] == len(failed)
    assert report["counts"]["complete"] + len(failed) == 12
    assert all(t["error"].startswith("yosys failed (exit code 134)") for t in failed)
    assert all("Assertion `cell != nullptr' failed" in t["log"] for t in failed)
    assert all(p["point"]["rows"] == 4 for p in report["pareto"])
    # Each failing point (rows 2, cols 4 or 8) ran the tool once; repeats reuse its failure.
    assert sum("duplicate_of" not in t for t in failed) <= 2 < len(failed)


def test_a_space_without_valid_points_is_an_error(workload: str, tmp_path: Path) -> None:
    space = SearchSpace({"rows": [4, 8], "cols": [4], "dataflow": "ws", "fuse": True})
    with pytest.raises(DseError, match=r"all 40 sampled points were rejected.*fuse: FuSe mode"):
        dse(workload, tmp_path / "out", 2, space=space)


def test_confirmation_marks_confirmed_figures(workload: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The real tools are tested in test_dse_confirm.py; here only how results are used."""
    import accelgen.flows.dse.run as run_module

    calls = []

    def fake_confirm(config: dict, scoring: object, out_dir: Path, timeout_s: float | None
                     ) -> dict:
        calls.append(config["systolic"]["rows"])
        if config["systolic"]["rows"] == 8:
            return {"figures": {}, "errors": {"pnr": {"error": "does not fit", "log": None}},
                    "seconds": {}}
        return {"figures": {"area_ge": 1000.0, "fmax_mhz": 90.0}, "errors": {}, "seconds": {}}

    monkeypatch.setattr(run_module, "confirm_point", fake_confirm)
    out = tmp_path / "out"
    result = dse(workload, out, 16, confirm=2, seed=2)
    confirmed = [p for p in result.pareto if p["confirmed"] is not None]
    assert len(confirmed) == min(2, len(result.pareto)) == len(calls)
    for point in confirmed:
        assert point["fidelity"]["latency"] == "model"
        if point["point"]["rows"] != 8:
            assert point["fidelity"]["area"] == "confirmed"
            assert point["error"]["area"] == pytest.approx(
                (point["model"]["area_ge"] - 1000.0) / 1000.0, abs=1e-4)
        else:
            assert point["confirmed_errors"]["pnr"]["error"] == "does not fit"
    # Confirmation results live in the study: a second report does not confirm again.
    again = dse(workload, out, 16, confirm=2, seed=2)
    assert len(calls) == len(confirmed)
    assert [p["confirmed"] for p in again.pareto] == [p["confirmed"] for p in result.pareto]


def test_baselines_are_scored_and_plotted(workload: str, tmp_path: Path) -> None:
    result = dse(workload, tmp_path / "out", 4, baselines=BASELINES)
    labels = [b["label"] for b in result.report["baselines"]]
    assert labels == [label for label, _ in BASELINES]
    assert all(b["figures"]["cycles"] > 0 for b in result.report["baselines"])
    # The one baseline the space holds (8x8 os; the others are 16x16) is the first trial.
    first = result.report["trials"][0]
    assert first["point"] == {"rows": 8, "cols": 8, "dataflow": "os", "fuse": False,
                              "pe": "dense", "input_width": 8}
    assert first["figures"] == result.report["baselines"][0]["figures"]


def test_export_writes_the_design_and_handoff_files(workload: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    space = SearchSpace({"rows": [2], "cols": [3], "null_entries": [4], "l1_kib": [1]})
    result = dse(workload, out, 1, space=space)
    files = export_trial(0, tmp_path / "export", run_dir=out)
    names = {path.name for path in files}
    module = result.report["trials"][0]["name"]
    assert {f"{module}.v", f"{module}.json", f"{module}.core", f"{module}.sdc", f"{module}.f",
            "config.json", "dse_point.json"} <= names
    assert (tmp_path / "export" / "sparsecache").is_dir()
    point = json.loads((tmp_path / "export" / "dse_point.json").read_text())
    assert point["config"]["systolic"]["rows"] == 2
    with pytest.raises(DseError, match="has no trial 5"):
        export_trial(5, tmp_path / "x", run_dir=out)
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'dse.db'}")
    assert study.trials[0].user_attrs["name"] == module


def test_a_dead_runs_trial_is_failed_and_run_again(workload: str, tmp_path: Path) -> None:
    """What a SIGKILL leaves (tests/test_dse_resume.py kills a real run): a RUNNING trial."""
    out = tmp_path / "out"
    space = SearchSpace({"rows": [2, 4, 8], "cols": [4, 8]})
    dse(workload, out, 2, space=space)
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'dse.db'}")
    orphan = study.ask({"rows": optuna.distributions.CategoricalDistribution([2, 4, 8]),
                        "cols": optuna.distributions.CategoricalDistribution([4, 8])})
    orphan.set_user_attr("coordinator", "dead-host:1")  # its point was drawn
    params = dict(orphan.params)
    result = dse(workload, out, 4, space=space)
    states = {t["number"]: t for t in result.report["trials"]}
    assert states[orphan.number]["state"] == "fail"
    retry = [t for t in states.values() if t.get("retry_of") == orphan.number]
    assert len(retry) == 1 and retry[0]["state"] == "complete"
    assert {k: retry[0]["point"][k] for k in params} == params
    assert result.report["counts"]["complete"] == 4


def test_hypervolume_by_hand() -> None:
    from accelgen.flows.dse.report import hypervolume

    ref = np.array([4.0, 4.0])
    assert hypervolume(np.array([[1.0, 3.0], [2.0, 1.0]]), ref) == pytest.approx(3 + 4)
    assert hypervolume(np.array([[1.0, 1.0]]), ref) == 9.0
    assert hypervolume(np.array([[5.0, 1.0]]), ref) == 0.0  # beyond the reference
    cube = hypervolume(np.array([[0.0, 0.0, 0.0]]), np.array([2.0, 3.0, 4.0]))
    assert cube == 24.0
    two = hypervolume(np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]), np.array([2.0, 2.0, 2.0]))
    assert two == pytest.approx(2 * 1 * 1 + 1 * 2 * 2 - 1 * 1 * 1)


def test_sampler_benchmark(workload: str, tmp_path: Path) -> None:
    from accelgen.flows.dse.bench import run_dse_benchmark

    path = run_dse_benchmark(tmp_path / "results", workload=workload, trials=6, seeds=(0,),
                             space=SearchSpace(SPACE), scorer=SCORER, synthesis_trials=3,
                             synthesis_workers=(1,), synthesis_scorer=SCORER,
                             synthesis_space={"rows": [2, 4], "cols": [4, 8]})
    report = json.loads(path.read_text())
    assert [r["sampler"] for r in report["runs"]] == ["nsga2", "tpe", "random"]
    assert all(len(r["hypervolume"]) == 6 and r["final_hypervolume"] > 0 for r in report["runs"])
    assert report["model_fidelity"]["warm_trials_per_minute"] > 0
    (synthesis,) = report["synthesis"]["runs"]
    assert synthesis["workers"] == 1 and synthesis["failed"] == 0
    assert synthesis["scored"] + synthesis["answered_from_earlier_trials"] == 3
    assert (tmp_path / "results" / "dse_hypervolume.png").is_file()


@pytest.mark.parametrize(("env", "message"), [
    ({"ACCELGEN_DSE_GRACE_S": "soon"}, r"ACCELGEN_DSE_GRACE_S: must be a whole number"),
    ({"ACCELGEN_DSE_HEARTBEAT_S": "0"}, r"ACCELGEN_DSE_HEARTBEAT_S: must be a whole number"),
    ({"ACCELGEN_DSE_HEARTBEAT_S": "5", "ACCELGEN_DSE_GRACE_S": "5"}, r"must exceed the heartbeat"),
])
def test_bad_liveness_settings_are_named(env, message, monkeypatch):
    from accelgen.flows.dse.engine import liveness_seconds

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(DseError, match=message):
        liveness_seconds()


def test_liveness_defaults_and_overrides(monkeypatch):
    from accelgen.flows.dse.engine import GRACE_S, HEARTBEAT_S, liveness_seconds

    monkeypatch.delenv("ACCELGEN_DSE_HEARTBEAT_S", raising=False)
    monkeypatch.delenv("ACCELGEN_DSE_GRACE_S", raising=False)
    assert liveness_seconds() == (HEARTBEAT_S, GRACE_S)
    monkeypatch.setenv("ACCELGEN_DSE_HEARTBEAT_S", "2")
    monkeypatch.setenv("ACCELGEN_DSE_GRACE_S", "9")
    assert liveness_seconds() == (2, 9)
