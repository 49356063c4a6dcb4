"""Network cycle accounting: layer mapping, per-layer cycles, variants, the greedy 50 % choice."""

from __future__ import annotations

import pytest

from accelgen.sim.fuse_cycles import depthwise_baseline_steps, fuse_layer, fuse_layer_cycles
from accelgen.sim.layers import LayerSpec, total_macs
from accelgen.sim.network_cycles import (
    GROUPS,
    layer_cycles,
    layer_mapping,
    layer_steps,
    network_cycles,
    replacement_savings,
    select_greedy,
    variant_layers,
)
from accelgen.sim.networks import depthwise_layers, network
from accelgen.sim.systolic_cycles import ArrayTiming, gemm_cycles, schedule


def timing(size: int) -> ArrayTiming:
    return ArrayTiming(size, size, "os", 2 * size + size + 3)


def test_mapping_of_each_kind() -> None:
    assert layer_mapping(LayerSpec("c", "conv", 8, 8, 3, 4, kernel=3)) == "gemm"
    assert layer_mapping(LayerSpec("p", "pointwise", 8, 8, 3, 4)) == "gemm"
    assert layer_mapping(LayerSpec("f", "fc", 1, 1, 3, 4)) == "gemm"
    dw = LayerSpec("d", "depthwise", 8, 8, 4, 4, kernel=3, groups=4)
    assert layer_mapping(dw) == "depthwise_im2col"
    assert layer_mapping(LayerSpec("r", "depthwise", 8, 8, 4, 4, kernel=(1, 3),
                                   groups=4)) == "fuse_row"
    assert layer_mapping(LayerSpec("k", "depthwise", 8, 8, 4, 4, kernel=(5, 1),
                                   groups=4)) == "fuse_col"
    assert layer_mapping(LayerSpec("o", "depthwise", 8, 8, 4, 4, kernel=1, groups=4)) == "gemm"


def test_two_by_two_pointwise_by_hand() -> None:
    # 2x2 OS array, M = 4 (a 2x2 map), K = 2, N = 2: two tiles of K = 2 >= rows, so
    # tiles * K + 2*rows + cols + 2 = 4 + 4 + 2 + 2 = 12 edges.
    layer = LayerSpec("p", "pointwise", 2, 2, 2, 2)
    assert layer_cycles(ArrayTiming(2, 2, "os", 9), layer) == 12


@pytest.mark.parametrize("size", [2, 3, 4, 8])
def test_gemm_layers_are_im2col(size: int) -> None:
    t = timing(size)
    conv = LayerSpec("c", "conv", 9, 7, 3, 5, kernel=3, stride=2)
    assert layer_cycles(t, conv) == gemm_cycles(t, 5 * 4, 27, 5)
    grouped = LayerSpec("g", "conv", 6, 6, 4, 6, kernel=3, groups=2)
    one = schedule(t, layer_steps(size, size, LayerSpec("h", "conv", 6, 6, 2, 3, kernel=3)))
    assert layer_cycles(t, grouped) > one.cycles  # both groups, back to back
    assert layer_steps(size, size, grouped) == layer_steps(size, size, LayerSpec(
        "h", "conv", 6, 6, 2, 3, kernel=3)) * 2


@pytest.mark.parametrize(("size", "kernel", "stride"), [(2, 3, 1), (4, 3, 2), (4, 5, 1),
                                                         (3, 5, 2), (8, 3, 1)])
def test_depthwise_and_fuse_layers_use_the_fuse_models(size: int, kernel: int,
                                                        stride: int) -> None:
    t = timing(size)
    dw = LayerSpec("d", "depthwise", 11, 9, 6, 6, kernel=kernel, stride=stride, groups=6)
    baseline = depthwise_baseline_steps(size, size, 6, dw.out_height, dw.out_width, kernel)
    assert layer_cycles(t, dw) == schedule(t, baseline).cycles
    # The generic grouped-GEMM rule gives the same steps: the baseline is that rule.
    gemm = LayerSpec("g", "conv", 11, 9, 6, 6, kernel=kernel, stride=stride, groups=6)
    assert layer_steps(size, size, gemm) == baseline
    for axis, shape in (("row", (1, kernel)), ("col", (kernel, 1))):
        fused = LayerSpec("f", "depthwise", 11, 9, 6, 6, kernel=shape, stride=stride, groups=6)
        expect = fuse_layer_cycles(t, fuse_layer(6, 11, 9, kernel, stride, "same", axis, size))
        assert layer_cycles(t, fused) == expect.cycles


def test_network_totals_add_up() -> None:
    net = network("mobilenet_v3_small")
    result = network_cycles(timing(32), net)
    assert result.cycles == sum(result.cycles_by_group.values())
    assert set(result.cycles_by_group) == set(GROUPS)
    assert result.macs == total_macs(net) == sum(result.macs_by_group.values())
    assert 0 < result.utilization < 1
    assert [x.name for x in result.layers] == [layer.name for layer in net]


def test_fuse_variants_are_faster() -> None:
    net = network("mobilenet_v3_small")
    t = timing(32)
    base = network_cycles(t, net)
    selection = {f"{v}50": select_greedy(replacement_savings(t, net, v)) for v in ("full", "half")}
    for variant in ("full", "half", "full50", "half50"):
        fused = network_cycles(t, variant_layers(net, variant, selection))
        assert fused.cycles < base.cycles, variant
        assert fused.cycles_by_group["depthwise"] < base.cycles_by_group["depthwise"]
        widened = fused.cycles_by_group["pointwise"] - base.cycles_by_group["pointwise"]
        assert widened > 0 if variant.startswith("full") else widened == 0


@pytest.mark.parametrize("variant", ["full", "half"])
def test_savings_add_up_and_greedy_takes_half(variant: str) -> None:
    net = network("mobilenet_v3_small")
    t = timing(32)
    base = network_cycles(t, net).cycles
    savings = replacement_savings(t, net, variant)
    assert [s["layer"] for s in savings] == [x.name for x in depthwise_layers(net)]
    chosen = select_greedy(savings)
    assert len(chosen) == len(savings) // 2 == 5  # 11 depthwise layers, rounded down
    by_name = {s["layer"]: s for s in savings}
    fused = network_cycles(t, variant_layers(net, f"{variant}50", {f"{variant}50": chosen}))
    assert base - fused.cycles == sum(by_name[name]["saved_cycles"] for name in chosen)
    assert sum(x.mapping == "fuse_row" for x in fused.layers) == len(chosen)
    worst_chosen = min(by_name[name]["saved_cycles"] for name in chosen)
    assert all(s["saved_cycles"] <= worst_chosen for s in savings if s["layer"] not in chosen)


def test_greedy_rule_rounding_and_ties() -> None:
    savings = [{"layer": name, "saved_cycles": saved}
               for name, saved in (("a", 5), ("b", 9), ("c", 5), ("d", 1), ("e", 5))]
    # floor(5 / 2) = 2: b, then the earlier of the tied a, c, e; reported in network order.
    assert select_greedy(savings) == ["a", "b"]
    assert select_greedy(savings[:1]) == []
    assert select_greedy(savings[:4]) == ["a", "b"]


def test_bad_requests() -> None:
    net = network("mobilenet_v1")
    with pytest.raises(ValueError, match="variant: must be one of"):
        variant_layers(net, "quarter")
    with pytest.raises(ValueError, match="needs the selected layers"):
        variant_layers(net, "full50")
    with pytest.raises(ValueError, match="output-stationary"):
        layer_cycles(ArrayTiming(4, 4, "ws", 11), net[0])


def test_fuse_layers_beyond_the_array_are_rejected_by_name():
    layer = LayerSpec("dw9_row", "depthwise", 14, 14, 8, 8, kernel=(1, 9), groups=8,
                      network="toy")
    square = ArrayTiming(8, 8, "os", 2 * 8 + 8 + 3)
    with pytest.raises(ValueError, match=r"^toy/dw9_row: kernel 9 is larger than the "
                                         r"array's max_kernel 7"):
        network_cycles(square, [layer], max_kernel=7)
    tall = ArrayTiming(8, 4, "os", 2 * 8 + 4 + 3)
    with pytest.raises(ValueError, match=r"^toy/dw9_row: .* needs rows <= cols"):
        network_cycles(tall, [layer])
    assert network_cycles(square, [layer], max_kernel=9).cycles > 0
