"""``accelgen bench sparsecache``: configurations, bad input, and a tiny end-to-end run.

The end-to-end run uses LeNet-5 with a one-epoch training (seed 5, logged in the report),
only its first two layers and a small sampling budget, so it takes seconds of simulation;
it checks that the report has every section the issue asks for and the plots exist.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from accelgen.flows.bench_sparsecache import (
    CacheSetup,
    check_request,
    configurations,
    null_entries,
    run_sparsecache_benchmark,
)
from accelgen.generators.sparsecache.cache_config import SparseCacheConfig
from accelgen.sim.workloads.sampling import Sampling
from accelgen.sim.workloads.trace_format import RECORD_DTYPE, TraceFormatError, TraceWriter

SEED = 5
TRAINING = {"epochs": 1, "finetune_epochs": 0}


def test_null_cache_bytes_follow_the_generators_entry_size() -> None:
    bits = SparseCacheConfig(null_entries=1).null_cache_bits  # value + care + valid
    assert bits == 55
    setup = CacheSetup()
    assert [null_entries(b, setup) for b in (512, 1024, 2048)] == [74, 148, 297]
    assert all(null_entries(b, setup) == 8 * b // bits for b in (512, 1024, 2048))


def test_configurations_cover_the_issue() -> None:
    labels = [c.label for c in configurations(CacheSetup(), (0.01, 0.1))]
    assert labels == ["l1_16k", "l1_16k+null_0.5k", "l1_16k+null_1k", "l1_16k+null_2k",
                      "l1_32k", "l1_16k+null_1k_lru", "l1_16k+null_1k_t0.01",
                      "l1_16k+null_1k_t0.1", "coarse:l1_16k", "coarse:l1_16k+null_1k",
                      "coarse:l1_16k+null_1k_lru"]
    by_label = {c.label: c.params for c in configurations(CacheSetup(), ())}
    assert by_label["l1_16k"].sets == 128 and not by_label["l1_16k"].null_cache_enabled
    assert by_label["l1_32k"].sets == 256
    assert by_label["l1_16k+null_1k_lru"].replacement == "lru"


@pytest.mark.parametrize(("setup", "message"), [
    (CacheSetup(l1_kib=24), "l1_kib: 24 KiB .* 192 sets, not a power of two"),
    (CacheSetup(l1_kib=1, ways=3), "l1_kib: 1 KiB does not divide into 3 ways"),
    (CacheSetup(big_l1_kib=0), "big_l1_kib: must be a whole number"),
    (CacheSetup(null_bytes=(4,), main_null_bytes=4), "null_bytes: 4 bytes hold no 55-bit"),
    (CacheSetup(main_null_bytes=4096), "main_null_bytes: 4096 must be one of"),
])
def test_cache_sizes_that_do_not_fit_are_named(setup: CacheSetup, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        configurations(setup, ())


def test_bad_requests_are_named() -> None:
    with pytest.raises(ValueError, match="unknown network 'resnet50'"):
        check_request(["lenet5", "resnet50"])
    with pytest.raises(ValueError, match="networks: give at least one"):
        check_request([])
    with pytest.raises(ValueError, match="jobs"):
        check_request(["lenet5"], jobs=0)
    with pytest.raises(ValueError, match="thresholds"):
        check_request(["lenet5"], thresholds=(-1,))


def test_a_malformed_trace_is_rejected_before_anything_is_written(tmp_path: Path) -> None:
    bad = tmp_path / "bad.trc"
    bad.write_bytes(b"ACGTRACE" + bytes(10))
    out = tmp_path / "out"
    with pytest.raises(TraceFormatError, match="shorter than the 64-byte header"):
        run_sparsecache_benchmark(out, ["lenet5"], traces={"lenet5": bad})
    assert not out.exists()
    other = tmp_path / "other.trc"
    with TraceWriter(other) as writer:
        writer.write_records(np.zeros(0, dtype=RECORD_DTYPE))
        writer.close({}, {"format": "x", "word_format": "fp32", "word_bytes": 4, "ops": [],
                          "network": "alexnet"})
    with pytest.raises(ValueError, match="is a trace of 'alexnet', not 'lenet5'"):
        run_sparsecache_benchmark(out, ["lenet5"], traces={"lenet5": other})
    with pytest.raises(ValueError, match="unknown network"):
        run_sparsecache_benchmark(out, ["mobilenet"])
    assert not out.exists()


@pytest.mark.slow
def test_tiny_benchmark_writes_every_section(tmp_path: Path) -> None:
    sampling = Sampling(budget=20_000, sample_accesses=2000, min_samples=2,
                        warming_accesses=20_000, recent_accesses=20_000, recent_lines=512,
                        layers=("conv1", "pool1"))
    path = run_sparsecache_benchmark(tmp_path, ["lenet5"], thresholds=(0.05,),
                                     sampling=sampling, seed=SEED, jobs=2, coarse=True,
                                     sampling_check=False, lenet_training=TRAINING)
    report = json.loads(path.read_text())
    assert report["seed"] == SEED
    lenet = report["networks"]["lenet5"]
    assert set(lenet["configs"]) == {c for c in report["configurations"]}
    for size in ("0.5k", "1k", "2k"):
        assert set(lenet["null_cache"][size]) == {"miss_reduction_percent",
                                                  "time_reduction_percent"}
    assert set(lenet["replacement"]) == {"coverage_lru", "lru"}
    approximation = lenet["approximation"][0]
    assert approximation["threshold"] == 0.05
    assert 0 <= approximation["lenet_accuracy"] <= 1
    assert "conv1" in approximation["layer_relative_error"]
    assert lenet["merge_histogram"]
    assert "coarse" in lenet
    base = lenet["configs"]["l1_16k"]
    assert base["null_hits"] == 0 and 0 < base["miss_rate"] < 1
    assert report["paper_comparison"][0]["network"] == "lenet5"
    assert report["sampling_check"] is None
    for name in report["plots"].values():
        assert (tmp_path / name).stat().st_size > 1000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # work dir removed
