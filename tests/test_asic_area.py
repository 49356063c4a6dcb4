"""ASIC-style area: the Liberty reader, exact gate-equivalent counts of tiny designs, a user's
library, and latch rejection."""

from __future__ import annotations

import json
import re

import pytest

from accelgen.flows.asic_area import DEFAULT_LIBERTY, asic_area
from accelgen.flows.cli import main
from accelgen.flows.liberty import evaluate_function, nand2_area, read_liberty
from accelgen.flows.toolchain import ToolError

EXPECTED_AREAS = {"INV": 0.67, "BUF": 1.0, "NAND2": 1.0, "NOR2": 1.0, "AOI21": 1.33,
                  "OAI21": 1.33, "XOR2": 2.0, "XNOR2": 2.0, "MUX2": 2.33, "DFF": 5.67,
                  "DFFR": 6.67}


def test_the_library_is_what_its_header_documents():
    cells = read_liberty(DEFAULT_LIBERTY)
    assert {name: cell.area for name, cell in cells.items()} == EXPECTED_AREAS
    assert {name for name, cell in cells.items() if cell.sequential} == {"DFF", "DFFR"}
    assert nand2_area(cells) == 1.0
    header = DEFAULT_LIBERTY.read_text().split("library (")[0]
    for name, area in EXPECTED_AREAS.items():
        assert re.search(rf"\*\s+{name}\s+{area:.2f}\s", header), name


@pytest.mark.parametrize(("function", "values", "result"), [
    ("!(A&B)", {"A": 1, "B": 1}, False),
    ("(A B)'", {"A": 1, "B": 0}, True),
    ("A*B+C", {"A": 0, "B": 1, "C": 1}, True),
    ("!((A1|A2)&B)", {"A1": 0, "A2": 0, "B": 1}, True),
    ("A^B^C", {"A": 1, "B": 1, "C": 1}, True),
    ("(A&!S)|(B&S)", {"A": 0, "B": 1, "S": 1}, True),
    ("!A'", {"A": 0}, False),
])
def test_liberty_functions(function, values, result):
    assert evaluate_function(function, values) is result


def test_unknown_pins_in_a_function_are_errors():
    with pytest.raises(ValueError, match="not an input"):
        evaluate_function("A&Q", {"A": True})


def _scaled_library(tmp_path, scale: float):
    """accelgen's library renamed and with areas in 'square micrometres' (times ``scale``),
    with one function written in another Liberty style."""
    text = DEFAULT_LIBERTY.read_text().split("library (", 1)[1]
    for name, area in EXPECTED_AREAS.items():
        text = text.replace(f"cell ({name})", f"cell (x_{name.lower()}_1)")
        text = text.replace(f"area : {area:.2f};", f"area : {area * scale:.4f};", 1)
    text = text.replace('function : "!(A&B)"', 'function : "(A B)\'"')
    path = tmp_path / "user.lib"
    path.write_text("library (" + text.replace("accelgen_cells", "user_cells", 1))
    return path


def test_user_library_functions_find_the_nand(tmp_path):
    cells = read_liberty(_scaled_library(tmp_path, 1.25))
    assert nand2_area(cells) == pytest.approx(1.25)


NAND = "module nand_gate(input a, input b, output y); assign y = ~(a & b); endmodule\n"
REGISTER = """\
module pipe(input clk, input [3:0] d, output reg [3:0] q);
  always @(posedge clk) q <= d;
endmodule
"""
LATCH = """\
module latchy(input en, input d, output reg q);
  always @* if (en) q = d;
endmodule
"""


@pytest.mark.parametrize(("text", "top", "area", "flip_flops"), [
    (NAND, "nand_gate", 1.0, 0),
    (REGISTER, "pipe", 4 * 5.67, 4),
])
def test_exact_areas_of_tiny_designs(tmp_path, text, top, area, flip_flops):
    source = tmp_path / f"{top}.v"
    source.write_text(text)
    report = asic_area(source, top, tmp_path / "work")
    assert report["area"] == pytest.approx(area)
    assert report["gate_equivalents"] == pytest.approx(area, abs=0.05)
    assert report["flip_flops"] == flip_flops


def test_a_user_library_gives_its_units_and_the_same_gate_equivalents(tmp_path):
    source = tmp_path / "pipe.v"
    source.write_text(REGISTER)
    report = asic_area(source, "pipe", tmp_path / "work",
                       liberty=_scaled_library(tmp_path, 1.25))
    assert report["area"] == pytest.approx(4 * 5.67 * 1.25, rel=1e-3)
    assert report["nand2_area"] == pytest.approx(1.25)
    assert report["gate_equivalents"] == pytest.approx(4 * 5.67, abs=0.05)
    assert set(report["cells"]) == {"x_dff_1"}


def test_latches_are_refused(tmp_path):
    source = tmp_path / "latchy.v"
    source.write_text(LATCH)
    with pytest.raises(ToolError, match="latch"):
        asic_area(source, "latchy", tmp_path / "work")


def test_hierarchical_areas_per_module(tmp_path):
    source = tmp_path / "two.v"
    source.write_text(REGISTER + """\
module top(input clk, input [3:0] d, output [3:0] q);
  wire [3:0] mid;
  pipe first(.clk(clk), .d(d), .q(mid));
  pipe second(.clk(clk), .d(mid), .q(q));
endmodule
""")
    report = asic_area(source, "top", tmp_path / "work", flatten=False)
    assert report["modules"]["pipe"] == pytest.approx(4 * 5.67)
    assert report["modules"]["top"] == pytest.approx(8 * 5.67)
    report = asic_area(source, "top", tmp_path / "bb", flatten=False, blackboxes=["pipe"])
    assert report["area"] == 0


def test_area_command(tmp_path):
    source = tmp_path / "pipe.v"
    source.write_text(REGISTER)
    out = tmp_path / "area.json"
    assert main(["area", str(source), "--top", "pipe", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["gate_equivalents"] == pytest.approx(22.7, abs=0.05)
    assert main(["area", str(source), "--liberty", str(tmp_path / "missing.lib")]) == 2
