"""The cycle model against closed forms derived by hand from the pipeline's stages."""

from __future__ import annotations

import math

import pytest

from accelgen.generators.systolic import SystolicConfig
from accelgen.sim.systolic_cycles import ArrayTiming, gemm_cycles, gemm_schedule, result_order

SHAPES = [(1, 1), (2, 3), (3, 2), (4, 4), (8, 8), (4, 16), (16, 4)]


def _timing(rows: int, cols: int, dataflow: str, depth: int | None = None,
            stages: int = 0) -> ArrayTiming:
    cfg = SystolicConfig(rows=rows, cols=cols, dataflow=dataflow, result_depth=depth,
                         multiplier_stages=stages)
    return ArrayTiming(rows, cols, dataflow, cfg.result_depth, pe_latency=cfg.pe_latency)


@pytest.mark.parametrize(("rows", "cols"), SHAPES)
@pytest.mark.parametrize("k", [1, 5, 64])
@pytest.mark.parametrize("stages", [0, 1, 2])
def test_one_output_stationary_tile(rows, cols, k, stages):
    # K steps, then rows+cols+1 stages to the FIFO (plus the multiplier stages), rows rows
    # out, 2 FIFO stages.
    timing = _timing(rows, cols, "os", stages=stages)
    assert gemm_cycles(timing, rows, k, cols) == k + 2 * rows + cols + 2 + stages


@pytest.mark.parametrize(("rows", "cols"), SHAPES)
@pytest.mark.parametrize("m", [1, 7, 50])
@pytest.mark.parametrize("stages", [0, 1, 2])
def test_one_weight_stationary_pass(rows, cols, m, stages):
    # rows weight steps, m activations, rows+cols stages to the FIFO (plus the multiplier
    # stages), 2 FIFO stages.
    timing = _timing(rows, cols, "ws", stages=stages)
    assert gemm_cycles(timing, m, rows, cols) == m + 2 * rows + cols + 2 + stages


@pytest.mark.parametrize(("rows", "cols"), SHAPES)
def test_output_stationary_streams_tiles_back_to_back_when_k_covers_the_drain(rows, cols):
    k = rows + 3
    tiles_m, tiles_n = 3, 2
    cycles = gemm_cycles(_timing(rows, cols, "os"), tiles_m * rows, k, tiles_n * cols)
    assert cycles == tiles_m * tiles_n * k + 2 * rows + cols + 2


@pytest.mark.parametrize(("rows", "cols"), SHAPES)
def test_short_reductions_wait_for_the_drain(rows, cols):
    # K < rows: each tile's last step waits `rows` cycles after the previous one.
    tiles = 4
    cycles = gemm_cycles(_timing(rows, cols, "os"), tiles * rows, 1, cols)
    assert cycles == (tiles - 1) * max(1, rows) + 1 + 2 * rows + cols + 2


@pytest.mark.parametrize(("rows", "cols"), SHAPES)
@pytest.mark.parametrize("dataflow", ["os", "ws"])
@pytest.mark.parametrize("stages", [0, 1, 2])
def test_default_result_depth_never_holds_the_array_back(rows, cols, dataflow, stages):
    default = _timing(rows, cols, dataflow, stages=stages)
    unlimited = ArrayTiming(rows, cols, dataflow, 10**6, pe_latency=default.pe_latency)
    shallower = ArrayTiming(rows, cols, dataflow, default.result_depth - 1,
                            pe_latency=default.pe_latency)
    shapes = [(4 * rows, rows, 4 * cols), (3, 2 * rows + 1, 2 * cols), (rows, 1, 5 * cols),
              (8 * rows, rows, cols), (16, 1, cols)]
    for m, k, n in shapes:
        assert gemm_cycles(default, m, k, n) == gemm_cycles(unlimited, m, k, n)
    # ... and it is the smallest such depth: one row less costs cycles on some shape.
    if shallower.result_depth >= max(3, shallower.results_per_step):
        assert any(gemm_cycles(shallower, m, k, n) > gemm_cycles(unlimited, m, k, n)
                   for m, k, n in shapes)


def test_a_small_result_fifo_costs_cycles_but_the_model_still_counts_them():
    small = ArrayTiming(4, 4, "os", 4)
    assert gemm_cycles(small, 16, 4, 16) > gemm_cycles(_timing(4, 4, "os"), 16, 4, 16)


def test_weight_stationary_k_folds_wait_for_their_partial_sums():
    timing = _timing(4, 4, "ws")
    # Two K tiles of one activation each: the second activation needs the first's result,
    # delivered rows+cols+2 edges after it was accepted.
    schedule = gemm_schedule(timing, 1, 8, 4)
    first_activation = schedule.accepted[4]
    second_activation = schedule.accepted[9]
    assert schedule.delivered[0] == first_activation + 4 + 4 + 2
    assert second_activation == schedule.delivered[0] + 1


def test_weight_loads_wait_for_the_previous_commit_to_sweep_the_array():
    timing = _timing(2, 8, "ws")
    schedule = gemm_schedule(timing, 1, 2, 16)  # two column tiles, one activation each
    commit = schedule.accepted[2]
    assert schedule.accepted[3] == commit + 8 - 1


@pytest.mark.parametrize("dataflow", ["os", "ws"])
def test_result_order_covers_c_once(dataflow):
    rows, cols, m, k, n = 3, 2, 7, 8, 5
    order = result_order(_timing(rows, cols, dataflow), m, k, n)
    last_k = math.ceil(k / rows) - 1 if dataflow == "ws" else 0
    cells = [(r, c0) for r, c0, kt in order if r < m and kt == last_k]
    assert sorted(cells) == sorted({(r, c0) for r in range(m) for c0 in range(0, n, cols)})


def test_bad_shapes_and_depths_are_rejected():
    with pytest.raises(ValueError, match="K must be >= 1"):
        gemm_cycles(_timing(2, 2, "os"), 2, 0, 2)
    with pytest.raises(ValueError, match="result_depth"):
        ArrayTiming(4, 4, "os", 3)
