"""Generated SparseCaches on Verilator under cocotb, access by access against the golden model.

One simulator run per configuration executes every stress case (random and each adversarial
kind, two seeds each, seeds fixed and logged by the testbench). Each access must match the
model's outcome, response word and accept/response cycles exactly, and the null cache's slots
and recency ranks after it; the soundness invariant is checked on the testbench's memory after
every access. Four more cases add random back-pressure (the core's response ready and the
memory's request ready low 30 % of the time), where only loaded values, soundness and the
L1/null conflict flag are checked. The Verilator build is cached by content. Two tests show the
checks fail when the model is wrong (replacement policy, memory latency)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accelgen.flows.lint import lint
from accelgen.flows.simulate import build_simulator, run_cocotb
from accelgen.generators.emit import write_design
from accelgen.generators.sparsecache.cache_config import SparseCacheConfig
from accelgen.generators.sparsecache.top import generate_sparsecache
from accelgen.sim.sparsecache.stress_traces import CASE_KINDS

TEST_MODULE = "accelgen.tb.sparsecache_tests"

# (config, memory latency): 8-bit line addresses, tiny L1s so that evictions happen.
CONFIGS = {
    "int16_2x2_n4_coverage_wb": (
        SparseCacheConfig(address_bits=11, sets=2, ways=2, line_bytes=8, word_format="int16",
                          null_entries=4), 5),
    "int8_direct_n8_lru_wt": (
        SparseCacheConfig(address_bits=10, sets=2, ways=1, line_bytes=4, word_format="int8",
                          null_entries=8, replacement="lru", write_policy="write_through"), 3),
    "fp16_approx_1x2_n6_coverage_wb": (
        SparseCacheConfig(address_bits=11, sets=1, ways=2, line_bytes=8, word_format="fp16",
                          null_entries=6, threshold=0.01), 1),
    # The paper's 100-cycle memory, 10-bit line addresses, an approximate int32 detector.
    "int32_approx_4x2_n5_lru_wb_latency100": (
        SparseCacheConfig(address_bits=14, sets=4, ways=2, line_bytes=16, word_format="int32",
                          null_entries=5, threshold=3, replacement="lru"), 100),
}
SEEDS = (1, 2)
SHORT = {"int32_approx_4x2_n5_lru_wb_latency100"}  # 100-cycle misses: fewer, shorter cases


def _cases(length: int = 300, seeds: tuple[int, ...] = SEEDS) -> list[dict]:
    exact = [{"kind": kind, "seed": seed, "length": length}
             for kind in CASE_KINDS for seed in seeds]
    # Back-pressure from the core and the memory: values and soundness only.
    stalled = [{"kind": kind, "seed": 3, "length": length, "stall": 0.3}
               for kind in ("random", "merge_split", "busy_merger", "zero_stores")]
    return exact + stalled


def _simulate(label: str, out: Path, cases: list[dict], **env_extra: str):
    cfg, latency = CONFIGS[label]
    design = generate_sparsecache(cfg)
    v_path, j_path = write_design(design, out)
    build = build_simulator(v_path, design.name)
    env = {"ACCELGEN_DESIGN": str(j_path), "ACCELGEN_CASES": json.dumps(cases),
           "ACCELGEN_MEMORY_LATENCY": str(latency), **env_extra}
    return run_cocotb(build, design.name, TEST_MODULE, env=env, test_dir=out / "run")


@pytest.mark.cocotb
@pytest.mark.parametrize("label", list(CONFIGS))
def test_sparsecache_matches_golden_model(label: str, tmp_path: Path) -> None:
    cases = _cases(120, SEEDS[:1]) if label in SHORT else _cases()
    result = _simulate(label, tmp_path, cases)
    assert result.passed, f"failed: {result.failed_tests} {result.error}; log: {result.log}"
    assert len(result.passed_tests) == len(cases)


@pytest.mark.parametrize("label", list(CONFIGS))
def test_generated_verilog_is_lint_clean(label: str, tmp_path: Path) -> None:
    cfg, _ = CONFIGS[label]
    design = generate_sparsecache(cfg)
    v_path, _ = write_design(design, tmp_path)
    report = lint(v_path, top=design.name)
    assert report.clean, "\n".join(report.warnings)


@pytest.mark.cocotb
def test_a_wrong_replacement_policy_is_caught(tmp_path: Path) -> None:
    cases = [{"kind": "merge_split", "seed": 1, "length": 100}]
    result = _simulate("int16_2x2_n4_coverage_wb", tmp_path, cases,
                       ACCELGEN_MODEL_OVERRIDES=json.dumps({"replacement": "lru"}))
    assert not result.passed and result.tests_run == 1


@pytest.mark.cocotb
def test_a_wrong_memory_latency_is_caught(tmp_path: Path) -> None:
    cases = [{"kind": "random", "seed": 1, "length": 50}]
    result = _simulate("int16_2x2_n4_coverage_wb", tmp_path, cases,
                       ACCELGEN_MODEL_OVERRIDES=json.dumps({"memory_latency": 6}))
    assert not result.passed and result.tests_run == 1
