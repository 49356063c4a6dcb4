"""A DSE run killed with SIGKILL and started again with the same study loses no completed
trial and reaches the requested count; the trial it was running is run again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from tests.dse_scorer import DELAY_ENV

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 16
CSV = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
       "Num Filter, Strides,\n"
       "conv1, 12, 12, 3, 3, 3, 8, 1,\n"
       "pw1, 8, 8, 1, 1, 8, 16, 1,\n")


def command(workload: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "accelgen.flows.dse", "dse", "--workload", str(workload),
            "--trials", str(TRIALS), "--space", str(out.parent / "space.toml"), "-o", str(out),
            "--study", "killed", "--confirm", "0", "--no-baselines", "--quiet", "--seed", "5",
            "--scorer", "tests.dse_scorer:score", "--scheduler", "threads"]


def trials(out: Path) -> list[optuna.trial.FrozenTrial]:
    storage = optuna.storages.RDBStorage(f"sqlite:///{out / 'dse.db'}")
    return optuna.load_study(study_name="killed", storage=storage).get_trials(deepcopy=False)


def completed(out: Path) -> dict[int, tuple[float, ...]]:
    if not (out / "dse.db").is_file():
        return {}
    try:
        found = trials(out)
    except (KeyError, Exception):  # the study is not created yet
        return {}
    return {t.number: tuple(t.values) for t in found if t.state is TrialState.COMPLETE}


def test_sigkill_then_resume(tmp_path: Path) -> None:
    workload = tmp_path / "tiny.csv"
    workload.write_text(CSV)
    (tmp_path / "space.toml").write_text(
        '[space]\nrows = [2, 4, 8, 16]\ncols = [2, 4, 8, 16]\ndataflow = ["os", "ws"]\n'
        'input_width = [4, 8]\n')
    out = tmp_path / "out"
    env = {**os.environ, DELAY_ENV: "0.4", "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(command(workload, out), cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while len(completed(out)) < 5:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first run completed no trials in 300 s"
        time.sleep(0.2)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL
    before = completed(out)
    assert 5 <= len(before) < TRIALS
    running = [t.number for t in trials(out) if t.state is TrialState.RUNNING]

    second = subprocess.run(command(workload, out), cwd=ROOT, env={**env, DELAY_ENV: "0"},
                            capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    after = completed(out)
    assert len(after) == TRIALS
    assert all(after[number] == values for number, values in before.items())
    states = {t.number: t for t in trials(out)}
    for number in running:  # killed mid-trial: failed, and its point queued again
        assert states[number].state is TrialState.FAIL
        retries = [t for t in states.values() if t.user_attrs.get("retry_of") == number]
        killed = states[number]
        if "coordinator" in killed.user_attrs:  # its point was drawn: run it again
            assert len(retries) == 1 and retries[0].params == killed.params
        elif "fixed_params" in killed.system_attrs:  # an enqueued point: run it again
            assert len(retries) == 1 and retries[0].params == killed.system_attrs["fixed_params"]
        else:  # killed inside Study.ask with a partial point: the sampler draws anew
            assert not retries
    assert f"{TRIALS} scored" in second.stdout
    assert (out / "killed.json").is_file()


def _running_trial(study: optuna.Study, params: dict, **user_attrs) -> int:
    """A trial left RUNNING by a dead coordinator, with ``params`` stored so far."""
    storage = study._storage
    trial_id = storage.create_new_trial(study._study_id)
    for name, value in params.items():
        storage.set_trial_param(trial_id, name, SPACE[name].to_internal_repr(value), SPACE[name])
    for key, value in user_attrs.items():
        storage.set_trial_user_attr(trial_id, key, value)
    return storage.get_trial(trial_id).number


SPACE = {"rows": optuna.distributions.CategoricalDistribution((2, 4)),
         "cols": optuna.distributions.CategoricalDistribution((2, 4)),
         "dataflow": optuna.distributions.CategoricalDistribution(("os", "ws"))}


def test_only_a_drawn_point_is_run_again(tmp_path: Path) -> None:
    """A coordinator killed inside ``Study.ask`` leaves a partial point: requeueing it would
    pin some parameters and draw the rest, so it is failed and not run again; a drawn point,
    or an enqueued one (its fixed parameters) killed before it was marked drawn, is."""
    from accelgen.flows.dse.engine import _fail_orphans

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'db.sqlite'}")
    partial = _running_trial(study, {"rows": 4, "cols": 2})
    drawn = _running_trial(study, {"rows": 2, "cols": 4, "dataflow": "ws"}, coordinator="h:1")
    study.enqueue_trial({"rows": 4, "cols": 4, "dataflow": "os"})
    queued = study.ask(SPACE).number  # killed before its coordinator attribute was set
    _fail_orphans(study)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    assert {trials[n].state for n in (partial, drawn, queued)} == {TrialState.FAIL}
    retries = {t.user_attrs["retry_of"]: t.system_attrs["fixed_params"]
               for t in trials.values() if "retry_of" in t.user_attrs}
    assert retries == {drawn: {"rows": 2, "cols": 4, "dataflow": "ws"},
                       queued: {"rows": 4, "cols": 4, "dataflow": "os"}}
