"""Power proxy: VCD toggle counting, net loads from the mapped netlist, and a real GEMM run."""

from __future__ import annotations

import json

import pytest

from accelgen.flows.asic_area import asic_area
from accelgen.flows.cli import main
from accelgen.flows.power import net_loads, power_proxy, switching_report
from accelgen.flows.vcd import VcdActivity, VcdVariable, read_toggles

TOGGLER = """\
module toggler(input clk, input a, input [1:0] b, output reg q, output reg [1:0] r);
  always @(posedge clk) begin
    q <= a;
    r <= b ^ {a, a};
  end
endmodule
"""

# Four rising clock edges; a rises and falls, both bits of b rise once, q never changes.
VCD = """\
$timescale 1ns $end
$scope module TOP $end
 $scope module toggler $end
  $var wire 1 ! clk $end
  $var wire 1 " a $end
  $var wire 2 # b [1:0] $end
  $var wire 1 $ q $end
 $upscope $end
$upscope $end
$enddefinitions $end
$comment 1 0 these words are not values $end
#0
$dumpvars
0!
0"
b00 #
x$
$end
#5
1!
#10
0!
1"
#15
1!
#20
0!
0"
b11 #
0$
#25
1!
#30
0!
#35
1!
"""


def test_vcd_toggles_and_edges(tmp_path):
    path = tmp_path / "t.vcd"
    path.write_text(VCD)
    activity = read_toggles(path)
    assert [v.name for v in activity.variables] == ["clk", "a", "b", "q"]
    assert activity.variables[2].scope == ("TOP", "toggler") and activity.variables[2].width == 2
    assert activity.toggles['"'] == [2] and activity.toggles["#"] == [1, 1]
    assert activity.toggles["$"] == [0]  # x counts as 0, so x -> 0 is no change
    assert activity.rising_edges["!"] == 4
    assert activity.end_time == 35


def test_aliases_share_counts(tmp_path):
    path = tmp_path / "alias.vcd"
    path.write_text("$scope module top $end $var wire 1 ! x $end $scope module sub $end "
                    "$var wire 1 ! y $end $upscope $end $upscope $end $enddefinitions $end "
                    "#0 0! #1 1! #2 0!\n")
    activity = read_toggles(path)
    assert len(activity.variables) == 2 and activity.toggles == {"!": [2]}


def test_not_a_vcd(tmp_path):
    path = tmp_path / "x.vcd"
    path.write_text("hello\n")
    with pytest.raises(ValueError, match="not a VCD"):
        read_toggles(path)


def test_proxy_of_a_tiny_design_is_exact(tmp_path):
    source = tmp_path / "toggler.v"
    source.write_text(TOGGLER)
    asic_area(source, "toggler", tmp_path / "area", netlist=True)
    netlist = json.loads((tmp_path / "area" / "netlist.json").read_text())
    nets, loads = net_loads(netlist, "toggler")
    # a feeds q's flip-flop and both XORs; each bit of b one XOR; q drives nothing inside.
    assert [loads.get(bit, 0) for bit in nets["a"]] == [3]
    assert [loads.get(bit, 0) for bit in nets["b"]] == [1, 1]
    assert [loads.get(bit, 0) for bit in nets["q"]] == [0]
    (tmp_path / "t.vcd").write_text(VCD)
    report = power_proxy(tmp_path / "t.vcd", tmp_path / "area" / "netlist.json", "toggler")
    assert report["cycles"] == 4
    assert report["weighted_toggles_per_cycle"] == (2 * 3 + 1 + 1) / 4
    assert report["toggles_per_cycle"] == 4 / 4
    assert report["by_instance"] == {"(top)": 2.0}


def test_report_errors():
    nets, loads = {"a": [5]}, {5: 2}
    activity = VcdActivity([VcdVariable(("top",), "clk", 1, "!")], {"!": [0]}, {"!": 0})
    with pytest.raises(ValueError, match="never rises"):
        switching_report(activity, nets, loads, top="top")
    with pytest.raises(ValueError, match="no scope named other"):
        switching_report(activity, nets, loads, top="other")
    with pytest.raises(ValueError, match="no 'clock'"):
        switching_report(activity, nets, loads, top="top", clock="clock")


def test_power_command_needs_a_vcd_with_a_file(tmp_path):
    source = tmp_path / "toggler.v"
    source.write_text(TOGGLER)
    assert main(["power", str(source)]) == 2
    assert main(["power", str(source), "--vcd", str(tmp_path / "t.vcd"), "--rows", "2"]) == 2


@pytest.mark.slow
@pytest.mark.cocotb
def test_gemm_workload_from_the_command_line(tmp_path):
    out = tmp_path / "power.json"
    assert main(["power", "--rows", "2", "--cols", "2", "--max-k", "64", "--gemm", "4", "8", "4",
                 "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["workload"] == {"gemm": [4, 8, 4], "seed": 1}
    assert report["cycles"] > 8
    assert report["weighted_toggles_per_cycle"] > report["toggles_per_cycle"] > 0
    assert 0.05 < report["matched_load_fraction"] < 1
    # The PE rows and the result FIFO all switch.
    assert {"row_0", "row_1", "result_fifo"} <= set(report["by_instance"])
