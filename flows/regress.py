"""Run the cocotb regression of one generated design, split over parallel simulator runs."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from accelgen.generators.emit import GeneratedDesign, write_design
from accelgen.tb.cases import GemmCase
from accelgen.tb.fuse_cases import FuseCase

from .simulate import SimResult, build_simulator, run_cocotb

__all__ = ["RegressionResult", "run_regression"]

TEST_MODULE = "accelgen.tb.systolic_tests"
FUSE_TEST_MODULE = "accelgen.tb.fuse_tests"
SUITES = ((TEST_MODULE, "ACCELGEN_CASES", GemmCase),
          (FUSE_TEST_MODULE, "ACCELGEN_FUSE_CASES", FuseCase))


@dataclass(frozen=True)
class RegressionResult:
    design: str
    passed: int
    failed: list[str]
    junit: Path
    seconds: float
    waves: list[Path]

    @property
    def ok(self) -> bool:
        return not self.failed and self.passed > 0

    def summary(self) -> str:
        total = self.passed + len(self.failed)
        verdict = "PASS" if self.ok else "FAIL"
        line = (f"{verdict} {self.design}: {self.passed}/{total} cases passed in "
                f"{self.seconds:.1f} s; JUnit XML: {self.junit}")
        if self.failed:
            line += f"; failed: {', '.join(self.failed)}"
        return line


def _merge_junit(parts: list[Path], target: Path) -> None:
    """One JUnit file holding every job's test suites."""
    suites = ElementTree.Element("testsuites", name="accelgen")
    for part in parts:
        if part.exists():
            suites.extend(ElementTree.parse(part).getroot().iter("testsuite"))
    target.parent.mkdir(parents=True, exist_ok=True)
    ElementTree.ElementTree(suites).write(target, encoding="unicode", xml_declaration=True)


def run_regression(design: GeneratedDesign, cases: Sequence[GemmCase | FuseCase],
                   out_dir: Path, *, jobs: int = 1, waves: bool = False) -> RegressionResult:
    """Simulate ``cases`` on ``design`` with up to ``jobs`` simulator processes at once.

    GEMM cases run in :mod:`accelgen.tb.systolic_tests`, FuSe cases in
    :mod:`accelgen.tb.fuse_tests`; every job shares one Verilator build. Results land in
    ``out_dir/results.xml``; with ``waves`` each job also leaves a waveform dump beside its
    own results.
    """
    if not cases:
        raise ValueError("no regression cases: nothing would be checked")
    start = time.monotonic()
    v_path, j_path = write_design(design, out_dir)
    build_dir = build_simulator(v_path, design.name, waves=waves)
    jobs = max(1, jobs)
    work: list[tuple[str, str, list[GemmCase | FuseCase]]] = []
    for module, variable, kind in SUITES:
        chosen = [case for case in cases if isinstance(case, kind)]
        parts = max(1, min(jobs, len(chosen)))
        work += [(module, variable, chosen[i::parts]) for i in range(parts) if chosen[i::parts]]

    def run(index: int) -> SimResult:
        module, variable, group = work[index]
        job_dir = out_dir / f"job{index}"
        job_dir.mkdir(parents=True, exist_ok=True)
        env = {
            "ACCELGEN_DESIGN": str(j_path.resolve()),
            variable: json.dumps([c.to_dict() for c in group]),
        }
        return run_cocotb(build_dir, design.name, module, env=env, waves=waves,
                          results_xml=job_dir / "results.xml", test_dir=job_dir)

    with ThreadPoolExecutor(max_workers=min(jobs, len(work))) as pool:
        outcomes = list(pool.map(run, range(len(work))))
    junit = out_dir / "results.xml"
    _merge_junit([outcome.results_xml for outcome in outcomes], junit)
    passed = sum(len(outcome.passed_tests) for outcome in outcomes)
    failed = [name for outcome in outcomes for name in outcome.failed_tests]
    failed += [f"job{index} ({outcome.error})" for index, outcome in enumerate(outcomes)
               if outcome.error]
    expected = len(cases)
    if passed + len(failed) < expected:
        failed.append(f"{expected - passed - len(failed)} case(s) never reported")
    return RegressionResult(design.name, passed, failed, junit, time.monotonic() - start,
                            [o.waves for o in outcomes if o.waves is not None])
