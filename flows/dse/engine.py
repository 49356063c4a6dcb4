"""The exploration loop: Optuna proposes points, workers score them, the storage keeps them.

One coordinator (this process) owns the study: it asks Optuna for a point, rejects points the
generator refuses (the trial is *pruned* and records the generator's message), answers a point
already scored from the study's own results (so no point is scored twice, and a point a tool
failed on is not tried again), and sends the rest
to workers: a Dask ``LocalCluster`` by default, an existing Dask scheduler, or threads in this
process (``scheduler="threads"``). Finished scores go back with
:meth:`optuna.Study.tell` at once, so the storage (an Optuna RDB: SQLite in ``out_dir`` by
default, any SQLAlchemy URL) holds every completed trial the moment it completes.

Resuming: run again with the same study and storage. Trials a killed coordinator left running
are failed and their points queued again: immediately when the study lives in the default
SQLite file (a lock file proves no other coordinator uses it), else once their heartbeat is
older than :data:`GRACE_S` (``ACCELGEN_DSE_HEARTBEAT_S`` and ``ACCELGEN_DSE_GRACE_S`` change
the heartbeat interval and the grace, e.g. for a cluster with slow links). ``trials`` counts
scored trials (complete, or failed by a tool), not rejected ones; at most
``REJECT_FACTOR * trials`` points are rejected before the run stops.
A resumed study must keep its workload, objectives, constraints, space and tools; its sampler
is seeded with ``seed`` plus the number of trials already in the study, so a resumed run does
not replay the first run's proposals.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from accelgen.generators.systolic import ConfigError

from .evaluate import (
    METRICS,
    OBJECTIVES,
    Scoring,
    check_point,
    evaluate_point,
    resolve_scorer,
)
from .names import SAMPLERS, DseError
from .space import SearchSpace, canonical_point, point_configs, point_hash
from .workload import Workload, load_workload

__all__ = [
    "Constraint",
    "DseError",
    "DseRun",
    "connect_scheduler",
    "default_storage",
    "open_workers",
    "parse_constraint",
    "run_study",
]

HEARTBEAT_S = 5
GRACE_S = 20


def liveness_seconds() -> tuple[int, int]:
    """The heartbeat interval and the grace after which a silent trial is failed: the defaults
    above, or ``ACCELGEN_DSE_HEARTBEAT_S`` / ``ACCELGEN_DSE_GRACE_S`` (whole seconds, as
    Optuna's storage takes them)."""
    values = []
    for name, default in (("HEARTBEAT_S", HEARTBEAT_S), ("GRACE_S", GRACE_S)):
        text = os.environ.get(f"ACCELGEN_DSE_{name}", "").strip()
        value = int(text) if text.isdigit() else (default if not text else 0)
        if value < 1:
            raise DseError(f"ACCELGEN_DSE_{name}: must be a whole number of seconds >= 1, "
                           f"got {text!r}")
        values.append(value)
    heartbeat, grace = values
    if grace <= heartbeat:
        raise DseError(f"ACCELGEN_DSE_GRACE_S: must exceed the heartbeat interval "
                       f"({heartbeat} s), got {grace}")
    return heartbeat, grace
REJECT_FACTOR = 20


@dataclass(frozen=True)
class Constraint:
    """``metric <= bound`` or ``metric >= bound``; :meth:`violation` <= 0 means satisfied."""

    metric: str
    op: str
    bound: float

    def violation(self, figures: dict[str, Any]) -> float:
        value = figures.get(METRICS[self.metric].key)
        if value is None:
            return float("inf")
        return value - self.bound if self.op == "<=" else self.bound - value

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"


def parse_constraint(text: str) -> Constraint:
    """``area<=150000``, ``fmax>=80``: a metric of :data:`~.evaluate.METRICS`, ``<=`` or
    ``>=``, a number."""
    for op in ("<=", ">="):
        if op in text:
            name, _, bound = (part.strip() for part in text.partition(op))
            break
    else:
        raise DseError(f"--constraint: {text!r} must be METRIC<=NUMBER or METRIC>=NUMBER")
    if name not in METRICS:
        raise DseError(f"--constraint: unknown metric {name!r} (known: {', '.join(METRICS)})")
    try:
        value = float(bound)
    except ValueError:
        raise DseError(f"--constraint: {text!r}: {bound!r} is not a number") from None
    return Constraint(name, op, value)


def check_objectives(objectives: Sequence[str]) -> tuple[str, ...]:
    objectives = tuple(objectives)
    if not objectives:
        raise DseError("--objectives: name at least one of " + ", ".join(OBJECTIVES))
    for name in objectives:
        if name not in OBJECTIVES:
            raise DseError(f"--objectives: unknown objective {name!r} (known: "
                           f"{', '.join(OBJECTIVES)})")
    if len(set(objectives)) != len(objectives):
        raise DseError(f"--objectives: repeated objective in {','.join(objectives)}")
    return objectives


# --- storage --------------------------------------------------------------------------------

def default_storage(out_dir: Path) -> str:
    return f"sqlite:///{(out_dir / 'dse.db').resolve()}"


def _requeue(study: optuna.Study, trial: FrozenTrial) -> None:
    """A trial whose coordinator died: run its point again (a tool does not remember it).

    ``Study.ask`` stores one parameter at a time, so a coordinator killed inside it leaves a
    partial point; requeueing that would pin a few parameters and draw the rest afresh, a
    point nobody chose. Only a drawn point (``coordinator`` is set right after ``ask``) or
    an enqueued one (its fixed parameters) is run again; otherwise the sampler draws anew."""
    if "coordinator" in trial.user_attrs:
        params = trial.params
    else:
        params = trial.system_attrs.get("fixed_params") or {}
    if params:
        study.enqueue_trial(params, user_attrs={"retry_of": trial.number})


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """Write-ahead log, synced at checkpoints: a commit survives the process being killed
    (the operating system holds it), and costs no fsync, which made every trial's dozens of
    small commits take seconds on a busy disk."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage with heartbeats (see the module docstring); SQLite in WAL mode."""
    import sqlalchemy

    sqlite = url.startswith("sqlite")
    heartbeat, grace = liveness_seconds()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        try:
            storage = optuna.storages.RDBStorage(
                url, heartbeat_interval=heartbeat, grace_period=grace,
                heartbeat_stale_trial_callback=_requeue,
                engine_kwargs=None if sqlite else {"pool_pre_ping": True})
        except Exception as error:  # SQLAlchemy raises many kinds
            raise DseError(f"--storage: cannot open {redact(url)}: "
                           f"{str(error).splitlines()[0]}") from None
    if sqlite:
        sqlalchemy.event.listen(storage.engine, "connect", _sqlite_pragmas)
        storage.engine.dispose()  # connections opened before the listener reconnect with it
    return storage


def redact(url: str) -> str:
    """``url`` without its password."""
    head, at, tail = url.partition("@")
    if not at or "://" not in head:
        return url
    scheme, _, credentials = head.partition("://")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{tail}"


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[bool]:
    """Try to hold ``path`` locked; yields whether this process is the only holder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True


class _Heartbeat:
    """Records heartbeats for this coordinator's running trials every heartbeat interval."""

    def __init__(self, storage: optuna.storages.RDBStorage):
        self._storage = storage
        self._trials: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dse-heartbeat", daemon=True)
        self._thread.start()

    def add(self, trial_id: int) -> None:
        self._storage.record_heartbeat(trial_id)
        with self._lock:
            self._trials.add(trial_id)

    def remove(self, trial_id: int) -> None:
        with self._lock:
            self._trials.discard(trial_id)

    def _run(self) -> None:
        while not self._stop.wait(self._storage.get_heartbeat_interval() or HEARTBEAT_S):
            with self._lock:
                trials = list(self._trials)
            for trial_id in trials:
                with contextlib.suppress(Exception):
                    self._storage.record_heartbeat(trial_id)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


# --- workers --------------------------------------------------------------------------------

class _Local:
    """Threads in this process: scoring runs the tools as child processes."""

    def __init__(self, jobs: int):
        self.jobs = jobs
        self._pool = concurrent.futures.ThreadPoolExecutor(jobs, thread_name_prefix="dse")
        self.description = f"local, {jobs} thread{'s' if jobs > 1 else ''}"

    def share(self, value: Any) -> Any:
        return value

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._pool.submit(fn, *args)

    def wait(self, futures: Sequence[Any], timeout: float) -> list[Any]:
        done, _ = concurrent.futures.wait(futures, timeout=timeout,
                                          return_when=concurrent.futures.FIRST_COMPLETED)
        return list(done)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class _Dask:
    """Trials as futures on a Dask distributed cluster."""

    def __init__(self, client: Any, jobs: int | None, owned: list[Any]):
        self._client = client
        self._owned = owned
        self._shared: list[Any] = []
        workers = client.scheduler_info().get("workers", {})
        threads = sum(w.get("nthreads", 1) for w in workers.values()) or 1
        self.jobs = jobs or threads
        self.description = (f"dask {client.scheduler.address}, {len(workers)} worker"
                            f"{'s' if len(workers) != 1 else ''}, {threads} threads")

    def share(self, value: Any) -> Any:
        """``value`` sent to every worker once; the future is kept until :meth:`close`, so
        the data outlives the loop that scattered it."""
        future = self._client.scatter(value, broadcast=True, hash=False)
        self._shared.append(future)
        return future

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._client.submit(fn, *args, pure=False)

    def wait(self, futures: Sequence[Any], timeout: float) -> list[Any]:
        from distributed import wait

        with contextlib.suppress(TimeoutError):
            wait(list(futures), timeout=timeout, return_when="FIRST_COMPLETED")
        return [f for f in futures if f.done()]

    def close(self) -> None:
        self._shared.clear()
        for resource in self._owned:
            with contextlib.suppress(Exception):
                resource.close()


def _probe(address: str, timeout_s: float) -> None:
    """Open and close a TCP connection to a ``tcp://`` or ``tls://`` address: a refused
    connection fails at once, where Dask's client would retry until its timeout."""
    scheme, _, rest = address.partition("://")
    host, _, port = rest.rpartition(":")
    if scheme in ("tcp", "tls") and host and port.isdigit():
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()


def connect_scheduler(scheduler: Any, jobs: int | None, timeout_s: float = 10.0) -> _Dask:
    """A Dask client: ``scheduler`` is a ``distributed.Client``, a scheduler address
    (``tcp://host:8786``), or ``local`` / ``local:N`` for a LocalCluster of N processes.
    An unreachable address fails within ``timeout_s`` with :class:`DseError`."""
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        return _Dask(scheduler, jobs, [])
    address = str(scheduler)
    if address == "local" or address.startswith("local:"):
        count = address.partition(":")[2] or str(jobs or os.cpu_count() or 1)
        if not count.isdigit() or int(count) < 1:
            raise DseError(f"--scheduler: local:N needs N >= 1, got {address!r}")
        cluster = LocalCluster(n_workers=int(count), threads_per_worker=1,
                               dashboard_address=":0")  # any free port, no warning
        client = Client(cluster)
        return _Dask(client, jobs, [client, cluster])
    try:
        _probe(address, timeout_s)
        client = Client(address, timeout=f"{timeout_s}s")
    except (OSError, TimeoutError, ValueError) as error:
        raise DseError(f"--scheduler: cannot reach Dask scheduler {address} within "
                       f"{timeout_s:g} s: {str(error).splitlines()[0]}") from None
    return _Dask(client, jobs, [client])


def open_workers(scheduler: Any = "local", jobs: int | None = None) -> Any:
    """``jobs`` threads here when ``scheduler`` is ``"threads"`` (or ``None``), else Dask
    workers (see :func:`connect_scheduler`)."""
    if scheduler is None or scheduler == "threads":
        return _Local(jobs or 1)
    return connect_scheduler(scheduler, jobs)


# --- the loop -------------------------------------------------------------------------------

@dataclass
class DseRun:
    """Everything the report needs from the loop."""

    study: optuna.Study
    storage_url: str
    workload: Workload
    space: SearchSpace
    objectives: tuple[str, ...]
    constraints: tuple[Constraint, ...]
    sampler: str
    seed: int
    scoring: Scoring
    workers: str
    seconds: float
    scored_here: int = 0
    cached_here: int = 0
    rejected_here: int = 0
    failed_here: int = 0
    score_seconds: list[float] = field(default_factory=list)
    pool: Any = None


def _make_sampler(name: str, seed: int, trials: int) -> optuna.samplers.BaseSampler:
    """Constraints reach NSGA-II and TPE through :meth:`optuna.Trial.set_constraint`: every
    scored trial carries ``valid = 0`` and one value per user constraint, every rejected
    point ``valid = 1``, so both samplers rank rejected and infeasible points last."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "nsga2":
            population = max(4, min(50, trials // 4))
            return optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
        if name == "tpe":
            return optuna.samplers.TPESampler(seed=seed, multivariate=True,
                                              n_startup_trials=max(5, min(20, trials // 5)))
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
    raise DseError(f"--sampler: must be one of {', '.join(SAMPLERS)}, got {name!r}")


def _study_identity(workload: Workload, space: SearchSpace, objectives: Sequence[str],
                    constraints: Sequence[Constraint], scoring: Scoring) -> dict[str, Any]:
    """What a resumed study must keep: its trials were scored and ranked under it."""
    return {"workload": workload.digest, "workload_name": workload.name,
            "objectives": list(objectives), "constraints": [str(c) for c in constraints],
            "space": space.to_dict(),
            "liberty": scoring.liberty, "target": scoring.target, "scorer": scoring.scorer}


def _check_identity(study: optuna.Study, identity: dict[str, Any]) -> None:
    stored = study.user_attrs.get("identity")
    if stored is None:
        study.set_user_attr("identity", identity)
        return
    for key in ("workload", "objectives", "constraints", "space", "liberty", "target",
                "scorer"):
        if stored.get(key) != identity[key]:
            raise DseError(f"--study {study.study_name}: was started with another {key} "
                           f"({stored.get(key)!r}); resume with the same settings or name a "
                           "new study")


def _scored(trial: FrozenTrial) -> bool:
    return trial.state is TrialState.COMPLETE or (
        trial.state is TrialState.FAIL and "error" in trial.user_attrs)


def run_study(
    workload: Workload | str,
    trials: int,
    objectives: Sequence[str],
    constraints: Sequence[Constraint | str] = (),
    *,
    study_name: str | None = None,
    storage: str | None = None,
    scheduler: Any = "local",
    sampler: str = "nsga2",
    space: SearchSpace | Path | None = None,
    seed: int = 0,
    out_dir: Path = Path("out/dse"),
    jobs: int | None = None,
    scoring: Scoring | None = None,
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
    keep_workers: bool = False,
    start_points: Sequence[dict[str, Any]] = (),
) -> DseRun:
    """Run (or resume) the study until ``trials`` trials are scored; see the module docstring.

    ``progress(done, total, info)`` is called after every finished trial. Workers (see
    :func:`open_workers`) are opened once every argument has been checked; with
    ``keep_workers`` they stay open as ``run.pool`` (close them after use). A new study
    first scores ``start_points`` (known designs, e.g. the baselines) that lie in the space,
    so its front is never worse than theirs.
    """
    start = time.perf_counter()
    if isinstance(workload, str):
        workload = load_workload(workload)
    if space is None:
        space = SearchSpace.default()
    elif not isinstance(space, SearchSpace):
        space = SearchSpace.from_toml(Path(space))
    objectives = check_objectives(objectives)
    constraints = tuple(c if isinstance(c, Constraint) else parse_constraint(c)
                        for c in constraints)
    if not isinstance(trials, int) or trials < 1:
        raise DseError(f"--trials: must be >= 1, got {trials!r}")
    if sampler not in SAMPLERS:
        raise DseError(f"--sampler: must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    needs = frozenset({"latency", "area", *objectives, *(c.metric for c in constraints)})
    scoring = scoring or Scoring(needs)
    scoring = replace(scoring, needs=needs | scoring.needs)
    if scoring.scorer:
        try:
            resolve_scorer(scoring.scorer)
        except ValueError as error:
            raise DseError(f"--{error}") from None
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DseError(f"-o: cannot create {out_dir}: {error.strerror}") from None
    study_name = study_name or workload.name
    url = storage or default_storage(out_dir)
    rdb = open_storage(url)
    directions = [METRICS[name].direction for name in objectives]

    with _exclusive(out_dir / f".{study_name}.lock") as alone:
        existing = _existing_trials(rdb, study_name)
        sampler_obj = _make_sampler(sampler, seed + existing, trials)
        try:
            study = optuna.create_study(study_name=study_name, storage=rdb, sampler=sampler_obj,
                                        directions=directions, load_if_exists=True)
        except Exception as error:
            raise DseError(f"--study {study_name}: {str(error).splitlines()[0]}") from None
        if [d.name.lower() for d in study.directions] != directions:
            raise DseError(f"--study {study_name}: was started with other objectives; resume "
                           "with the same --objectives or name a new study")
        _check_identity(study, _study_identity(workload, space, objectives, constraints,
                                               scoring))
        if alone and storage is None:
            _fail_orphans(study)
        if not study.get_trials(deepcopy=False):
            for point in start_points:
                params = space.params_of(point)
                if params is not None:
                    study.enqueue_trial(params, skip_if_exists=True)
        workers = open_workers(scheduler, jobs)
        run = DseRun(study, url, workload, space, objectives, constraints, sampler, seed,
                     scoring, workers.description, 0.0)
        try:
            _loop(run, workers, rdb, trials, progress)
        except BaseException:
            workers.close()
            raise
        if keep_workers:
            run.pool = workers
        else:
            workers.close()
    run.seconds = time.perf_counter() - start
    return run


def _existing_trials(rdb: optuna.storages.RDBStorage, name: str) -> int:
    try:
        study_id = rdb.get_study_id_from_name(name)
    except KeyError:
        return 0
    return len(rdb.get_all_trials(study_id, deepcopy=False))


def _fail_orphans(study: optuna.Study) -> None:
    """Nobody else holds the study's lock: every running trial belongs to a dead run."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
            _requeue(study, trial)


def _results_by_hash(study: optuna.Study) -> tuple[dict[str, FrozenTrial], int]:
    """Scored trials by configuration hash: complete ones, and those a tool failed on (the
    same tools fail the same way again; a dead worker's trial is not kept)."""
    trials = study.get_trials(deepcopy=False)
    done = {t.user_attrs["hash"]: t for t in trials
            if _scored(t) and "hash" in t.user_attrs
            and not str(t.user_attrs.get("error", "")).startswith("worker:")}
    done.update({t.user_attrs["hash"]: t for t in trials  # a success wins over a failure
                 if t.state is TrialState.COMPLETE and "hash" in t.user_attrs})
    return done, sum(1 for t in trials if _scored(t))


def _loop(run: DseRun, workers: Any, rdb: optuna.storages.RDBStorage, trials: int,
          progress: Callable[[int, int, dict[str, Any]], None] | None) -> None:
    study, space = run.study, run.space
    known, scored = _results_by_hash(study)
    layers = workers.share(run.workload.layers)
    context = (run.workload.digest, str(run.scoring.liberty), run.scoring.target,
               ",".join(sorted(run.scoring.needs)), str(run.scoring.scorer))
    pending: dict[Any, tuple[optuna.Trial, str]] = {}
    heartbeat = _Heartbeat(rdb)
    rejected = 0
    refreshed = time.monotonic()
    recheck = rdb.get_heartbeat_interval() or HEARTBEAT_S  # for other coordinators' dead trials
    coordinator = f"{socket.gethostname()}:{os.getpid()}"
    try:
        while True:
            if time.monotonic() - refreshed > recheck:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    optuna.storages.fail_stale_trials(study)
                known, scored = _results_by_hash(study)
                refreshed = time.monotonic()
            while (len(pending) < workers.jobs and scored + len(pending) < trials
                   and rejected < REJECT_FACTOR * trials):
                with warnings.catch_warnings():  # heartbeats are ours, not Study.optimize's
                    warnings.simplefilter("ignore", UserWarning)
                    trial = study.ask(space.distributions)
                # From here on a killed coordinator's trial goes stale and is run again.
                heartbeat.add(trial._trial_id)
                trial.set_user_attr("coordinator", coordinator)
                point = space.point(trial.params)
                trial.set_user_attr("point", point)
                try:
                    cfg, cache = point_configs(point)
                    check_point(cfg, run.workload.layers, point.get("fuse_variant"))
                except (ConfigError, ValueError) as error:
                    trial.set_user_attr("rejected", str(error))
                    trial.set_constraint("valid", 1.0)  # samplers learn to avoid it
                    study.tell(trial, state=TrialState.PRUNED)
                    heartbeat.remove(trial._trial_id)
                    rejected += 1
                    run.rejected_here += 1
                    continue
                canonical = canonical_point(cfg, cache, point)
                key = point_hash(canonical, *context)
                trial.set_user_attr("hash", key)
                trial.set_user_attr("name", cfg.name)
                trial.set_user_attr("config", canonical)
                if key in known:
                    _finish(run, trial, _stored_result(known[key]))
                    heartbeat.remove(trial._trial_id)
                    scored += 1
                    run.cached_here += 1
                    if progress:
                        progress(scored, trials, {"cached": True, "name": cfg.name})
                    continue
                future = workers.submit(evaluate_point, point, layers, run.scoring)
                pending[future] = (trial, key)
            if not pending:
                if scored == 0 and rejected:
                    raise DseError(f"--space: all {rejected} sampled points were rejected, the "
                                   f"last with {trial.user_attrs['rejected']!r}; the space "
                                   "has no valid combination (or almost none)")
                break
            for future in workers.wait(list(pending), timeout=1.0):
                trial, key = pending.pop(future)
                try:
                    result = future.result()
                except Exception as error:  # a worker died or could not unpickle
                    result = {"error": f"worker: {str(error).splitlines()[0]}",
                              "error_type": type(error).__name__}
                frozen = _finish(run, trial, result)
                heartbeat.remove(trial._trial_id)
                if frozen.state is TrialState.COMPLETE:
                    known[key] = frozen
                    run.score_seconds.append(result.get("seconds", 0.0))
                    run.scored_here += 1
                else:
                    if not result["error"].startswith("worker:"):
                        known[key] = frozen
                    run.failed_here += 1
                scored += 1
                if progress:
                    progress(scored, trials, {"name": trial.user_attrs.get("name"),
                                              "error": result.get("error")})
    finally:
        heartbeat.close()
        for future, (trial, _) in pending.items():  # interrupted: leave nothing running
            with contextlib.suppress(Exception):
                future.cancel()
            with contextlib.suppress(Exception):
                study.tell(trial, state=TrialState.FAIL)
                _requeue(study, study._storage.get_trial(trial._trial_id))


def _stored_result(trial: FrozenTrial) -> dict[str, Any]:
    attrs = trial.user_attrs
    if trial.state is not TrialState.COMPLETE:
        return {**{k: attrs[k] for k in ("error", "error_type", "detail", "log") if k in attrs},
                "seconds": 0.0, "duplicate_of": trial.number}
    return {"figures": attrs["figures"], "fidelity": attrs["fidelity"], "seconds": 0.0,
            "duplicate_of": trial.number}


def _finish(run: DseRun, trial: optuna.Trial, result: dict[str, Any]) -> FrozenTrial:
    """Record ``result`` on ``trial`` and tell the study."""
    study = run.study
    for name in ("seconds", "host", "duplicate_of"):
        if name in result:
            trial.set_user_attr(name, result[name])
    if "error" in result:
        for name in ("error", "error_type", "detail", "log"):
            if result.get(name) is not None:
                trial.set_user_attr(name, result[name])
        return study.tell(trial, state=TrialState.FAIL)
    figures = result["figures"]
    trial.set_user_attr("figures", figures)
    trial.set_user_attr("fidelity", result["fidelity"])
    violations = [c.violation(figures) for c in run.constraints]
    trial.set_user_attr("constraints", violations)
    trial.set_constraint("valid", 0.0)
    for constraint, violation in zip(run.constraints, violations, strict=True):
        trial.set_constraint(str(constraint), min(violation, 1e300))
    values = [figures[METRICS[name].key] for name in run.objectives]
    return study.tell(trial, values)
