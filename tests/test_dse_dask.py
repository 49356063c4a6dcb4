"""Trials on a Dask cluster: a LocalCluster (threads, and its address), and an unreachable
scheduler that fails fast with a clear error."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from distributed import Client, LocalCluster

from accelgen.flows.dse import DseError, SearchSpace, run_dse
from accelgen.flows.dse.engine import connect_scheduler

CSV = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
       "Num Filter, Strides,\n"
       "conv1, 12, 12, 3, 3, 3, 8, 1,\n"
       "pw1, 8, 8, 1, 1, 8, 16, 1,\n")
SPACE = {"rows": [2, 4, 8], "cols": [2, 4, 8], "dataflow": ["os", "ws"]}


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, processes=False, threads_per_worker=1,
                      dashboard_address=None) as local, Client(local) as client:
        yield local, client


def run(tmp_path: Path, scheduler: object, trials: int = 8):
    tmp_path.mkdir(parents=True, exist_ok=True)
    workload = tmp_path / "tiny.csv"
    workload.write_text(CSV)
    return run_dse(str(workload), trials, space=SearchSpace(SPACE), out_dir=tmp_path / "out",
                   confirm=0, scheduler=scheduler, scorer="tests.dse_scorer:score",
                   baselines=(("4x4 os", {"rows": 4, "cols": 4}),))


def test_trials_run_on_a_local_cluster_client(tmp_path: Path, cluster) -> None:
    _, client = cluster
    result = run(tmp_path, client)
    report = result.report
    assert report["counts"]["complete"] == 8
    assert report["workers"].startswith("dask ") and "2 workers" in report["workers"]
    assert report["baselines"][0]["figures"]["cycles"] > 0
    assert report["pareto"]


def test_trials_run_through_a_scheduler_address(tmp_path: Path, cluster) -> None:
    local, _ = cluster
    result = run(tmp_path, local.scheduler_address, trials=4)
    assert result.report["counts"]["complete"] == 4
    # The same points as on local threads: the cluster changes where, not what.
    local_run = run(tmp_path / "threads", "threads", trials=4)
    assert ([t["point"] for t in result.report["trials"]]
            == [t["point"] for t in local_run.report["trials"]])


def test_an_unreachable_scheduler_fails_fast(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(DseError, match=r"--scheduler: cannot reach Dask scheduler "
                                       r"tcp://127\.0\.0\.1:9"):
        run(tmp_path, "tcp://127.0.0.1:9")
    assert time.monotonic() - start < 20
    start = time.monotonic()
    with pytest.raises(DseError, match="cannot reach"):
        connect_scheduler("tcp://127.0.0.1:9", None)
    assert time.monotonic() - start < 2  # refused at once, not after Dask's retries
