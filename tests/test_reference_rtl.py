"""The committed files under rtl/ are exactly what the generators and the reference writer make
today, and the FuseSoC cores there are accepted by fusesoc and lint clean through it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from accelgen.flows.reference import write_reference
from accelgen.flows.toolchain import tool_environment
from accelgen.generators.emit import generate_systolic
from accelgen.generators.reference import REFERENCE_CONFIGS, REFERENCE_SPARSECACHES

RTL = Path(__file__).resolve().parents[1] / "rtl"
REGENERATE = ("regenerate with `python -c 'from accelgen.flows.reference import write_reference; "
              "from pathlib import Path; write_reference(Path(\"rtl\"))'`")


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    write_reference(out)
    return out


def test_reference_files_match_the_writer_byte_for_byte(written: Path) -> None:
    for fresh in sorted(written.iterdir()):
        committed = RTL / fresh.name
        assert committed.is_file(), f"{committed} missing: {REGENERATE}"
        assert committed.read_bytes() == fresh.read_bytes(), \
            f"{committed.name} is stale: {REGENERATE}"


def test_rtl_holds_nothing_but_the_references_and_waivers(written: Path) -> None:
    expected = {p.name for p in written.iterdir()} | {"verilator_waivers.vlt"}
    assert {p.name for p in RTL.iterdir()} == expected


NAMES = [cfg.name for cfg in (*REFERENCE_CONFIGS, *REFERENCE_SPARSECACHES)]


def test_every_reference_has_verilog_json_core_and_sdc() -> None:
    assert len(NAMES) == len(set(NAMES))
    for name in NAMES:
        for suffix in (".v", ".json", ".core", ".sdc"):
            assert (RTL / f"{name}{suffix}").is_file()


def test_generation_is_deterministic_and_free_of_local_paths() -> None:
    cfg = REFERENCE_CONFIGS[0]
    first, second = generate_systolic(cfg), generate_systolic(cfg)
    assert first.verilog == second.verilog and first.json_text == second.json_text
    for text in (first.verilog, first.json_text):
        assert str(Path.home()) not in text and "/work/" not in text and "src =" not in text


def test_a_committed_core_lints_through_fusesoc(tmp_path: Path) -> None:
    """A core under rtl/ is usable as it is: fusesoc finds it and its lint target passes."""
    core = f"accelgen:sparsecache:{REFERENCE_SPARSECACHES[0].name}"  # the quickest to lint
    result = subprocess.run(
        [str(Path(sys.executable).with_name("fusesoc")), "--cores-root", str(RTL), "run",
         "--build-root", str(tmp_path / "build"), "--target", "lint", core],
        cwd=tmp_path, capture_output=True, text=True, env=tool_environment(), timeout=600,
        check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
