"""Fast checks of the SparseCache area report: entry sizing, request checks, and one complete
run on a tiny configuration (generic synthesis only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accelgen.flows.bench_sparsecache_area import (
    BLOCKS,
    CONFIGS,
    MEMORY_CELL,
    check_request,
    null_entries_for_bytes,
    run_sparsecache_area,
    sparsecache_config,
)
from accelgen.generators.sparsecache.cache_config import SparseCacheConfig
from accelgen.generators.sparsecache.top import generate_sparsecache

TINY = SparseCacheConfig(address_bits=10, sets=2, ways=2, line_bytes=8, word_format="int16",
                         null_entries=4)


def test_paper_config_follows_the_design_json() -> None:
    cfg = sparsecache_config(**CONFIGS["paper"])
    assert (cfg.sets, cfg.ways, cfg.line_bytes, cfg.address_bits) == (128, 4, 32, 32)
    derived = generate_sparsecache(TINY).description["derived"]
    per_entry = derived["null_cache_bits_per_entry"]
    assert null_entries_for_bytes(1024, 32, 32) == 8 * 1024 // 55 == 148
    # 7.5 bytes hold the tiny design's 4 entries of 15 bits: 8 bytes give 4, 7 bytes 3.
    assert per_entry == 15 and derived["null_cache_bytes"] == 7.5
    assert null_entries_for_bytes(8, 10, 8) == 4 and null_entries_for_bytes(7, 10, 8) == 3


@pytest.mark.parametrize(("args", "message"), [
    (({}, ["generic"], 1, 1), "configs: give at least one"),
    (({"x": TINY}, ["ice40"], 1, 1), "targets: choose from generic, ecp5, got 'ice40'"),
    (({"x": TINY}, [], 1, 1), "targets: choose from generic, ecp5, got 'none'"),
    (({"x": TINY}, ["generic"], 0, 1), "jobs: must be an integer >= 1, got 0"),
    (({"x": TINY}, ["generic"], 1, 0), "timeout_s: must be a number of seconds > 0, got 0"),
])
def test_check_request_rejects(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_request(*args)


def test_tiny_run_writes_complete_report(tmp_path: Path) -> None:
    # A cache of its own, so the run synthesizes whatever the user's cache holds.
    path = run_sparsecache_area(tmp_path, {"tiny": TINY}, targets=("generic",), jobs=2,
                                cache_dir=tmp_path / "cache")
    assert path == tmp_path / "sparsecache_area.json"
    assert not list(tmp_path.glob(".sparsecache-area-*"))  # work directory removed
    report = json.loads(path.read_text())
    assert report["benchmark"] == "sparsecache_area" and report["targets"] == ["generic"]
    [config] = report["configs"]
    assert config["name"] == "tiny" and config["null_cache_bits_per_entry"] == 15
    blocks = config["blocks"]
    assert list(blocks) == list(BLOCKS)
    for name, block in blocks.items():
        generic = block["area"]["generic"]
        assert generic["measured"] and generic["cells"] > 0, name
        # The same flow with ABC's script replaced (synthesize's abc_script): a run of its own.
        assert block["area"]["generic_no_dch"]["measured"], name
        assert block["area"]["generic_no_dch"]["cells"] > 0, name
        assert "ecp5" not in block["area"]
    # Memories and sub-blocks are black boxes, counted apart from the cells.
    assert blocks["l1_logic"]["area"]["generic"]["black_boxes"] == {MEMORY_CELL: 3}
    assert len(blocks["null_cache_controller"]["area"]["generic"]["black_boxes"]) == 2
    assert len(blocks["cache_controller"]["area"]["generic"]["black_boxes"]) == 4
    assert blocks["tcam"]["area"]["generic"]["flip_flops"] == TINY.null_cache_bits
    assert config["arrays_bits"] == {"l1_data": 2 * 2 * 64, "l1_metadata": 2 * 18,
                                     "tcam_flip_flops": 4 * 15}
    summary = config["summary"]
    cells = summary["generic_cells"]
    parts = ("tcam", "zero_detector", "word_detector", "address_merger",
             "null_cache_controller")
    assert cells["null_cache"] == sum(blocks[p]["area"]["generic"]["cells"] for p in parts)
    assert cells["null_cache_over_l1_logic"] == pytest.approx(
        cells["null_cache"] / blocks["l1_logic"]["area"]["generic"]["cells"])
    assert summary["ecp5_lut"]["null_cache"] is None  # not measured, never zero
    assert summary["storage_bits"]["null_cache_over_l1"] == pytest.approx(60 / (256 + 36))
