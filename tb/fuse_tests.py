"""cocotb regression of FuSe mode on a generated FuSe-capable array.

``ACCELGEN_DESIGN`` names the design's JSON description, ``ACCELGEN_FUSE_CASES`` holds a JSON
list of :class:`~accelgen.tb.fuse_cases.FuseCase`. Every result is compared bit-exactly with
the numpy golden models (``accelgen.sim.depthwise``, ``requantize``, ``fuse_blocks``); runs
without random stalls must also hit the cycle model's accept and delivery edges exactly.
"""

from __future__ import annotations

import json
import os

import cocotb
import numpy as np

from accelgen.sim.depthwise import depthwise_1xk
from accelgen.sim.fuse_blocks import FuseBlockSpec, FuseBlockWeights, fuse_block
from accelgen.sim.fuse_cycles import (
    fuse_layer,
    fuse_layer_cycles,
    fuse_layer_steps,
    fuse_result_order,
)
from accelgen.sim.gemm import gemm
from accelgen.sim.integers import int_range
from accelgen.sim.requantize import requantize
from accelgen.sim.systolic_cycles import gemm_schedule, os_gemm_steps, schedule

from .fuse_cases import FuseCase
from .fuse_driver import LayerRun, conv1d_steps, run_conv1d, run_fuse_block
from .systolic_driver import SystolicHarness


def _load() -> tuple[dict, dict[str, FuseCase]]:
    design_path = os.environ.get("ACCELGEN_DESIGN")
    if not design_path:
        return {}, {}
    with open(design_path) as handle:
        description = json.load(handle)
    cases = [FuseCase(**c) for c in json.loads(os.environ.get("ACCELGEN_FUSE_CASES", "[]"))]
    return description, {case.name: case for case in cases}


DESCRIPTION, CASES = _load()


def _draw(rng: np.random.Generator, shape: tuple[int, ...], width: int,
          signed: bool) -> np.ndarray:
    lo, hi = int_range(width, signed)
    return rng.integers(lo, hi, size=shape, endpoint=True, dtype=np.int64).astype(object)


def _shift_range(params: dict, kernel: int) -> tuple[int, int]:
    """Shifts that leave a useful spread of values (neither all saturated nor all zero)."""
    width = params["input_width"] + params["weight_width"] + max(kernel - 1, 0).bit_length()
    low = max(0, width - params["input_width"] - 3)
    return low, min(low + 4, params["acc_width"] - 1)


def _compare(what: str, got: np.ndarray, want: np.ndarray) -> None:
    got = np.asarray(got, dtype=object)
    want = np.asarray(want, dtype=object)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    bad = np.argwhere(got != want)
    assert bad.size == 0, (f"{what}: {len(bad)} of {got.size} values differ; first at "
                           f"{tuple(bad[0])}: got {got[tuple(bad[0])]}, "
                           f"expected {want[tuple(bad[0])]}")


def _check_cycles(what: str, run: LayerRun, model, stalled: bool) -> None:
    if stalled:
        assert run.cycles >= model.cycles, f"{what}: stalls beat the stall-free model"
        return
    assert run.accepted == list(model.accepted), f"{what}: accept edges differ from the model"
    assert run.delivered == list(model.delivered), f"{what}: delivery edges differ"


async def _conv1d(dut, harness: SystolicHarness, spec: FuseCase, rng, stalls) -> None:
    params = harness.params
    signals = _draw(rng, (spec.channels, spec.width), params["input_width"], params["signed"])
    taps = _draw(rng, (spec.channels, spec.kernel), params["weight_width"], params["signed"])
    shifts = None
    if harness.requantizes:
        low, high = _shift_range(params, spec.kernel)
        shifts = rng.integers(low, high, size=spec.channels, endpoint=True).astype(object)
    run = await run_conv1d(harness, signals, taps, stride=spec.stride, padding=spec.padding,
                           shifts=shifts, **stalls)
    want = depthwise_1xk(signals[:, None, :], taps, stride=spec.stride,
                         padding=spec.padding)[:, 0, :]
    _compare("accumulators", run.acc, want)
    if shifts is not None:
        _compare("requantized", run.q, requantize(want, shifts[:, None],
                                                  rounding=params["requantize"],
                                                  out_width=params["input_width"],
                                                  signed=params["signed"]))
    layer = fuse_layer(spec.channels, 1, spec.width, spec.kernel, spec.stride, spec.padding,
                       "row", harness.cols)
    model = fuse_layer_cycles(harness.timing, layer)
    _check_cycles("conv1d", run, model, bool(stalls.get("sink_stall") or
                                              stalls.get("source_gap")))
    dut._log.info("%s: %d cycles (model %d)", spec.name, run.cycles, model.cycles)


async def _block(dut, harness: SystolicHarness, spec: FuseCase, rng, stalls) -> None:
    params = harness.params
    iw, ww = params["input_width"], params["weight_width"]
    block = FuseBlockSpec(channels=spec.channels, out_channels=spec.out_channels,
                          kernel=spec.kernel, stride=spec.stride, padding=spec.padding,
                          variant=spec.variant, activation_width=iw, weight_width=ww,
                          acc_width=params["acc_width"], rounding=params["requantize"],
                          overflow=params["overflow"])
    low, high = _shift_range(params, spec.kernel)
    depthwise_shift = tuple(int(s) for s in rng.integers(low, high, size=block.mid_channels,
                                                         endpoint=True))
    pw_low, pw_high = _shift_range(params, block.mid_channels)
    pointwise_shift = tuple(int(s) for s in rng.integers(pw_low, pw_high,
                                                         size=spec.out_channels,
                                                         endpoint=True))
    block = FuseBlockSpec(**{**block.__dict__, "depthwise_shift": depthwise_shift,
                             "pointwise_shift": pointwise_shift})
    x = _draw(rng, (spec.channels, spec.height, spec.width), iw, True)
    weights = FuseBlockWeights(
        row=_draw(rng, (block.row_channels, spec.kernel), ww, True),
        col=_draw(rng, (block.col_channels, spec.kernel), ww, True),
        pointwise=_draw(rng, (block.mid_channels, spec.out_channels), ww, True))
    want = fuse_block(x, weights, block)
    run = await run_fuse_block(harness, x, weights, block, **stalls)
    _compare("1xK accumulators", run.row.acc, want.row_acc)
    _compare("Kx1 accumulators", run.col.acc, want.col_acc)
    _compare("pointwise input", run.pointwise_input, want.pointwise_input)
    _compare("pointwise accumulators", run.pointwise.acc, want.pointwise_acc)
    _compare("block output", run.pointwise.q, want.output)
    stalled = bool(stalls.get("sink_stall") or stalls.get("source_gap"))
    for name, layer_run, axis, source in (("1xK", run.row, "row", block.row_channels),
                                          ("Kx1", run.col, "col", block.col_channels)):
        layer = fuse_layer(source, spec.height, spec.width, spec.kernel, spec.stride,
                           spec.padding, axis, harness.cols)
        _check_cycles(name, layer_run, fuse_layer_cycles(harness.timing, layer), stalled)
    out_h, out_w = block.output_size(spec.height, spec.width)
    _check_cycles("pointwise", run.pointwise,
                  gemm_schedule(harness.timing, spec.out_channels, block.mid_channels,
                                out_h * out_w), stalled)
    dut._log.info("%s: cycles 1xK %d, Kx1 %d, pointwise %d", spec.name, run.row.cycles,
                  run.col.cycles, run.pointwise.cycles)


async def _mixed(dut, harness: SystolicHarness, spec: FuseCase, rng, _stalls) -> None:
    """GEMM tile, FuSe layer, GEMM tile in one stream: the mode switches cost exactly what
    the model says, and neither mode disturbs the other's results."""
    params = harness.params
    rows, cols = harness.rows, harness.cols
    iw, ww, signed = params["input_width"], params["weight_width"], params["signed"]
    a1, b1 = _draw(rng, (rows, 3), iw, signed), _draw(rng, (3, cols), ww, signed)
    a2, b2 = _draw(rng, (rows, 2), iw, signed), _draw(rng, (2, cols), ww, signed)
    signals = _draw(rng, (spec.channels, spec.width), iw, signed)
    taps = _draw(rng, (spec.channels, spec.kernel), ww, signed)
    zeros = np.zeros(spec.channels, dtype=object)
    fuse_steps, layer = conv1d_steps(harness, signals, taps, 1, "valid", zeros)
    steps = harness.plan(a1, b1) + fuse_steps + harness.plan(a2, b2)
    fuse_rows = len(fuse_result_order(rows, layer))
    rows_out, accepted, delivered = await harness.stream(steps, 2 * rows + fuse_rows)
    model = schedule(harness.timing, os_gemm_steps(rows, cols, rows, 3, cols)
                     + fuse_layer_steps(rows, layer) + os_gemm_steps(rows, cols, rows, 2, cols))
    assert accepted == list(model.accepted), "accept edges differ across mode switches"
    assert delivered == list(model.delivered), "delivery edges differ across mode switches"
    semantics = {"input_width": iw, "weight_width": ww, "acc_width": params["acc_width"],
                 "signed": signed, "overflow": params["overflow"]}
    for first, (a, b) in ((0, (a1, b1)), (rows + fuse_rows, (a2, b2))):
        tile = [rows_out[first + s]["c"] for s in range(rows)][::-1]  # bottom row first
        _compare("GEMM around FuSe", np.array(tile, dtype=object), gemm(a, b, **semantics))
    want = depthwise_1xk(signals[:, None, :], taps, stride=1, padding="valid")[:, 0, :]
    got = np.zeros_like(want)
    for index in range(fuse_rows):
        chunk, s = divmod(index, rows)
        part = layer.stream.chunks[chunk]
        row = rows_out[rows + index]["c"]
        got[rows - 1 - s, part.first:part.first + part.count] = row[:part.count]
    _compare("FuSe between GEMMs", got, want)
    dut._log.info("%s: %d edges", spec.name, delivered[-1] - accepted[0] + 1)


RUNNERS = {"conv1d": _conv1d, "block": _block, "mixed": _mixed}


@cocotb.test()
@cocotb.parametrize(case=list(CASES) or ["none"])
async def fuse_matches_golden(dut, case: str) -> None:
    assert CASES, "ACCELGEN_FUSE_CASES named no cases: nothing would be checked"
    spec = CASES[case]
    dut._log.info("case %s: %s seed=%d", spec.name, spec, spec.seed)
    rng = np.random.default_rng(spec.seed)
    harness = SystolicHarness(dut, DESCRIPTION)
    await harness.reset()
    stalls = {}
    if spec.sink_stall or spec.source_gap:
        stalls = {"rng": rng, "sink_stall": spec.sink_stall, "source_gap": spec.source_gap}
    await RUNNERS[spec.kind](dut, harness, spec, rng, stalls)
