"""Prove SparseCache's soundness invariant with Yosys' own SAT solver (``sat``).

SymbiYosys is not on PyPI, but YoWASP Yosys' ``sat`` pass does bounded model checking and
temporal induction by itself. :func:`prove_soundness` writes the formal harness
(:class:`accelgen.generators.sparsecache.formal.SoundnessHarness`) as RTLIL, flattens it, maps
memories to flip-flops and ``$check`` cells to ``$assert``, simplifies it to gates (with
and-or-invert cells: fewer, larger gates give ``sat`` a smaller problem; the 22-cycle
counterexample of the ``skip_split`` fault is found in about half the time) and asks ``sat`` to
prove every assertion:

* ``induction=False`` (bounded, ``sat -seq depth``): every assertion holds in each of the
  first ``depth`` cycles after reset, for every input sequence;
* ``induction=True`` (``sat -tempinduct -maxsteps depth``): base cases and induction steps of
  growing length up to ``depth``; if an induction step succeeds, the assertions hold in every
  cycle, forever. The plain invariant is not inductive; with ``auxiliary=True`` (the
  harness's invariants over the design's registers) the induction closes at length 1.

Time step 1 of ``sat`` is the reset state (every register at its init value), so step ``n`` is
cycle ``n - 1``. The work directory keeps ``harness.il``, ``prove.ys`` and ``prove.log`` and,
after a failure, ``trace.vcd`` with the counterexample (the ``check_*`` signals and
:data:`TRACE`).
"""

from __future__ import annotations

import json
import re
import resource
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil

from accelgen.generators.sparsecache.cache_config import SparseCacheConfig
from accelgen.generators.sparsecache.formal import SoundnessHarness

from .toolchain import run_yosys

__all__ = ["ProofResult", "prove_soundness"]

_PREPARE = """read_rtlil harness.il
hierarchy -check -top top
proc
flatten
setattr -set keep 1 {kept}
memory
opt_clean
chformal -lower
opt
wreduce
opt_clean
techmap
opt -fast
abc -g AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX,AOI3,OAI3,AOI4,OAI4
opt_clean
tee -q -o stat.json stat -json
"""


TRACE = ("watched", "contents", "dut.requests__valid", "dut.requests__ready",
         "dut.requests__payload", "dut.responses__valid", "dut.responses__ready",
         "dut.responses__payload", "dut.memory_requests__valid", "dut.memory_requests__payload",
         "dut.memory_responses__valid", "dut.memory_responses__payload", "dut.debug__entries",
         "dut.debug__probe_l1_ways")
"""Harness and top-level signals shown in a counterexample, beside the ``check_*`` signals."""


@dataclass(frozen=True)
class ProofResult:
    """What ``sat`` concluded.

    ``status`` is ``proved`` (an induction step closed: the assertions hold forever),
    ``bounded`` (no counterexample in ``depth`` cycles, induction not attempted or not
    closed), ``failed`` (a counterexample: ``failed_step`` and the ``failed_checks`` that
    are false in it) or ``timeout`` (a SAT call took longer than ``timeout_s``).
    ``depth`` is the number of cycles from reset known to be free of counterexamples
    (``failed_step - 1`` after a failure); ``induction_length`` the length of the induction
    step that closed, if one did.
    """

    status: str
    depth: int
    induction_length: int | None
    seconds: float
    cpu_seconds: float
    failed_step: int | None
    failed_checks: tuple[str, ...]
    cells: int
    workdir: Path

    @property
    def holds(self) -> bool:
        return self.status in ("proved", "bounded")


def _vcd_values(path: Path, names: list[str]) -> dict[str, dict[int, str]]:
    """``{name: {time: bits}}`` for the top-level wires ``names`` of a Yosys VCD dump."""
    codes: dict[str, str] = {}
    values: dict[str, dict[int, str]] = {name: {} for name in names}
    now = 0
    for line in path.read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "$var" and len(parts) >= 5 and parts[4].lstrip("\\") in values:
            codes[parts[3]] = parts[4].lstrip("\\")
        elif parts[0].startswith("#"):
            now = int(parts[0][1:])
        elif parts[0].startswith("b") and len(parts) == 2 and parts[1] in codes:
            values[codes[parts[1]]][now] = parts[0][1:]
        elif parts[0][0] in "01xz" and parts[0][1:] in codes:
            values[codes[parts[0][1:]]][now] = parts[0][0]
    return values


def _first_failure(vcd: Path, checks: list[str]) -> tuple[int | None, tuple[str, ...]]:
    """The first time step (from 1) in which a check is false, and the checks false in it."""
    names = [f"check_{check}" for check in checks]
    values = _vcd_values(vcd, names)
    times = sorted({t for trace in values.values() for t in trace})
    current = dict.fromkeys(names, "1")
    for step, now in enumerate(times, start=1):
        for name in names:
            current[name] = values[name].get(now, current[name])
        failed = tuple(check for check, name in zip(checks, names, strict=True)
                       if current[name] == "0")
        if failed:
            return step, failed
    return None, ()


def prove_soundness(cfg: SparseCacheConfig, workdir: Path, *, depth: int = 20,
                    induction: bool = False, latency: int = 1, fault: str = "none",
                    auxiliary: bool = False, timeout_s: int | None = None) -> ProofResult:
    """Check :class:`SoundnessHarness` for ``cfg`` with Yosys ``sat`` (see the module
    docstring); ``latency``, ``fault`` and ``auxiliary`` go to the harness, ``timeout_s``
    bounds each SAT call. Raises :class:`~accelgen.flows.toolchain.ToolError` if Yosys fails."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth: must be an integer >= 1, got {depth!r}")
    harness = SoundnessHarness(cfg, latency=latency, fault=fault, auxiliary=auxiliary)
    checks = list(harness.checks)
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in ("trace.vcd", "stat.json", "prove.log"):
        (workdir / stale).unlink(missing_ok=True)
    (workdir / "harness.il").write_text(rtlil.convert(harness, ports=[]))
    # One SAT call over all `depth` steps is faster for a bounded proof than the incremental
    # base case of -tempinduct, which also forces every state of the trace to be distinct.
    mode = f"-tempinduct -maxsteps {depth}" if induction else f"-seq {depth}"
    shows = " ".join(f"-show {name}" for name in (*(f"check_{c}" for c in checks), *TRACE))
    limit = f" -timeout {int(timeout_s)}" if timeout_s else ""
    kept = " ".join(f"w:{name}" for name in (*TRACE, "check_*"))
    (workdir / "prove.ys").write_text(
        _PREPARE.format(kept=kept)
        + f"sat {mode} -prove-asserts -set-init-zero{limit} {shows} -dump_vcd trace.vcd\n")
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run_yosys(["-s", "prove.ys"], cwd=workdir, log=workdir / "prove.log")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = time.perf_counter() - start
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    log = (workdir / "prove.log").read_text(errors="replace")
    cells = int(json.loads((workdir / "stat.json").read_text())["design"]["num_cells"])

    failed_step, failed = None, ()
    closed = None
    if "Interrupted SAT solver: TIMEOUT" in log:
        status, proven = "timeout", 0
    elif "model found for base case: FAIL" in log or "model found: FAIL" in log:
        status = "failed"
        failed_step, failed = _first_failure(workdir / "trace.vcd", checks)
        proven = (failed_step or 1) - 1
    elif induction:
        base = [int(n) for n in re.findall(r"Base case for induction length (\d+) proven", log)]
        proven = max(base, default=0)
        match = re.search(r"\[induction step (\d+)\] Solving[^\n]*\nInduction step proven", log)
        if match:
            status, closed = "proved", int(match.group(1))
        elif "Reached maximum number of time steps" in log:
            status = "bounded"
        else:
            raise RuntimeError(f"cannot read the outcome of {workdir / 'prove.log'}")
    elif "no model found: SUCCESS" in log:
        status, proven = "bounded", depth
    else:
        raise RuntimeError(f"cannot read the outcome of {workdir / 'prove.log'}")
    return ProofResult(status=status, depth=proven, induction_length=closed, seconds=seconds,
                       cpu_seconds=cpu, failed_step=failed_step, failed_checks=failed,
                       cells=cells, workdir=workdir)
