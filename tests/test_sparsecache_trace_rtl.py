"""A real inference trace through a generated SparseCache on Verilator, against the golden model.

The trace is LeNet-5's (seed 3, a one-epoch training to keep CI short, layers conv1 and ip1
only): conv1 reads a digit with a zero background (zero input lines, merged in the null
cache), ip1 a weight matrix at 8% density (mostly zero lines, which overflow the 8 TCAM
entries and are evicted). The first records of each are run from reset on a small
configuration (4 sets x 2 ways of 32-byte lines, 8 null entries, fp32 words, 22-bit addresses
so that LeNet's layout fits, the paper's 100-cycle memory). Every access must match the golden
model's outcome, response, accept and response cycles and null-cache state, and the total
cycles must be equal. One more run shows that a model with another replacement policy is
caught on the same trace: on the ip1 slice, the one where the two policies part (conv1 never
evicts a null-cache entry, so plain and coverage-aware LRU agree on every access there).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accelgen.flows.simulate import build_simulator, run_cocotb
from accelgen.generators.emit import write_design
from accelgen.generators.sparsecache.cache_config import SparseCacheConfig
from accelgen.generators.sparsecache.top import generate_sparsecache
from accelgen.sim.workloads.sampling import Sampling
from accelgen.sim.workloads.traces import generate_trace

TEST_MODULE = "accelgen.tb.sparsecache_trace_tests"
SEED = 3
CONFIG = SparseCacheConfig(address_bits=22, sets=4, ways=2, line_bytes=32, word_format="fp32",
                           null_entries=8)
LATENCY = 100
SLICES = [{"op": "conv1", "count": 800}, {"op": "ip1", "count": 800}]


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("trace") / "lenet5_conv1_ip1.trc"
    sampling = Sampling.full(layers=("conv1", "ip1"))
    generate_trace(path, "lenet5", seed=SEED, sampling=sampling,
                   lenet_training={"epochs": 1, "finetune_epochs": 0})
    return path


def _simulate(trace: Path, out: Path, slices: list[dict] = SLICES, **env_extra: str):
    design = generate_sparsecache(CONFIG)
    v_path, j_path = write_design(design, out)
    build = build_simulator(v_path, design.name)
    env = {"ACCELGEN_DESIGN": str(j_path), "ACCELGEN_MEMORY_LATENCY": str(LATENCY),
           "ACCELGEN_TRACE": str(trace), "ACCELGEN_TRACE_SLICES": json.dumps(slices),
           **env_extra}
    return run_cocotb(build, design.name, TEST_MODULE, env=env, test_dir=out / "run")


@pytest.mark.cocotb
def test_trace_slices_match_golden_model(trace: Path, tmp_path: Path) -> None:
    result = _simulate(trace, tmp_path)
    assert result.passed, f"failed: {result.failed_tests} {result.error}; log: {result.log}"
    assert len(result.passed_tests) == len(SLICES)


@pytest.mark.cocotb
def test_a_wrong_model_is_caught_on_the_trace(trace: Path, tmp_path: Path) -> None:
    ip1 = [s for s in SLICES if s["op"] == "ip1"]
    result = _simulate(trace, tmp_path, ip1,
                       ACCELGEN_MODEL_OVERRIDES=json.dumps({"replacement": "lru"}))
    assert not result.passed and result.tests_run == 1 and len(result.failed_tests) == 1
