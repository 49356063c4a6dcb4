"""FuSe-capable arrays on Verilator: 1-D convolutions, whole FuSe blocks and mode switches,
bit-exact against numpy and edge-exact against the cycle model.

One simulator process per configuration runs all of its cases; builds are cached by content.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accelgen.flows.simulate import build_simulator, run_cocotb
from accelgen.generators.emit import generate_systolic, write_design
from accelgen.generators.systolic import SystolicConfig
from accelgen.tb.fuse_cases import FuseCase, default_fuse_cases

TEST_MODULE = "accelgen.tb.fuse_tests"

CONFIGS = {
    "4x4_half_even": SystolicConfig(rows=4, cols=4, max_k=256, fuse=True, max_kernel=5,
                                    requantize="half_even"),
    "4x8_half_up": SystolicConfig(rows=4, cols=8, max_k=256, fuse=True, max_kernel=7,
                                  requantize="half_up"),
    "8x8_half_even": SystolicConfig(rows=8, cols=8, max_k=256, fuse=True, max_kernel=7,
                                    requantize="half_even"),
    # Narrow rows, mixed operand widths, kernels longer than the row.
    "2x3_wide_weights": SystolicConfig(rows=2, cols=3, input_width=6, weight_width=9,
                                       max_k=64, fuse=True, max_kernel=5,
                                       requantize="half_up"),
}


def simulate(cfg: SystolicConfig, cases: list[FuseCase], out: Path):
    design = generate_systolic(cfg)
    v_path, j_path = write_design(design, out)
    build = build_simulator(v_path, design.name)
    env = {"ACCELGEN_DESIGN": str(j_path),
           "ACCELGEN_FUSE_CASES": json.dumps([c.to_dict() for c in cases])}
    return run_cocotb(build, design.name, TEST_MODULE, env=env, test_dir=out / "run")


@pytest.mark.cocotb
@pytest.mark.parametrize("label", list(CONFIGS))
def test_fuse_regression(label, tmp_path):
    cfg = CONFIGS[label]
    cases = default_fuse_cases(cfg.rows, cfg.cols, cfg.max_kernel)
    result = simulate(cfg, cases, tmp_path)
    assert result.passed, f"failed cases: {result.failed_tests}; log: {tmp_path / 'run'}"
    assert len(result.passed_tests) == len(cases)
