"""One DSE study on PostgreSQL, shared by two coordinators as on two hosts (each with its own
output directory, so no lock file connects them): one is killed with SIGKILL mid-run, the
other fails the dead one's running trial once its heartbeat goes stale, runs its point again
and completes the study. The server is a real PostgreSQL from the ``pgserver`` wheel."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pgserver
import pytest
from optuna.trial import TrialState

from tests.dse_scorer import DELAY_ENV
from tests.test_dse_resume import CSV

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 16
STUDY = "shared"


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory: pytest.TempPathFactory):
    # pgserver puts the server's socket in its data directory: keep the path short.
    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def command(workload: Path, out: Path, url: str) -> list[str]:
    return [sys.executable, "-m", "accelgen.flows.dse", "dse", "--workload", str(workload),
            "--trials", str(TRIALS), "--space", str(workload.parent / "space.toml"),
            "-o", str(out), "--study", STUDY, "--storage", url, "--confirm", "0",
            "--no-baselines", "--quiet", "--seed", "7", "--scorer", "tests.dse_scorer:score",
            "--scheduler", "threads"]


def study_trials(url: str) -> list[optuna.trial.FrozenTrial]:
    try:
        study = optuna.load_study(study_name=STUDY, storage=url)
    except KeyError:  # not created yet
        return []
    return study.get_trials(deepcopy=False)


def completed(url: str) -> dict[int, tuple[float, ...]]:
    return {t.number: tuple(t.values) for t in study_trials(url)
            if t.state is TrialState.COMPLETE}


def running(url: str, pid: int, age_s: tuple[float, float] = (0.0, 1e9)) -> list[int]:
    """Numbers of the trials the coordinator with process ``pid`` is running, started between
    ``age_s`` seconds ago."""
    now = datetime.datetime.now()
    return [t.number for t in study_trials(url) if t.state is TrialState.RUNNING
            and t.user_attrs.get("coordinator", "").endswith(f":{pid}")
            and age_s[0] <= (now - t.datetime_start).total_seconds() <= age_s[1]]


def wait_for(condition, process: subprocess.Popen, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, f"exited before {what}: {process.communicate()}"
        assert time.monotonic() < deadline, f"no {what} in {seconds} s"
        time.sleep(0.1)


def test_two_coordinators_share_a_study_and_one_dies(tmp_path: Path, postgres_url: str) -> None:
    workload = tmp_path / "tiny.csv"
    workload.write_text(CSV)
    (tmp_path / "space.toml").write_text(
        '[space]\nrows = [2, 4, 8, 16]\ncols = [2, 4, 8, 16]\ndataflow = ["os", "ws"]\n'
        'input_width = [4, 8]\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ACCELGEN_DSE_HEARTBEAT_S": "1",
           "ACCELGEN_DSE_GRACE_S": "3"}
    # The first coordinator scores slowly, so it is caught in the middle of a trial; the
    # second runs long enough to see that trial's heartbeat go stale.
    first = subprocess.Popen(command(workload, tmp_path / "host_a", postgres_url), cwd=ROOT,
                             env={**env, DELAY_ENV: "3"}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: len(completed(postgres_url)) >= 1, first, "completed trial")
        second = subprocess.Popen(command(workload, tmp_path / "host_b", postgres_url),
                                  cwd=ROOT, env={**env, DELAY_ENV: "0.8"},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Both coordinators are working, and the first is inside a trial's scoring.
        wait_for(lambda: running(postgres_url, second.pid), second, "trial of the second")
        wait_for(lambda: running(postgres_url, first.pid, age_s=(0.3, 2.0)), first,
                 "trial of the first being scored")
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    before = completed(postgres_url)
    stranded = running(postgres_url, first.pid)
    assert stranded
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err

    after = completed(postgres_url)
    assert len(after) >= TRIALS
    assert all(after[number] == values for number, values in before.items())
    states = {t.number: t for t in study_trials(postgres_url)}
    for number in stranded:  # failed once its heartbeat went stale, its point scored again
        assert states[number].state is TrialState.FAIL
        retries = [t for t in states.values() if t.user_attrs.get("retry_of") == number]
        assert len(retries) == 1 and retries[0].params == states[number].params
        assert retries[0].state is TrialState.COMPLETE
    coordinators = {t.user_attrs.get("coordinator", "").rpartition(":")[2]
                    for t in states.values() if t.state is TrialState.COMPLETE}
    assert {str(first.pid), str(second.pid)} <= coordinators
    assert "scored" in out
