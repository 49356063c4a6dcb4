"""The closed-form network latency against the step-by-step schedule it replaces."""

from __future__ import annotations

import random

import pytest

from accelgen.sim.layers import LayerSpec
from accelgen.sim.network_cycles import layer_cycles, layer_steps, network_cycles, variant_layers
from accelgen.sim.network_latency import (
    Gemm,
    full_speed_depth,
    layer_latency,
    network_latency,
    os_tiles_cycles,
    ws_gemms_cycles,
    ws_layer_steps,
)
from accelgen.sim.networks import network
from accelgen.sim.systolic_cycles import ArrayTiming, gemm_cycles, schedule

SEED = 20261123


def timing(rows: int, cols: int, dataflow: str = "os", group: int = 1,
           depth: int | None = None, pe_latency: int = 1) -> ArrayTiming:
    return ArrayTiming(rows, cols, dataflow,
                       depth or full_speed_depth(rows, cols, dataflow, pe_latency),
                       group=group, pe_latency=pe_latency)


def random_layers(rng: random.Random, count: int) -> list[LayerSpec]:
    layers = []
    for i in range(count):
        kind = rng.choice(["conv", "pointwise", "depthwise", "fuse_row", "fuse_col", "grouped"])
        size = rng.randint(3, 11)
        stride = rng.choice([1, 1, 2])
        channels = rng.randint(1, 6)
        kernel = rng.choice([3, 5])
        if kind == "conv":
            layer = LayerSpec(f"l{i}", "conv", size, size + 1, channels, rng.randint(1, 9),
                              kernel=kernel, stride=stride)
        elif kind == "pointwise":
            layer = LayerSpec(f"l{i}", "pointwise", size, size, rng.randint(1, 40),
                              rng.randint(1, 20), stride=stride)
        elif kind == "depthwise":
            layer = LayerSpec(f"l{i}", "depthwise", size, size, channels, channels,
                              kernel=kernel, stride=stride, groups=channels)
        elif kind == "grouped":
            layer = LayerSpec(f"l{i}", "conv", size, size, 2 * channels, 4, kernel=3, groups=2)
        else:
            shape = (1, kernel) if kind == "fuse_row" else (kernel, 1)
            layer = LayerSpec(f"l{i}", "depthwise", size, size + 2, channels, channels,
                              kernel=shape, stride=stride, groups=channels)
        layers.append(layer)
    return layers


def test_os_formula_by_hand() -> None:
    # One tile: K + 2*rows + cols + 2; K >= rows: tiles * K + 2*rows + cols + 2.
    assert os_tiles_cycles(4, 3, [(10, 1)]) == 10 + 8 + 3 + 2
    assert os_tiles_cycles(4, 3, [(10, 5)]) == 50 + 8 + 3 + 2
    # K < rows: last steps rows apart after the first tile.
    assert os_tiles_cycles(4, 3, [(2, 3)]) == 2 + 4 * 2 + 8 + 3 + 2


def test_ws_formula_by_hand() -> None:
    # One weight load plus M activations: M + 2*rows + cols + 2 (README).
    assert ws_gemms_cycles(timing(4, 3, "ws"), [Gemm(7, 4, 3)]) == 7 + 8 + 3 + 2


@pytest.mark.parametrize("pe_latency", [1, 2, 3])
@pytest.mark.parametrize("rows,cols", [(1, 1), (2, 2), (2, 5), (4, 3), (3, 8), (8, 8)])
def test_os_layers_match_schedule(rows: int, cols: int, pe_latency: int) -> None:
    rng = random.Random(SEED + rows * 31 + cols)
    t = timing(rows, cols, pe_latency=pe_latency)
    for layer in random_layers(rng, 30):
        if layer.kernel[0] != layer.kernel[1] and rows > cols:
            continue
        assert layer_latency(t, layer) == layer_cycles(t, layer), (SEED, layer)


@pytest.mark.parametrize("rows,cols,group", [(1, 1, 1), (2, 2, 1), (2, 5, 1), (4, 3, 1),
                                             (3, 8, 1), (2, 2, 2), (4, 2, 4), (2, 4, 8),
                                             (3, 3, 16)])
@pytest.mark.parametrize("pe_latency", [1, 2, 3])
def test_ws_gemms_match_schedule(rows: int, cols: int, group: int, pe_latency: int) -> None:
    rng = random.Random(SEED + rows * 7 + cols * 3 + group)
    t = timing(rows, cols, "ws", group, pe_latency=pe_latency)
    for _ in range(40):
        m, k, n = rng.randint(1, 30), rng.randint(1, 70), rng.randint(1, 12)
        assert ws_gemms_cycles(t, [Gemm(m, k, n)]) == gemm_cycles(t, m, k, n), (SEED, m, k, n)


@pytest.mark.parametrize("rows,cols,group", [(2, 3, 1), (4, 4, 1), (3, 5, 2), (4, 2, 4)])
@pytest.mark.parametrize("pe_latency", [1, 2, 3])
def test_ws_layers_match_schedule(rows: int, cols: int, group: int, pe_latency: int) -> None:
    rng = random.Random(SEED + rows + cols + group)
    t = timing(rows, cols, "ws", group, pe_latency=pe_latency)
    layers = [x for x in random_layers(rng, 40) if x.kernel[0] == x.kernel[1]]
    for layer in layers:
        steps = ws_layer_steps(t, layer)
        assert layer_latency(t, layer) == schedule(t, steps).cycles, (SEED, layer)


def test_ws_depthwise_is_per_channel_gemms() -> None:
    t = timing(4, 4, "ws")
    layer = LayerSpec("d", "depthwise", 6, 6, 3, 3, kernel=3, groups=3)
    alone = gemm_cycles(t, 36, 9, 1)
    assert layer_latency(t, layer) > 3 * (alone - 2 * 4 - 4 - 2)
    assert ws_gemms_cycles(t, [Gemm(36, 9, 1, 3)]) == layer_latency(t, layer)


@pytest.mark.parametrize("dataflow", ["os", "ws"])
def test_small_fifo_falls_back_to_the_schedule(dataflow: str) -> None:
    rows, cols = 4, 3
    depth = 4 if dataflow == "os" else 3
    t = timing(rows, cols, dataflow, depth=depth)
    layer = LayerSpec("p", "pointwise", 5, 5, 2, 7)
    steps = (layer_steps(rows, cols, layer) if dataflow == "os" else ws_layer_steps(t, layer))
    slow = schedule(t, steps).cycles
    assert layer_latency(t, layer) == slow
    assert slow > layer_latency(timing(rows, cols, dataflow), layer)


def test_a_wrong_formula_is_caught() -> None:
    """The comparison can fail: an off-by-one drain differs from the schedule."""
    t = timing(4, 4, "ws")
    assert ws_gemms_cycles(t, [Gemm(3, 20, 5)]) + 1 != gemm_cycles(t, 3, 20, 5)


@pytest.mark.parametrize("variant", ["baseline", "full", "half"])
def test_mobilenet_v2_matches_network_cycles(variant: str) -> None:
    t = timing(16, 16)
    layers = variant_layers(network("mobilenet_v2"), variant)
    fast = network_latency(t, layers, max_kernel=7)
    slow = network_cycles(t, layers, max_kernel=7)
    assert fast == slow


def test_ws_rejects_fuse_layers() -> None:
    layer = LayerSpec("r", "depthwise", 8, 8, 4, 4, kernel=(1, 3), groups=4, network="net")
    with pytest.raises(ValueError, match=r"net/r: kernel .* needs an output-stationary"):
        network_latency(timing(4, 4, "ws"), [layer])


def test_mobilenet_v2_ws_and_nm_are_fast() -> None:
    layers = network("mobilenet_v2")
    dense = network_latency(timing(8, 8, "ws"), layers)
    sparse = network_latency(timing(8, 8, "ws", group=4), layers)
    assert sparse.cycles < dense.cycles
    assert dense.macs == sparse.macs
