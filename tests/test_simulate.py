"""Simulator builds are shared and race-free, and a run passes only when its tests really pass."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from accelgen.flows.simulate import SimResult, build_simulator, run_cocotb
from accelgen.flows.toolchain import cache_root
from tests.cocotb_smoke import registered_adder_verilog

pytestmark = pytest.mark.cocotb

TOP = "registered_adder"
TESTS = "tests.cocotb_smoke"


@pytest.fixture(scope="module")
def cache() -> Path:
    """The suite's own build cache (``<accelgen cache>/verilator``), shared by the pytest-xdist
    workers: these builds reuse the Verilator runtime objects (plain and traced) that the
    suite's other builds compile, or compile them for those, instead of twice more."""
    return cache_root() / "verilator"


@pytest.fixture
def discard(cache: Path):
    """Builds of one-off designs (named after the process) to remove from the shared cache."""
    names: list[str] = []
    yield names
    for name in names:
        for path in cache.glob(f"{name}-*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def adder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("adder") / f"{TOP}.v"
    path.write_text(registered_adder_verilog(TOP))
    return path


@pytest.fixture(scope="module")
def build(adder: Path, cache: Path) -> Path:
    return build_simulator(adder, TOP, cache_root=cache)


def _run(build: Path, tmp_path: Path, **options: object) -> SimResult:
    return run_cocotb(build, TOP, TESTS, test_dir=tmp_path, **options)  # type: ignore[arg-type]


def test_passing_test_passes(build: Path, tmp_path: Path) -> None:
    result = _run(build, tmp_path, testcase="adds")
    assert result.passed, result
    assert result.failed_tests == [] and result.passed_tests == ["adds"]
    assert result.results_xml == tmp_path / "results.xml"
    assert result.waves is None


def test_second_build_is_a_cache_hit(adder: Path, cache: Path, build: Path) -> None:
    stamp = (build / "done").stat().st_mtime_ns
    start = time.monotonic()
    again = build_simulator(adder, TOP, cache_root=cache)
    assert again == build
    assert time.monotonic() - start < 2
    assert (build / "done").stat().st_mtime_ns == stamp


def test_failing_test_fails(build: Path, tmp_path: Path) -> None:
    result = _run(build, tmp_path)
    assert not result.passed
    assert result.failed_tests == ["expects_wrong_sum"]
    assert result.passed_tests == ["adds"]


def test_zero_tests_is_a_failure(build: Path, tmp_path: Path) -> None:
    result = _run(build, tmp_path, testcase="no_such_test")
    assert not result.passed
    assert result.tests_run == 0
    assert result.error is not None and "no test" in result.error


def test_missing_test_module_is_a_failure(build: Path, tmp_path: Path) -> None:
    result = run_cocotb(build, TOP, "tests.no_such_module", test_dir=tmp_path)
    assert not result.passed
    assert result.error is not None


def test_environment_and_seed_reach_the_testbench(
    build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The explicit setting beats a stale one in the caller's environment.
    monkeypatch.setenv("SMOKE_EXPECTED_OFFSET", "0")
    result = _run(build, tmp_path, testcase="adds", env={"SMOKE_EXPECTED_OFFSET": "1"}, seed=1234)
    assert result.failed_tests == ["adds"]
    seeds = {
        prop.get("value")
        for prop in ElementTree.parse(result.results_xml).iter("property")
        if prop.get("name") == "random_seed"
    }
    assert seeds == {"1234"}


def test_runs_sharing_a_build_keep_their_own_files(
    build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the default test dirs go
    first = run_cocotb(build, TOP, TESTS, testcase="adds")
    second = run_cocotb(build, TOP, TESTS, testcase="adds")
    assert first.passed and second.passed
    assert first.results_xml != second.results_xml
    assert first.results_xml.is_file() and second.results_xml.is_file()


def test_parallel_threads_keep_their_own_settings(build: Path, tmp_path: Path) -> None:
    def run(index: int) -> bool:
        offset = {"SMOKE_EXPECTED_OFFSET": str(index % 2)}
        return _run(build, tmp_path / str(index), testcase="adds", env=offset).passed

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(run, range(4))) == [True, False, True, False]


def test_waves_variable_cannot_change_a_run(
    build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAVES", "1")
    result = _run(build, tmp_path, testcase="adds")
    assert result.passed, result
    assert not (tmp_path / "dump.vcd").exists()


def test_waves_need_a_traced_build(build: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="waves=True"):
        _run(build, tmp_path, waves=True)


def test_traced_build_dumps_waves(adder: Path, cache: Path, tmp_path: Path) -> None:
    traced = build_simulator(adder, TOP, cache_root=cache, waves=True)
    result = _run(traced, tmp_path, testcase="adds", waves=True)
    assert result.passed, result
    assert result.waves == tmp_path / "dump.vcd"
    assert "total" in result.waves.read_text()


def _variant(directory: Path, name: str) -> Path:
    path = directory / f"{name}.v"
    path.write_text(registered_adder_verilog(name))
    return path


_BUILD_IN_CHILD = (
    "import sys; from pathlib import Path; from accelgen.flows.simulate import build_simulator; "
    "print(build_simulator(Path(sys.argv[1]), sys.argv[2], cache_root=Path(sys.argv[3])))"
)


def test_concurrent_builds_share_one_build(build: Path, cache: Path, tmp_path: Path,
                                          discard: list[str]) -> None:
    name = f"adder_{os.getpid()}"
    discard.append(name)
    verilog = _variant(tmp_path, name)
    command = [sys.executable, "-c", _BUILD_IN_CHILD, str(verilog), name, str(cache)]
    children = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [child.communicate(timeout=600)[0].strip() for child in children]
    assert [child.returncode for child in children] == [0, 0]
    assert outputs[0] == outputs[1]
    built = Path(outputs[0])
    assert (built / "done").is_file()
    # The runtime objects of the first build were reused, not compiled again.
    assert "verilated.cpp" not in (built / "build.log").read_text()
    assert run_cocotb(built, name, TESTS, testcase="adds", test_dir=tmp_path / "run").passed


def test_interrupted_build_is_redone(build: Path, cache: Path, tmp_path: Path,
                                     discard: list[str]) -> None:
    name = f"adder_interrupted_{os.getpid()}"
    discard.append(name)
    verilog = _variant(tmp_path, name)
    first = build_simulator(verilog, name, cache_root=cache)
    (first / "done").unlink()
    (first / name).unlink()
    again = build_simulator(verilog, name, cache_root=cache)
    assert again == first
    assert (again / "done").is_file() and (again / name).is_file()
    assert run_cocotb(again, name, TESTS, testcase="adds", test_dir=tmp_path / "run").passed
