"""The committed Verilog under rtl/ is exactly what the generators make today."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelgen.generators.emit import generate_systolic
from accelgen.generators.reference import REFERENCE_CONFIGS, write_reference

RTL = Path(__file__).resolve().parents[1] / "rtl"


@pytest.mark.parametrize("cfg", REFERENCE_CONFIGS, ids=lambda c: c.name)
def test_reference_files_match_the_generator_byte_for_byte(cfg):
    design = generate_systolic(cfg)
    for suffix, text in ((".v", design.verilog), (".json", design.json_text)):
        committed = RTL / f"{cfg.name}{suffix}"
        assert committed.is_file(), f"{committed} missing: run write_reference(rtl/)"
        assert committed.read_text() == text, (
            f"{committed.name} is stale: regenerate with "
            "`python -c 'from accelgen.generators.reference import write_reference; "
            "from pathlib import Path; write_reference(Path(\"rtl\"))'`")


def test_rtl_holds_nothing_but_the_references_and_waivers(tmp_path):
    expected = {p.name for p in write_reference(tmp_path)} | {"verilator_waivers.vlt"}
    assert {p.name for p in RTL.iterdir()} == expected


def test_generation_is_deterministic_and_free_of_local_paths():
    cfg = REFERENCE_CONFIGS[0]
    first, second = generate_systolic(cfg), generate_systolic(cfg)
    assert first.verilog == second.verilog and first.json_text == second.json_text
    for text in (first.verilog, first.json_text):
        assert str(Path.home()) not in text and "/work/" not in text and "src =" not in text
