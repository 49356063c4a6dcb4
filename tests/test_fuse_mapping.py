"""The FuSe step layout, checked by playing it out the way the array's rows do.

``_play`` is a plain-Python model of one array row in FuSe mode (taps move east one PE per
step, the step's input is broadcast, PEs hold sums until a chunk's last tap passes). Its
outputs must equal the golden 1-D depthwise convolution for every kernel, stride, padding and
row width, which shows the stream layout (``conv1d_stream``) is right before any RTL runs.
"""

from __future__ import annotations

import numpy as np
import pytest

from accelgen.sim.depthwise import depthwise_1xk, padding_amounts
from accelgen.sim.fuse_cycles import (
    depthwise_baseline_steps,
    fuse_layer,
    fuse_layer_cycles,
    fuse_layer_steps,
)
from accelgen.sim.fuse_mapping import conv1d_stream
from accelgen.sim.systolic_cycles import ArrayTiming, Step, gemm_cycles, schedule

SEED = 3


def _play(x: np.ndarray, w: np.ndarray, stride: int, padding: str, cols: int) -> np.ndarray:
    stream = conv1d_stream(len(x), len(w), stride, cols, padding=padding)
    before = padding_amounts(len(x), len(w), stride, padding)[0]
    padded = np.zeros(stream.length, dtype=object)
    padded[before:before + len(x)] = x
    in_flight = [None] * cols  # (tap value, last) held by each PE's west register
    sums = [0] * cols
    finished: list[list[int]] = []
    for tap, source, last in zip(stream.taps, stream.inputs, stream.last, strict=True):
        value = padded[source] if source is not None else 0
        in_flight = [(w[tap] if tap is not None else 0, last), *in_flight[:-1]]
        for j, held in enumerate(in_flight):
            if held is None:
                continue
            sums[j] += held[0] * value
            if held[1]:
                finished.append((j, sums[j]))
                sums[j] = 0
    out = np.zeros(stream.out_length, dtype=object)
    per_pe = {j: [s for pe, s in finished if pe == j] for j in range(cols)}
    for c, chunk in enumerate(stream.chunks):
        for j in range(chunk.count):
            out[chunk.first + j] = per_pe[j][c]
    return out


@pytest.mark.parametrize("cols", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", ["same", "valid", "valid_ceil"])
def test_stream_computes_the_depthwise_convolution(cols, stride, padding):
    rng = np.random.default_rng(SEED)
    for kernel in (1, 2, 3, 5, 7, 9):
        if padding == "same" and kernel % 2 == 0:
            continue
        for length in sorted({kernel, kernel + 1, 2 * cols + kernel, 3 * cols + kernel + 5}):
            x = rng.integers(-128, 128, size=length).astype(object)
            w = rng.integers(-128, 128, size=kernel).astype(object)
            want = depthwise_1xk(x[None, None, :], w[None, :], stride=stride,
                                 padding=padding)[0, 0]
            got = _play(x, w, stride, padding, cols)
            assert list(got) == list(want), (kernel, length, stride, padding, cols)


def test_stride_one_rows_share_the_input_stream():
    stream = conv1d_stream(20, 3, 1, 8, padding="same")
    assert stream.steps == 3 * 8 + 3 - 1
    assert stream.inputs[:20] == tuple(range(20))
    assert sum(stream.last) == 3


def test_bad_stream_parameters_are_named():
    with pytest.raises(ValueError, match="stride"):
        conv1d_stream(8, 3, 0, 4)
    with pytest.raises(ValueError, match="kernel 9 is larger than the input 8"):
        conv1d_stream(8, 9, 1, 4, padding="valid")
    with pytest.raises(ValueError, match="axis"):
        fuse_layer(4, 8, 8, 3, 1, "same", "diagonal", 4)


def test_mode_switch_costs_cols_edges_in_the_model():
    timing = ArrayTiming(4, 6, "os", 2 * 4 + 6 + 3)
    gemm = [Step("reduce"), Step("last")]
    fuse = [Step("reduce", fuse=True), Step("last", fuse=True)]
    switched = schedule(timing, gemm + fuse).accepted
    assert switched[2] == switched[1] + timing.cols
    same = schedule(timing, gemm + gemm).accepted
    assert same[2] == same[1] + 1


def test_fuse_layer_beats_the_im2col_baseline():
    timing = ArrayTiming(8, 8, "os", 2 * 8 + 8 + 3)
    layer = fuse_layer(16, 14, 14, 3, 1, "same", "row", 8)
    assert layer.convs == 16 * 14
    fuse = fuse_layer_cycles(timing, layer).cycles
    baseline = schedule(timing, depthwise_baseline_steps(8, 8, 16, 14, 14, 3)).cycles
    assert baseline > 4 * fuse
    # One channel of the baseline is one im2col GEMM.
    assert schedule(timing, depthwise_baseline_steps(8, 8, 1, 14, 14, 3)).cycles == \
        gemm_cycles(timing, 14 * 14, 9, 1)
    assert len(fuse_layer_steps(8, layer)) == 28 * layer.stream.steps
