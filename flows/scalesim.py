"""SCALE-Sim v3 (PyPI ``scalesim``) as an independent cycle count for GEMMs, run in a child
interpreter.

scalesim 3.0.0 fails under NumPy >= 2.4, which accelgen itself may use, so it runs in whatever
interpreter :data:`SCALESIM_PYTHON` names (default: ours). Benchmarks record a failure with
its reason instead of raising: the cross-check is evidence, not a prerequisite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SCALESIM_PYTHON", "Gemm", "run_scalesim", "scalesim_python"]

SCALESIM_PYTHON = "ACCELGEN_SCALESIM_PYTHON"
"""Environment variable naming an interpreter with ``scalesim`` installed (default: ours)."""


@dataclass(frozen=True)
class Gemm:
    """One layer as the GEMM the array runs: (m, k) activations times (k, n) weights."""

    name: str
    m: int
    k: int
    n: int


_CONFIG = """[general]
run_name = run
[run_presets]
InterfaceBandwidth = CALC
UseRamulatorTrace = False
[architecture_presets]
ArrayHeight = {rows}
ArrayWidth = {cols}
IfmapSramSzkB = 6144
FilterSramSzkB = 6144
OfmapSramSzkB = 2048
IfmapOffset = 0
FilterOffset = 10000000
OfmapOffset = 20000000
Dataflow = {dataflow}
ReadRequestBuffer = 32
WriteRequestBuffer = 32
[layout]
IfmapCustomLayout = False
IfmapSRAMBankBandwidth = 10
IfmapSRAMBankNum = 10
IfmapSRAMBankPort = 2
FilterCustomLayout = False
FilterSRAMBankBandwidth = 10
FilterSRAMBankNum = 10
FilterSRAMBankPort = 2
[sparsity]
SparsitySupport = {sparse}
SparseRep = ellpack_block
OptimizedMapping = False
BlockSize = 4
RandomNumberGeneratorSeed = 40
"""
"""Architecture file: ideal-sized SRAMs (no memory stalls), layer-wise N:M when on."""

_MAIN = """
import contextlib, io, json
from importlib.metadata import version
import numpy
from scalesim.scale_sim import scalesim
with contextlib.redirect_stdout(io.StringIO()):
    sim = scalesim(save_disk_space=True, verbose=False, config="arch.cfg",
                   topology="gemms.csv", layout="layout.csv", input_type_gemm=True)
    sim.run_scale(top_path="out")
lines = open("out/run/COMPUTE_REPORT.csv").read().strip().splitlines()[1:]
print(json.dumps({"cycles": [int(line.split(",")[2]) for line in lines],
                  "scalesim": version("scalesim"), "numpy": numpy.__version__}))
"""
"""Runs in the child interpreter; the last stdout line is the JSON result."""


def scalesim_python() -> str:
    return os.environ.get(SCALESIM_PYTHON, sys.executable)


def run_scalesim(python: str, rows: int, cols: int, gemms: list[Gemm], work: Path, *,
                 dataflow: str = "ws", nm: str = "1:1") -> dict[str, Any]:
    """SCALE-Sim's compute cycles ("Total Cycles") of each GEMM on a ``rows x cols`` array.

    ``nm`` other than ``"1:1"`` turns on SCALE-Sim's layer-wise N:M sparsity. Returns
    ``{"cycles": [...], "scalesim": version, "numpy": version}``; raises ``RuntimeError`` with
    the child's last lines when SCALE-Sim fails.
    """
    if dataflow not in ("os", "ws", "is"):
        raise ValueError(f"dataflow: must be os, ws or is, got {dataflow!r}")
    work.mkdir(parents=True, exist_ok=True)
    sparse = "true" if nm != "1:1" else "false"
    (work / "arch.cfg").write_text(_CONFIG.format(rows=rows, cols=cols, dataflow=dataflow,
                                                  sparse=sparse))
    # Layer names are SCALE-Sim CSV fields: plain indices avoid commas and spaces in ours.
    (work / "gemms.csv").write_text("Layer, M, N, K, Sparsity,\n" + "".join(
        f"g{i}, {g.m}, {g.n}, {g.k}, {nm},\n" for i, g in enumerate(gemms)))
    (work / "layout.csv").write_text("Layer,\n" + "".join(f"g{i},\n" for i in range(len(gemms))))
    result = subprocess.run([python, "-c", _MAIN], cwd=work, capture_output=True, text=True,
                            check=False, timeout=3600)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise RuntimeError(" | ".join(tail) or f"exit code {result.returncode}")
    return json.loads(result.stdout.strip().splitlines()[-1])
