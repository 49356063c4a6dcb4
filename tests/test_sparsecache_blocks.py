"""SparseCache leaf blocks: the zero detector's golden model, the configs, and both blocks' RTL.

The golden model is checked against numpy's float semantics on every fp16 and int16 word; the
RTL is checked bit-exactly against the golden models on Verilator under cocotb (one build per
configuration, all cases in one simulator run), linted, and synthesized with Yosys.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from amaranth.hdl import Fragment

from accelgen.flows.lint import lint
from accelgen.flows.simulate import SimResult, build_simulator, run_cocotb
from accelgen.flows.synth import synthesize
from accelgen.generators.emit import GeneratedDesign, write_design
from accelgen.generators.sparsecache.config import (
    ConfigError,
    TcamConfig,
    WordFormat,
    ZeroDetectorConfig,
)
from accelgen.generators.sparsecache.tcam import (
    InvalidatePort,
    LookupPort,
    Tcam,
    WritePort,
    generate_tcam,
)
from accelgen.generators.sparsecache.zero_detector import ZeroDetector, generate_zero_detector
from accelgen.sim.sparsecache.zero_detector import (
    WORD_FORMATS,
    detect,
    threshold_bits,
    word_bits,
)

FLOAT_TYPES = {"fp16": np.float16, "fp32": np.float32}
INT_TYPES = {"int8": np.int8, "int16": np.int16, "int32": np.int32}


# --- zero detector golden model ----------------------------------------------------------------


def reference_flags(words: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Per word (is zero, is near zero) from numpy values: the definition, not the bit trick."""
    if words.dtype.kind == "f":
        with np.errstate(invalid="ignore"):  # signalling NaNs stay NaN
            values = words.astype(np.float64)
        return values == 0, np.isfinite(values) & (np.abs(values) <= threshold)
    values = words.astype(np.int64)
    return values == 0, np.abs(values) <= threshold


def one_word_flags(fmt: str, patterns: np.ndarray, threshold: float) -> list[tuple[bool, bool]]:
    size = word_bits(fmt) // 8
    return [detect(int(p).to_bytes(size, "little"), fmt, threshold) for p in patterns]


def test_word_formats() -> None:
    assert WORD_FORMATS == ("int8", "int16", "int32", "fp16", "fp32")
    assert [word_bits(f) for f in WORD_FORMATS] == [8, 16, 32, 16, 32]
    assert tuple(f.value for f in WordFormat) == WORD_FORMATS
    assert [WordFormat(f).bits for f in WORD_FORMATS] == [8, 16, 32, 16, 32]
    with pytest.raises(ValueError, match="fmt: must be one of int8, int16"):
        word_bits("bf16")


@pytest.mark.parametrize("threshold", [0, 6e-8, 1e-9, 0.01, 1.0, 2.5, 65504])
def test_every_fp16_word_matches_the_float_definition(threshold: float) -> None:
    patterns = np.arange(1 << 16, dtype=np.uint32)
    words = patterns.astype(np.uint16).view(np.float16)
    zero, near = reference_flags(words, threshold)
    got = one_word_flags("fp16", patterns, threshold)
    assert [g[0] for g in got] == zero.tolist()
    assert [g[1] for g in got] == near.tolist()


@pytest.mark.parametrize(("fmt", "threshold"), [("int8", 0), ("int8", 5), ("int8", 127),
                                                ("int16", 0), ("int16", 300)])
def test_every_small_integer_word_matches_the_definition(fmt: str, threshold: int) -> None:
    bits = word_bits(fmt)
    patterns = np.arange(1 << bits, dtype=np.uint32)
    words = patterns.astype(f"u{bits // 8}").view(INT_TYPES[fmt])
    zero, near = reference_flags(words, threshold)
    got = one_word_flags(fmt, patterns, threshold)
    assert [g[0] for g in got] == zero.tolist()
    assert [g[1] for g in got] == near.tolist()


@pytest.mark.parametrize("threshold", [0, 1e-40, 1e-3, 0.1, 1.5, 3.0e38])
def test_fp32_words_match_the_float_definition(threshold: float) -> None:
    rng = np.random.default_rng(7)
    specials = [0, 1, 0x7FFFFF, 0x800000, 0x7F7FFFFF, 0x7F800000, 0x7FC00000, 0x7F800001]
    near_threshold = np.float32(threshold).view(np.uint32) + np.arange(-3, 4, dtype=np.int64)
    patterns = np.concatenate([
        rng.integers(0, 1 << 32, 20000, dtype=np.uint64),
        np.array(specials, dtype=np.uint64),
        np.clip(near_threshold, 0, None).astype(np.uint64),
    ])
    patterns = np.concatenate([patterns, patterns | (1 << 31)]).astype(np.uint32)
    zero, near = reference_flags(patterns.view(np.float32), threshold)
    got = one_word_flags("fp32", patterns, threshold)
    assert [g[0] for g in got] == zero.tolist()
    assert [g[1] for g in got] == near.tolist()


@pytest.mark.parametrize(("fmt", "threshold"), [("int32", 0), ("int32", 70000),
                                                ("int16", 1), ("fp16", 0.5), ("fp32", 2.0)])
def test_a_line_is_near_zero_when_every_word_is(fmt: str, threshold: float) -> None:
    rng = np.random.default_rng(11)
    dtype = FLOAT_TYPES.get(fmt) or INT_TYPES[fmt]
    size = word_bits(fmt) // 8
    for _ in range(300):
        count = int(rng.integers(1, 17))
        if fmt in FLOAT_TYPES:
            words = rng.normal(0, threshold or 1e-3, count).astype(dtype)
        else:
            words = rng.integers(-2 * threshold - 2, 2 * threshold + 3, count).astype(dtype)
        words[rng.random(count) < 0.3] = 0
        line = words.astype(words.dtype.newbyteorder("<")).tobytes()
        assert len(line) == count * size
        zero, near = reference_flags(words, threshold)
        assert detect(line, fmt, threshold) == (bool(zero.all()), bool(near.all()))


def test_words_are_little_endian() -> None:
    assert detect(b"\x00\x01", "int16", 255) == (False, False)  # 256
    assert detect(b"\x00\x01", "int16", 256) == (False, True)
    assert detect(b"\x00\x80", "fp16") == (True, True)  # -0.0
    assert detect(b"\x80\x00", "fp16") == (False, False)  # a denormal
    assert detect(b"\x00\x00\x80\xbf", "fp32", 1.0) == (False, True)  # -1.0
    assert detect(b"\x80", "int8", 127) == (False, False)  # |-128| = 128


def test_threshold_bits_round_down_to_the_format() -> None:
    assert threshold_bits("fp16", 1.0) == 0x3C00
    assert threshold_bits("fp16", 0.01) == 0x211E  # fp16(0.01) rounds up to 0x211F
    assert threshold_bits("fp16", 1e-9) == 0
    assert threshold_bits("fp16", 65504) == 0x7BFF
    assert threshold_bits("fp32", 0.1) == 0x3DCCCCCC  # fp32(0.1) is 0x3DCCCCCD > 0.1
    assert threshold_bits("fp32", np.float32(0.1)) == 0x3DCCCCCD
    assert threshold_bits("fp16", np.float32(0.01)) == 0x211E
    assert threshold_bits("int16", 300) == 300


@pytest.mark.parametrize(
    ("fmt", "threshold", "error", "match"),
    [
        ("fp16", -0.5, ValueError, "threshold: must be finite, >= 0"),
        ("fp16", math.nan, ValueError, "threshold: must be finite"),
        ("fp32", math.inf, ValueError, "threshold: must be finite"),
        ("fp16", 65505.0, ValueError, r"<= 65504"),
        ("fp16", "1", TypeError, "threshold: must be a real number"),
        ("int8", 128, ValueError, "threshold: must be between 0 and 127"),
        ("int8", -1, ValueError, "threshold: must be between 0 and 127"),
        ("int16", 1.0, TypeError, "threshold: must be an integer"),
        ("int32", True, TypeError, "threshold: must be an integer"),
    ],
)
def test_bad_thresholds_are_refused(fmt: str, threshold: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        threshold_bits(fmt, threshold)
    with pytest.raises(error, match=match):
        detect(bytes(4), fmt, threshold)


@pytest.mark.parametrize(("line", "fmt"), [(b"", "int8"), (b"\x00" * 3, "int16"),
                                           (b"\x00" * 6, "fp32")])
def test_partial_lines_are_refused(line: bytes, fmt: str) -> None:
    with pytest.raises(ValueError, match="line: must hold a whole, non-zero number"):
        detect(line, fmt)


# --- configs -----------------------------------------------------------------------------------


def test_tcam_config() -> None:
    assert [TcamConfig(n, 6).index_width for n in (1, 2, 3, 4, 5, 16, 17)] == [1, 1, 2, 2, 3,
                                                                              4, 5]
    assert TcamConfig(16, 26).name == "sparsecache_tcam_16x26"
    for kwargs, match in [({"entries": 0, "key_width": 6}, "entries: must be an integer"),
                          ({"entries": 4, "key_width": 65}, "key_width: must be an integer"),
                          ({"entries": 4.0, "key_width": 6}, "entries:"),
                          ({"entries": 4, "key_width": True}, "key_width:")]:
        with pytest.raises(ConfigError, match=match):
            TcamConfig(**kwargs)


def test_zero_detector_config() -> None:
    cfg = ZeroDetectorConfig(64, "fp16", 0.01)
    assert cfg.word_format is WordFormat.FP16 and cfg.words == 32
    assert cfg.threshold_bits == 0x211E
    assert cfg.name == "sparsecache_zero_detector_64byte_fp16_t211e"
    assert ZeroDetectorConfig(2, "int16", np.int16(7)).to_dict()["threshold"] == 7
    bad = [({"line_bytes": 6, "word_format": "fp32"}, "line_bytes: must be a multiple of the 4"),
           ({"line_bytes": 0}, "line_bytes: must be an integer between 1"),
           ({"line_bytes": 8, "word_format": "bf16"}, "word_format: must be one of"),
           ({"line_bytes": 8, "word_format": "int8", "threshold": 128}, "threshold:"),
           ({"line_bytes": 8, "word_format": "int8", "threshold": 1.0}, "threshold:"),
           ({"line_bytes": 8, "word_format": "fp16", "threshold": -1.0}, "threshold:"),
           ({"line_bytes": 8, "word_format": "fp16", "threshold": 70000.0}, "threshold:"),
           ({"line_bytes": 8, "word_format": "fp32", "threshold": math.nan}, "threshold:")]
    for kwargs, match in bad:
        with pytest.raises(ConfigError, match=match):
            ZeroDetectorConfig(**kwargs)


def _threshold_samples(fmt: str) -> list[float | int]:
    """Exact values, midpoints (ties), values just off them, integers, and log-uniform draws."""
    rng = random.Random(3)
    dtype = FLOAT_TYPES[fmt]
    largest = float(np.finfo(dtype).max)
    samples: list[float | int] = [0, 0.0, 1, 2, largest, int(largest), 1e-45, 5e-324]
    for _ in range(400):
        value = 10 ** rng.uniform(-46 if fmt == "fp32" else -9, math.log10(largest))
        exact = float(dtype(value))
        above = float(np.nextafter(dtype(exact), dtype(np.inf)))
        middle = (exact + above) / 2
        samples += [value, exact, middle, math.nextafter(middle, 0), math.nextafter(middle, 1e40)]
    return [s for s in samples if 0 <= s <= largest]


@pytest.mark.parametrize("fmt", ["fp16", "fp32"])
def test_generator_and_model_thresholds_agree(fmt: str) -> None:
    samples = _threshold_samples(fmt)
    for threshold in samples:
        assert ZeroDetectorConfig(8, fmt, threshold).threshold_bits == threshold_bits(
            fmt, threshold), threshold
    for fmt_int in ("int8", "int16", "int32"):
        for threshold in (0, 1, 100, 127):
            assert ZeroDetectorConfig(4, fmt_int, threshold).threshold_bits == threshold_bits(
                fmt_int, threshold)


# --- RTL structure, lint and synthesis ---------------------------------------------------------


def test_tcam_interface() -> None:
    tcam = Tcam(TcamConfig(5, 26))
    sig = tcam.signature.members
    assert sig["lookup"].signature == LookupPort.Signature(entries=5, key_width=26)
    assert sig["lookup"].signature != LookupPort.Signature(entries=4, key_width=26)
    assert sig["write"].signature != LookupPort.Signature(entries=5, key_width=26)
    assert repr(sig["write"].signature) == "WritePort.Signature(entries=5, key_width=26)"
    assert isinstance(tcam.lookup, LookupPort) and isinstance(tcam.invalidate, InvalidatePort)
    assert isinstance(tcam.write, WritePort)
    assert tcam.lookup.index.shape().width == 3 and tcam.lookup.matches.shape().width == 5
    assert tcam.entries.shape().size == 5 * 53
    with pytest.raises(ConfigError, match="entries"):
        LookupPort.Signature(entries=0, key_width=4)
    with pytest.raises(TypeError, match="TcamConfig"):
        Tcam((4, 6))
    Fragment.get(tcam, None)  # elaborates


def test_designs_are_deterministic_and_described() -> None:
    first, second = generate_tcam(TcamConfig(4, 6)), generate_tcam(TcamConfig(4, 6))
    assert first.verilog == second.verilog and first.json_text == second.json_text
    ports = {p["name"]: (p["direction"], p["width"]) for p in first.description["ports"]}
    assert ports["lookup__index"] == ("output", 2) and ports["entries"] == ("output", 4 * 13)
    assert ports["write__care"] == ("input", 6) and "clk" in ports
    assert first.description["same_index_write_invalidate"] == "write"
    zda = generate_zero_detector(ZeroDetectorConfig(16, "fp32", 1.5))
    assert zda.verilog == generate_zero_detector(ZeroDetectorConfig(16, "fp32", 1.5)).verilog
    names = {p["name"] for p in zda.description["ports"]}
    assert names == {"line", "all_zero", "near_zero"}
    assert zda.description["line_layout"]["element"]["fields"][0]["name"] == "fraction"
    detector = ZeroDetector(ZeroDetectorConfig(16, "int8"))
    assert detector.line.shape().length == 16
    Fragment.get(detector, None)  # elaborates


def _lint_and_synthesize(design: GeneratedDesign, tmp_path: Path) -> dict:
    v_path, _ = write_design(design, tmp_path)
    report = lint(v_path, top=design.name)
    assert report.clean, report.log
    return synthesize(v_path, design.name, "generic", tmp_path / "synth")


def test_tcam_lints_clean_and_synthesizes(tmp_path: Path) -> None:
    cfg = TcamConfig(5, 26)  # not a power of two: exercises the padded priority tree
    report = _lint_and_synthesize(generate_tcam(cfg), tmp_path)
    assert report["flip_flops"] == cfg.entries * (2 * cfg.key_width + 1)


def test_zero_detector_lints_clean_and_synthesizes(tmp_path: Path) -> None:
    report = _lint_and_synthesize(generate_zero_detector(ZeroDetectorConfig(64, "fp16", 0.01)),
                                  tmp_path)
    assert report["flip_flops"] == 0 and report["cells_total"] > 0


# --- RTL on Verilator --------------------------------------------------------------------------

TCAM_MODULE = "accelgen.tb.sparsecache_tcam_tests"
ZDA_MODULE = "accelgen.tb.sparsecache_zero_detector_tests"
TCAM_KINDS = ("random", "fill", "all_x", "tie")

TCAM_CONFIGS = {
    "4x6": TcamConfig(4, 6),
    "16x26": TcamConfig(16, 26),
    "16x6": TcamConfig(16, 6),
    "5x26": TcamConfig(5, 26),
}

ZDA_CONFIGS = {
    "int8_64byte_t0": ZeroDetectorConfig(64, "int8"),
    "int8_16byte_t5": ZeroDetectorConfig(16, "int8", 5),
    "int8_1byte_t100_one_word": ZeroDetectorConfig(1, "int8", 100),
    "int16_32byte_t0": ZeroDetectorConfig(32, "int16"),
    "int16_16byte_t1000": ZeroDetectorConfig(16, "int16", 1000),
    "int32_64byte_t0": ZeroDetectorConfig(64, "int32"),
    "int32_16byte_t100000": ZeroDetectorConfig(16, "int32", 100000),
    "fp16_64byte_t0": ZeroDetectorConfig(64, "fp16"),
    "fp16_16byte_t0.01": ZeroDetectorConfig(16, "fp16", 0.01),
    "fp16_2byte_t0.5_one_word": ZeroDetectorConfig(2, "fp16", 0.5),
    "fp32_64byte_t0": ZeroDetectorConfig(64, "fp32"),
    "fp32_16byte_t0.001": ZeroDetectorConfig(16, "fp32", 1e-3),
    "fp32_8byte_t1.5": ZeroDetectorConfig(8, "fp32", 1.5),
}
ZDA_TESTS = ["zero_lines", "one_nonzero_word", "special_values", "threshold_edges",
             "random_lines"]


def _simulate(design: GeneratedDesign, module: str, out: Path, env: dict[str, str],
              edit: Callable[[dict], None] | None = None) -> SimResult:
    v_path, j_path = write_design(design, out)
    if edit is not None:
        description = json.loads(j_path.read_text())
        edit(description)
        j_path.write_text(json.dumps(description))
    build = build_simulator(v_path, design.name)
    return run_cocotb(build, design.name, module, env={"ACCELGEN_DESIGN": str(j_path), **env},
                      test_dir=out / "run")


def _tcam_cases(seed: int, steps: int = 1500) -> list[dict]:
    return [{"name": kind, "kind": kind, "seed": seed + i, "steps": steps}
            for i, kind in enumerate(TCAM_KINDS)]


@pytest.mark.cocotb
@pytest.mark.parametrize("label", list(TCAM_CONFIGS))
def test_tcam_rtl_matches_model(label: str, tmp_path: Path) -> None:
    cases = _tcam_cases(seed=100 * list(TCAM_CONFIGS).index(label))
    result = _simulate(generate_tcam(TCAM_CONFIGS[label]), TCAM_MODULE, tmp_path,
                       {"ACCELGEN_CASES": json.dumps(cases)})
    assert result.passed, f"{result.failed_tests} {result.error}; log: {result.log}"
    assert len(result.passed_tests) == len(cases)


@pytest.mark.cocotb
@pytest.mark.parametrize("label", list(ZDA_CONFIGS))
def test_zero_detector_rtl_matches_model(label: str, tmp_path: Path) -> None:
    result = _simulate(generate_zero_detector(ZDA_CONFIGS[label]), ZDA_MODULE, tmp_path,
                       {"ACCELGEN_SEED": str(1 + list(ZDA_CONFIGS).index(label))})
    assert result.passed, f"{result.failed_tests} {result.error}; log: {result.log}"
    expected = ZDA_TESTS + (["every_word"] if label.endswith("one_word") else [])
    assert sorted(result.passed_tests) == sorted(expected)


@pytest.mark.cocotb
def test_the_tcam_check_catches_a_wrong_tie_rule(tmp_path: Path) -> None:
    """A testbench that believes invalidate beats write on the same entry must fail."""
    cases = [{"name": "tie", "kind": "tie", "seed": 5, "steps": 200}]

    def invalidate_wins(description: dict) -> None:
        description["same_index_write_invalidate"] = "invalidate"

    result = _simulate(generate_tcam(TCAM_CONFIGS["4x6"]), TCAM_MODULE, tmp_path,
                       {"ACCELGEN_CASES": json.dumps(cases)}, edit=invalidate_wins)
    assert not result.passed and result.tests_run == 1
    assert result.failed_tests == ["tcam_matches_model/case=tie"]


@pytest.mark.cocotb
def test_the_zero_detector_check_catches_a_wrong_threshold(tmp_path: Path) -> None:
    """Told threshold 4 for a threshold-5 design, the edge test must fail (and only it)."""

    def lower_threshold(description: dict) -> None:
        description["parameters"]["threshold"] = 4

    result = _simulate(generate_zero_detector(ZDA_CONFIGS["int8_16byte_t5"]), ZDA_MODULE,
                       tmp_path, {"ACCELGEN_SEED": "2"}, edit=lower_threshold)
    assert not result.passed and result.tests_run == len(ZDA_TESTS)
    assert "threshold_edges" in result.failed_tests
