"""The generated arrays on Verilator under cocotb: bit-exact results and exact cycle counts.

One test per configuration runs every GEMM case in one simulator process; the Verilator build
is cached by content, so other tests (and xdist workers) of the same configuration reuse it.
Seeds are fixed and every case logs its seed and shape.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from accelgen.flows.simulate import build_simulator, run_cocotb
from accelgen.generators.emit import generate_systolic, write_design
from accelgen.generators.systolic import SystolicConfig
from accelgen.tb.cases import GemmCase, default_cases

TEST_MODULE = "accelgen.tb.systolic_tests"

CONFIGS = {
    "1x1_os": SystolicConfig(rows=1, cols=1, max_k=64),
    "1x1_ws": SystolicConfig(rows=1, cols=1, max_k=64, dataflow="ws"),
    "2x3_os_signed_ms2": SystolicConfig(rows=2, cols=3, max_k=64, multiplier_stages=2),
    "2x3_ws_unsigned": SystolicConfig(rows=2, cols=3, max_k=64, dataflow="ws", signed=False),
    "3x2_os_unsigned": SystolicConfig(rows=3, cols=2, max_k=64, signed=False),
    "3x2_ws_signed_ms2": SystolicConfig(rows=3, cols=2, max_k=64, dataflow="ws",
                                        multiplier_stages=2),
    "4x4_os": SystolicConfig(rows=4, cols=4, max_k=256),
    "4x4_ws": SystolicConfig(rows=4, cols=4, max_k=256, dataflow="ws"),
    "8x8_os": SystolicConfig(rows=8, cols=8, max_k=256),
    "8x8_ws": SystolicConfig(rows=8, cols=8, max_k=256, dataflow="ws"),
    # Narrow operands with a deliberately narrow accumulator: overflow really happens.
    "3x2_os_narrow_wrap": SystolicConfig(rows=3, cols=2, input_width=4, weight_width=3,
                                         acc_width=6, overflow="wrap", max_k=64),
    "2x3_ws_narrow_saturate": SystolicConfig(rows=2, cols=3, input_width=3, weight_width=4,
                                             acc_width=7, overflow="saturate", max_k=64,
                                             dataflow="ws", signed=False),
    "4x4_os_narrow_saturate": SystolicConfig(rows=4, cols=4, input_width=5, weight_width=5,
                                             acc_width=9, overflow="saturate", max_k=64),
    # Wide operands: 32-bit and 64-bit datapaths.
    "2x2_os_wide_wrap": SystolicConfig(rows=2, cols=2, input_width=32, weight_width=32,
                                       acc_width=64, overflow="wrap", max_k=64),
    "2x2_ws_wide_unsigned": SystolicConfig(rows=2, cols=2, input_width=16, weight_width=16,
                                           max_k=64, dataflow="ws", signed=False),
    # A result FIFO smaller than full speed needs: credit stalls the model must predict.
    "4x4_os_small_fifo": SystolicConfig(rows=4, cols=4, max_k=64, result_depth=4),
    "3x3_ws_small_fifo_ms1": SystolicConfig(rows=3, cols=3, max_k=64, dataflow="ws",
                                            result_depth=3, multiplier_stages=1),
    # N:M structured-sparse PEs: every pattern the issue names, on 2x2, 4x4 and 4x8 arrays.
    "2x2_ws_1of2": SystolicConfig(rows=2, cols=2, max_k=256, dataflow="ws", pe="1:2"),
    "4x4_ws_2of4": SystolicConfig(rows=4, cols=4, max_k=256, dataflow="ws", pe="2:4"),
    "4x8_ws_1of4": SystolicConfig(rows=4, cols=8, max_k=256, dataflow="ws", pe="1:4"),
    "2x2_ws_2of8_narrow_saturate_ms2": SystolicConfig(rows=2, cols=2, input_width=5,
                                                      weight_width=4, acc_width=9,
                                                      overflow="saturate", max_k=256,
                                                      dataflow="ws", pe="2:8",
                                                      multiplier_stages=2),
    "4x4_ws_4of8_unsigned": SystolicConfig(rows=4, cols=4, max_k=256, dataflow="ws", pe="4:8",
                                           signed=False),
    # Requantized results (q) next to the accumulators, in GEMM mode of every kind of array.
    "3x4_os_requant_half_even_ms1": SystolicConfig(rows=3, cols=4, max_k=64,
                                                   requantize="half_even",
                                                   multiplier_stages=1),
    "3x2_ws_requant_half_up_unsigned": SystolicConfig(rows=3, cols=2, max_k=64, dataflow="ws",
                                                      signed=False, requantize="half_up"),
    "2x2_ws_2of4_requant_saturate": SystolicConfig(rows=2, cols=2, input_width=5,
                                                   weight_width=4, acc_width=9,
                                                   overflow="saturate", max_k=64,
                                                   dataflow="ws", pe="2:4",
                                                   requantize="half_even"),
    # `_ms1`/`_ms2`: one or two register stages around each PE's multiplier (a cycle more per
    # result each), on both dataflows, an N:M PE, a credit-bound FIFO and requantization.
    # A FuSe-capable array must still be an exact GEMM array.
    "4x4_os_fuse_gemm": SystolicConfig(rows=4, cols=4, max_k=64, fuse=True,
                                       requantize="half_up"),
}


def _cases(cfg: SystolicConfig) -> list[GemmCase]:
    cases = default_cases(cfg.rows, cfg.cols, cfg.max_k, group=cfg.group, seeds=2,
                          base_seed=1000)
    # Larger folded GEMMs with ragged edges in every dimension.
    cases.append(GemmCase("folded_big", 3 * cfg.rows + 2,
                          min(cfg.max_k, 5 * cfg.rows * cfg.group + 3), 3 * cfg.cols + 1,
                          seed=4242))
    return cases


def _simulate(cfg: SystolicConfig, cases: list[GemmCase], out: Path, *, waves: bool = False):
    # ACCELGEN_WAVES=1 re-runs any test with a VCD dump (see README, "Waveforms").
    waves = waves or os.environ.get("ACCELGEN_WAVES") == "1"
    design = generate_systolic(cfg)
    v_path, j_path = write_design(design, out)
    build = build_simulator(v_path, design.name, waves=waves)
    env = {"ACCELGEN_DESIGN": str(j_path),
           "ACCELGEN_CASES": json.dumps([c.to_dict() for c in cases])}
    result = run_cocotb(build, design.name, TEST_MODULE, env=env, waves=waves,
                        test_dir=out / "run")
    if result.waves is not None:
        print(f"waves: {result.waves}")
    return result


@pytest.mark.cocotb
@pytest.mark.parametrize("label", list(CONFIGS))
def test_gemm_regression(label, tmp_path):
    cfg = CONFIGS[label]
    cases = _cases(cfg)
    result = _simulate(cfg, cases, tmp_path)
    assert result.passed, f"failed cases: {result.failed_tests}; log: {tmp_path / 'run'}"
    assert len(result.passed_tests) == len(cases)


def _simulate_with_wrong_description(cfg: SystolicConfig, case: GemmCase, out: Path,
                                     **wrong: object):
    design = generate_systolic(cfg)
    v_path, j_path = write_design(design, out)
    description = json.loads(j_path.read_text())
    description["parameters"].update(wrong)
    j_path.write_text(json.dumps(description))
    build = build_simulator(v_path, design.name)
    env = {"ACCELGEN_DESIGN": str(j_path), "ACCELGEN_CASES": json.dumps([case.to_dict()])}
    return run_cocotb(build, design.name, TEST_MODULE, env=env, test_dir=out / "run")


@pytest.mark.cocotb
def test_the_data_check_catches_wrong_semantics(tmp_path):
    """A testbench that believes the wrap array saturates must fail: the check can fail."""
    cfg = CONFIGS["3x2_os_narrow_wrap"]
    case = GemmCase("extreme", 4, 6, 2, seed=5, operands="extreme")
    result = _simulate_with_wrong_description(cfg, case, tmp_path, overflow="saturate")
    assert not result.passed and result.tests_run == 1


@pytest.mark.cocotb
def test_the_cycle_check_catches_a_wrong_model(tmp_path):
    """The model told the FIFO is deeper than it is predicts no credit stalls; the exact cycle
    comparison must notice the stalls the hardware really takes."""
    cfg = CONFIGS["4x4_os_small_fifo"]
    case = GemmCase("tiles", 16, 4, 16, seed=6)
    result = _simulate_with_wrong_description(cfg, case, tmp_path, result_depth=64)
    assert not result.passed and result.tests_run == 1


@pytest.mark.cocotb
def test_waves_are_dumped_on_request(tmp_path):
    cfg = CONFIGS["1x1_os"]
    result = _simulate(cfg, [GemmCase("tile", 1, 2, 1, seed=3)], tmp_path, waves=True)
    assert result.passed
    assert result.waves is not None and result.waves.stat().st_size > 0
