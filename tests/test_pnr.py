"""Place and route: report parsing and device choice, then real nextpnr runs on small designs."""

from __future__ import annotations

import json

import pytest

from accelgen.flows.cli import main
from accelgen.flows.pnr import (
    DEVICES,
    Need,
    _register_name,
    choose_device,
    netlist_need,
    parse_nextpnr_report,
    place_and_route,
)
from accelgen.flows.toolchain import ToolError

# A registered multiply-add: its multiplier is the longest path, entirely inside the core.
CORE = """\
module mac(input clk, input rst, input [7:0] a, input [7:0] b, output reg [17:0] acc,
           output busy);
  always @(posedge clk) acc <= rst ? 18'd0 : acc + a * b;
  assign busy = acc[17];
endmodule
"""


def _step(kind, cell, port, delay, net=None):
    step = {"type": kind, "delay": delay, "from": {"cell": cell, "port": "Q"},
            "to": {"cell": cell, "port": port}}
    if net:
        step["net"] = net
    return step


def _report():
    clock = "posedge $glbnet$clk"
    core_path = [_step("clk-to-q", "core.pe.a_TRELLIS_FF_Q_3", "Q", 0.5),
                 _step("routing", "core.pe.$mul", "A0", 1.5, "core.pe.a[3]"),
                 _step("logic", "core.pe.$mul", "P0", 4.0),
                 _step("routing", "core.pe.acc_TRELLIS_FF_Q_12", "DI", 2.0)]
    harness_path = [_step("clk-to-q", "captured_TRELLIS_FF_Q", "Q", 0.5),
                    _step("routing", "xor_level0_TRELLIS_FF_Q", "DI", 1.0)]
    return {
        "fmax": {"$glbnet$clk": {"achieved": 125.0, "constraint": 100.0}},
        "critical_paths": [
            {"from": clock, "to": clock, "path": core_path},
            {"from": clock, "to": clock, "path": harness_path},
            {"from": "<async>", "to": clock, "path": [_step("routing", "x", "D", 9.0)]},
        ],
        "utilization": {"TRELLIS_FF": {"used": 10, "available": 24288},
                        "DCUA": {"used": 0, "available": 1}},
    }


def test_report_parsing_picks_the_longest_register_path():
    parsed = parse_nextpnr_report(_report())
    assert parsed["fmax_mhz"] == 125.0 and parsed["meets_target"]
    path = parsed["critical_path"]
    assert path["start"] == "core.pe.a[3]" and path["end"] == "core.pe.acc[12]"
    assert path["end_pin"] == "DI"
    assert path["delay_ns"] == 8.0 and path["logic_ns"] == 4.5 and path["routing_ns"] == 3.5
    assert path["in_core"]
    assert parsed["utilization"] == {"TRELLIS_FF": {"used": 10, "available": 24288}}


def test_report_without_a_clock_is_an_error():
    with pytest.raises(ToolError, match="no clock"):
        parse_nextpnr_report({"fmax": {}, "critical_paths": []})


@pytest.mark.parametrize(("cell", "name"), [
    ("core.row_1.pe_1.west__a_TRELLIS_FF_Q_7", "core.row_1.pe_1.west__a[7]"),
    ("core.x_TRELLIS_FF_Q", "core.x"),
    ("core.north__b_SB_DFFSR_Q_7_DFFLC", "core.north__b[7]"),
    ("core.pe_0.drain_SB_DFFESR_Q_D_SB_LUT4_O_LC", "core.pe_0.drain"),
    ("core.pe.$1_MULT18X18D_P9", "core.pe.$1_MULT18X18D_P9"),
])
def test_register_names(cell, name):
    assert _register_name(cell) == name


def test_device_choice_grows_with_the_design():
    small, reason = choose_device("ecp5", Need(logic=500, flip_flops=600, dsp=4, bram=0))
    assert small.name == "LFE5U-25F" and "smallest" in reason
    assert choose_device("ecp5", Need(500, 600, dsp=64, bram=0))[0].name == "LFE5U-45F"
    assert choose_device("ecp5", Need(60000, 600, dsp=0, bram=0))[0].name == "LFE5U-85F"
    assert choose_device("ice40", Need(6000, 1000, 0, 0))[0].name == "iCE40HX8K"
    with pytest.raises(ToolError, match="LFE5U-85F"):
        choose_device("ecp5", Need(500, 600, dsp=256, bram=0))
    assert [d.name for d in DEVICES["ecp5"]] == ["LFE5U-25F", "LFE5U-45F", "LFE5U-85F"]


def test_a_named_device_is_used_when_the_design_fits():
    need = Need(logic=500, flip_flops=600, dsp=4, bram=0)
    device, reason = choose_device("ecp5", need, "LFE5U-85F")
    assert device.name == "LFE5U-85F" and "asked for" in reason
    with pytest.raises(ToolError, match="LFE5U-25F"):
        choose_device("ecp5", Need(500, 600, dsp=64, bram=0), "LFE5U-25F")


def test_netlist_need_counts_packed_luts():
    need = netlist_need("ecp5", {"LUT4": 10, "CCU2C": 3, "TRELLIS_DPR16X4": 1,
                                 "TRELLIS_FF": 7, "MULT18X18D": 2, "DP16KD": 1})
    assert need == Need(logic=10 + 6 + 6, flip_flops=7, dsp=2, bram=1)
    need = netlist_need("ice40", {"SB_LUT4": 10, "SB_DFFE": 4, "SB_DFF": 1, "SB_CARRY": 3})
    assert need == Need(logic=15, flip_flops=5, dsp=0, bram=0)


def test_bad_arguments(tmp_path):
    source = tmp_path / "mac.v"
    source.write_text(CORE)
    with pytest.raises(ValueError, match="target"):
        place_and_route(source, "xc7", tmp_path / "w")
    with pytest.raises(ValueError, match="frequency"):
        place_and_route(source, "ecp5", tmp_path / "w", frequency_mhz=0)
    with pytest.raises(ValueError, match="device: must be one of LFE5U-25F"):
        place_and_route(source, "ecp5", tmp_path / "w", device="LFE5U-12F")
    assert main(["pnr", str(source), "--freq", "-5"]) == 2
    assert main(["pnr", str(source), "--device", "XC7A35T", "-o", str(tmp_path / "r.json")]) == 2


@pytest.mark.slow
def test_ecp5_from_the_command_line(tmp_path):
    source = tmp_path / "mac.v"
    source.write_text(CORE)
    report_path = tmp_path / "report.json"
    assert main(["pnr", str(source), "--target", "ecp5", "-o", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["device"]["name"] == "LFE5U-25F"
    assert report["dsp"] and report["utilization"]["MULT18X18D"]["used"] == 1
    assert report["utilization"]["TRELLIS_IO"]["used"] == 3  # clk, serial_in, serial_out
    assert 20 < report["fmax_mhz"] < 500
    # The multiply-add is the longest path, and it lies in the core, not in the harness.
    assert report["critical_path"]["in_core"]
    # It ends at the accumulator, which Yosys may name after any net its flip-flops drive
    # (acc[17] is also the port `busy`).
    assert report["critical_path"]["end"].startswith(("core.acc", "core.busy"))
    assert report["harness"] == {"module": "mac_harness", "clock": "clk", "pins": 3,
                                 "input_bits": 17, "output_bits": 19, "xor_levels": 3}


@pytest.mark.slow
def test_ice40_without_dsp(tmp_path):
    source = tmp_path / "mac.v"
    source.write_text(CORE)
    report = place_and_route(source, "ice40", tmp_path / "work", frequency_mhz=30)
    assert report["device"]["name"] == "iCE40UP5K"
    assert not report["dsp"] and "ICESTORM_DSP" not in report["utilization"]
    assert report["target_mhz"] == 30 and report["fmax_mhz"] > 5
    assert report["critical_path"]["in_core"]
    assert (tmp_path / "work" / "nextpnr.log").is_file()


def test_a_nextpnr_timeout_is_a_tool_error(tmp_path):
    source = tmp_path / "mac.v"
    source.write_text(CORE)
    with pytest.raises(ToolError, match=r"timed out after 0\.01 s"):
        place_and_route(source, "ecp5", tmp_path / "work", timeout_s=0.01)
    assert (tmp_path / "work" / "netlist.json").is_file()  # synthesis went through
