"""The timing harness: three pins, and no logic between its registers and the core's ports."""

from __future__ import annotations

import json

import pytest

from accelgen.flows.lint import AMARANTH_WAIVERS, lint
from accelgen.flows.ports import find_clock, read_ports
from accelgen.flows.toolchain import run_yosys
from accelgen.generators.timing_harness import Port, TimingHarness, harness_verilog

CORE = """\
module core(input clk, input rst, input [5:0] a, input [2:0] b, output [6:0] y,
            output ready);
  reg [6:0] sum;
  always @(posedge clk) sum <= rst ? 7'd0 : {1'b0, a} + {4'b0, b};
  assign y = sum;
  assign ready = a[0] & b[0];  // a combinational input-to-output path
endmodule
"""

PORTS = [Port("clk", "input", 1), Port("rst", "input", 1), Port("a", "input", 6),
         Port("b", "input", 3), Port("y", "output", 7), Port("ready", "output", 1)]


def _inspected(harness: TimingHarness) -> TimingHarness:
    harness._MustUse__silence = True  # only its counts are looked at
    return harness


def test_counts_follow_the_ports():
    harness = _inspected(TimingHarness("core", PORTS))
    assert harness.input_bits == 1 + 6 + 3
    assert harness.output_bits == 8
    assert harness.xor_levels == 2  # 8 -> 2 -> 1 with 4-input XORs
    assert _inspected(TimingHarness("core", PORTS, fan_in=2)).xor_levels == 3


@pytest.mark.parametrize(("ports", "message"), [
    ([Port("y", "output", 1)], "no 1-bit input named 'clk'"),
    ([Port("clk", "input", 2), Port("y", "output", 1)], "no 1-bit input named 'clk'"),
    ([Port("clk", "input", 1), Port("a", "input", 1)], "no output"),
])
def test_bad_port_lists_are_refused(ports, message):
    with pytest.raises(ValueError, match=message):
        TimingHarness("core", ports)


def test_port_rules():
    with pytest.raises(ValueError, match="direction"):
        Port("x", "inout", 1)
    with pytest.raises(ValueError, match="width"):
        Port("x", "input", 0)


def test_harness_and_core_lint_clean(tmp_path):
    # Two modules in one file: only the file-name rule is switched off.
    text = ("/* verilator lint_off DECLFILENAME */\n" + CORE
            + harness_verilog(TimingHarness("core", PORTS), "core_harness"))
    source = tmp_path / "core.v"
    source.write_text(text)
    # The harness is Amaranth output, so the Amaranth waivers apply; a port of the wrong width
    # at the instance would still be a WIDTH or PIN warning.
    report = lint(source, top="core_harness", waivers=AMARANTH_WAIVERS)
    assert report.clean, report.log


def _driver_and_loads(netlist: dict, top: str) -> tuple[dict, dict]:
    cells = netlist["modules"][top]["cells"]
    drivers, loads = {}, {}
    for name, cell in cells.items():
        for port, bits in cell["connections"].items():
            direction = cell["port_directions"][port]
            for bit in bits:
                if direction == "output":
                    drivers[bit] = (name, cell["type"], port)
                else:
                    loads.setdefault(bit, []).append((name, cell["type"], port))
    return drivers, loads


def test_core_ports_meet_registers_directly(tmp_path):
    """Every core input bit comes straight from a flip-flop and every core output bit goes
    straight into one; each XOR level is one LUT between flip-flops (ECP5 mapping)."""
    (tmp_path / "core.v").write_text(CORE)
    (tmp_path / "harness.v").write_text(
        harness_verilog(TimingHarness("core", PORTS), "core_harness"))
    (tmp_path / "h.ys").write_text(
        'read_verilog -lib core.v\nread_verilog harness.v\nhierarchy -top core_harness\n'
        "synth_ecp5 -top core_harness\nwrite_json netlist.json\n")
    run_yosys(["-s", "h.ys"], cwd=tmp_path, log=tmp_path / "yosys.log")
    netlist = json.loads((tmp_path / "netlist.json").read_text())
    drivers, loads = _driver_and_loads(netlist, "core_harness")
    core = next(c for c in netlist["modules"]["core_harness"]["cells"].values()
                if c["type"] == "core")
    for port, bits in core["connections"].items():
        for bit in bits:
            if port == "clk":
                continue
            if core["port_directions"][port] == "input":
                assert drivers[bit][1] == "TRELLIS_FF", (port, drivers[bit])
            else:
                assert [load[1] for load in loads[bit]] == ["TRELLIS_FF"], (port, loads[bit])
    cells = netlist["modules"]["core_harness"]["cells"]
    for cell in cells.values():
        if cell["type"] == "LUT4":
            # XOR tree: a LUT4's inputs are flip-flop outputs (or constants), its output a
            # flip-flop input.
            for port in ("A", "B", "C", "D"):
                for bit in cell["connections"][port]:
                    assert not isinstance(bit, int) or drivers[bit][1] == "TRELLIS_FF"
            (out,) = cell["connections"]["Z"]
            assert {load[1] for load in loads[out]} == {"TRELLIS_FF"}


def test_read_ports_and_clock(tmp_path):
    source = tmp_path / "core.v"
    source.write_text(CORE)
    ports = read_ports(source, tmp_path / "work")
    assert ports.top == "core"
    assert {(p.name, p.direction, p.width) for p in ports.ports} == \
        {(p.name, p.direction, p.width) for p in PORTS}
    assert find_clock(ports) == "clk"
    with pytest.raises(ValueError, match="no 1-bit input named 'a'"):
        find_clock(ports, "a")
    with pytest.raises(ValueError, match="no module 'other'"):
        read_ports(source, tmp_path / "work", "other")


def test_read_ports_needs_a_top_among_several(tmp_path):
    source = tmp_path / "two.v"
    source.write_text(CORE + "module other(input clk, output q); assign q = clk; endmodule\n")
    with pytest.raises(ValueError, match="2 candidate modules"):
        read_ports(source, tmp_path / "work")
    assert read_ports(source, tmp_path / "work", "other").top == "other"
