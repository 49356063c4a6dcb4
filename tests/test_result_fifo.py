"""The result FIFO asks for LUT RAM when shallow, and Yosys' ECP5 mapping obeys: a wide,
shallow FIFO that Yosys would put in block RAM (about 6 ns clock-to-out without the output
register, which capped a 16x16 array's Fmax) lands in TRELLIS_DPR16X4 instead."""

from __future__ import annotations

from pathlib import Path

import pytest
from amaranth.back import verilog
from amaranth.lib import fifo

from accelgen.flows.synth import synthesize
from accelgen.generators.emit import generate_systolic
from accelgen.generators.systolic.config import SystolicConfig
from accelgen.generators.systolic.result_fifo import DISTRIBUTED_MAX_DEPTH, ResultFIFO


def _write(tmp_path: Path, name: str, queue: fifo.SyncFIFOBuffered) -> Path:
    ports = [queue.w_data, queue.w_en, queue.w_rdy, queue.r_data, queue.r_en, queue.r_rdy]
    path = tmp_path / f"{name}.v"
    path.write_text(verilog.convert(queue, name=name, ports=ports, emit_src=False))
    return path


@pytest.mark.parametrize("depth, hinted", [(3, True), (DISTRIBUTED_MAX_DEPTH, True),
                                           (DISTRIBUTED_MAX_DEPTH + 1, False)])
def test_the_hint_is_emitted_up_to_the_limit(tmp_path: Path, depth: int, hinted: bool) -> None:
    text = _write(tmp_path, "queue", ResultFIFO(width=8, depth=depth)).read_text()
    assert ('(* ram_style = "distributed" *)' in text) is hinted


def test_an_array_result_fifo_carries_the_hint() -> None:
    cfg = SystolicConfig(rows=16, cols=16, input_width=4, weight_width=4)
    assert cfg.result_depth <= DISTRIBUTED_MAX_DEPTH
    assert generate_systolic(cfg).verilog.count('(* ram_style = "distributed" *)') == 1


def test_ecp5_maps_a_wide_shallow_result_fifo_to_lut_ram(tmp_path: Path) -> None:
    # 72 bits x 49: Yosys' own cost model picks DP16KD for Amaranth's plain buffered FIFO.
    plain = synthesize(_write(tmp_path, "plain", fifo.SyncFIFOBuffered(width=72, depth=49)),
                       "plain", "ecp5", tmp_path / "plain")
    hinted = synthesize(_write(tmp_path, "hinted", ResultFIFO(width=72, depth=49)),
                        "hinted", "ecp5", tmp_path / "hinted")
    assert plain["fpga"]["bram"] > 0 and "TRELLIS_DPR16X4" not in plain["cells"]
    assert hinted["fpga"]["bram"] == 0 and hinted["cells"]["TRELLIS_DPR16X4"] > 0
