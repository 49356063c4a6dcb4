"""``accelgen generate/regress sparsecache`` and ``bench sparsecache-area``: outputs, the
null-cache sizing in the JSON, one line and exit 2 for bad input, and a small regression."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from accelgen.flows.cli import main
from accelgen.flows.cli_sparsecache import regression_cases

# 10-bit byte addresses of 8-byte lines: 7-bit line addresses, 15 bits per null-cache entry.
TINY = ["--address-bits", "10", "--sets", "2", "--ways", "2", "--line-bytes", "8",
        "--word-format", "int16"]


def test_generate_writes_verilog_and_the_null_cache_sizing(tmp_path: Path, capsys) -> None:
    assert main(["generate", "sparsecache", *TINY, "--null-bytes", "8", "-o",
                 str(tmp_path)]) == 0
    (v_file,) = tmp_path.glob("*.v")
    description = json.loads(v_file.with_suffix(".json").read_text())
    assert v_file.stem == description["module"] == "sparsecache_a10_2x2x8_int16_n4_clru_wb"
    assert f"module {v_file.stem}(" in v_file.read_text()
    # 8 bytes = 64 bits hold 4 entries of 7 value + 7 care + 1 valid bits.
    assert description["null_cache"] == {
        "entries": 4, "value_bits": 7, "care_bits": 7, "valid_bits": 1, "bits_per_entry": 15,
        "bytes": 7.5, "entries_for_bytes": "floor(8 * bytes / (2 * key_width + 1))"}
    assert description["requested"] == {"sets": 2, "null_bytes": 8}
    assert "4 null-cache entries of 15 bits (7.5 bytes)" in capsys.readouterr().out


def test_generate_paper_sizes(tmp_path: Path) -> None:
    # 16 KiB, 4 ways, 32-byte lines: 128 sets. With 16-bit addresses a line address has 11
    # bits, so an entry has 23 bits and 64 bytes hold 22 entries.
    assert main(["generate", "sparsecache", "--l1-kib", "16", "--ways", "4", "--line-bytes",
                 "32", "--address-bits", "16", "--null-bytes", "64", "-o", str(tmp_path)]) == 0
    (j_file,) = tmp_path.glob("*.json")
    description = json.loads(j_file.read_text())
    assert description["parameters"]["sets"] == 128
    assert description["parameters"]["null_entries"] == 22 == 8 * 64 // 23
    assert description["requested"] == {"l1_kib": 16.0, "null_bytes": 64}


@pytest.mark.parametrize(("options", "message"), [
    (["--l1-kib", "12"], "--l1-kib: 12 KiB of 4-way sets of 32-byte lines gives 96 sets, "
                         "which is not a power of two"),
    (["--l1-kib", "16.01"], "--l1-kib: 16.01 KiB is not a whole number of 4-way sets"),
    (["--sets", "6"], "--sets: must be a power of two, got 6"),
    (["--line-bytes", "24"], "--line-bytes: must be a power of two, got 24"),
    (["--key-width", "28"], "--key-width: must not be wider than the line address"),
    (["--key-width", "20"], "--key-width: must equal the line address width (27 bits)"),
    (["--null-entries", "0"], "--null-entries: must be an integer between 1 and 1024, got 0"),
    (["--null-bytes", "6"], "--null-bytes: 6 bytes hold no entry of 55 bits"),
    (["--null-bytes", "100000"], "--null-bytes: gives 14545 entries; null_entries must be an "
                                 "integer between 1 and 1024"),
    (["--ways", "0"], "--ways: must be >= 1, got 0"),
    (["--word-format", "int7"], "--word-format: must be one of"),
    (["--replacement", "fifo"], "--replacement: must be one of coverage_lru, lru"),
    (["--address-bits", "80"], "--address-bits: must be an integer from 2 to 64, got 80"),
])
def test_bad_parameters_are_one_line_and_exit_2(tmp_path: Path, capsys, options: list[str],
                                                message: str) -> None:
    out = tmp_path / "out"
    assert main(["generate", "sparsecache", *options, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"accelgen: error: {message}") and err.count("\n") == 1, err
    assert not out.exists()  # nothing written, not even the directory


REGRESS = ["regress", "sparsecache", *TINY]
BENCH = ["bench", "sparsecache-area"]


@pytest.mark.parametrize(("command", "message"), [
    ([*REGRESS, "--kinds", "random,typo"], "--kinds: choose from random, "),
    ([*REGRESS, "--seeds", "0"], "--seeds: must be >= 1, got 0"),
    ([*REGRESS, "--latency", "0"], "--latency: must be >= 1, got 0"),
    ([*REGRESS, "--stall", "1"], "--stall: must be from 0 to below 1, got 1.0"),
    ([*REGRESS, "--null-entries", "0"], "--null-entries: must be an integer between 1 and"),
    ([*BENCH, "--configs", "huge"], "--configs: choose from paper, small, got 'huge'"),
    ([*BENCH, "--targets", "ice40"], "--targets: choose from generic, ecp5, got 'ice40'"),
    ([*BENCH, "--jobs", "0"], "--jobs: must be an integer >= 1, got 0"),
    ([*BENCH, "--timeout", "0"], "--timeout: must be a number of seconds > 0"),
])
def test_regress_and_bench_reject_bad_options(tmp_path: Path, capsys, command: list[str],
                                              message: str) -> None:
    assert main([*command, "-o", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith(f"accelgen: error: {message}")
    assert not (tmp_path / "out").exists()


def test_regression_cases() -> None:
    cases = regression_cases(["random", "strided"], 2, 5, 40, 0.25)
    assert cases == [
        {"kind": "random", "seed": 5, "length": 40}, {"kind": "random", "seed": 6, "length": 40},
        {"kind": "strided", "seed": 5, "length": 40},
        {"kind": "strided", "seed": 6, "length": 40},
        {"kind": "random", "seed": 5, "length": 40, "stall": 0.25},
        {"kind": "strided", "seed": 5, "length": 40, "stall": 0.25}]
    assert len(regression_cases(["random"], 1, 1, 10, 0)) == 1


@pytest.mark.cocotb
def test_regress_runs_a_user_configuration(tmp_path: Path, capsys) -> None:
    # 11-bit addresses: the configuration test_sparsecache_rtl.py simulates, so the cached
    # Verilator build is shared instead of compiled twice; latency, stalls and cases differ.
    options = [*TINY[2:], "--address-bits", "11"]
    assert main(["regress", "sparsecache", *options, "--null-entries", "4", "--kinds",
                 "merge_split,zero_stores", "--seeds", "1", "--length", "60", "--latency", "3",
                 "--stall", "0.3", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("PASS sparsecache_a11_2x2x8_int16_n4_clru_wb: 4/4 cases passed")
    junit = Path(out[0].split("JUnit XML: ")[1]).read_text()
    assert junit.count("<testcase") == 4 and "<failure" not in junit
    log = Path(next(line for line in out if line.startswith("log: "))[5:]).read_text()
    for case in ("merge_split_1", "zero_stores_1", "merge_split_1_stall30",
                 "zero_stores_1_stall30"):
        assert re.search(rf"case {case}: \d+ accesses in \d+ cycles", log), case
