"""Cycles of whole networks on an output-stationary array, layer by layer, plain or FuSe.

Each layer maps to one step sequence (:func:`layer_steps`) and is timed by the RTL-exact
schedule of :mod:`.systolic_cycles`:

- a KxK depthwise layer (K > 1): the paper's baseline, one im2col GEMM per channel
  (:func:`.fuse_cycles.depthwise_baseline_steps`);
- a FuSe 1xK / Kx1 depthwise layer (kernel ``(1, K)`` / ``(K, 1)``, K > 1): FuSe mode
  (:func:`.fuse_cycles.fuse_layer_steps`), one 1-D convolution per array row;
- every other layer (standard, pointwise, fully connected, squeeze-and-excitation, and any
  other grouped layer): an im2col GEMM, ``M = out_h * out_w``, ``K = kh * kw * in / groups``,
  ``N = out / groups``, the ``groups`` GEMMs streamed back to back as one sequence (which
  for a depthwise layer is exactly the baseline).

Layers do not overlap: a network's cycles are the sum of its layers' schedule cycles, each
counted from its first accepted step to its last delivered result. Layers are timed once per
shape and array (cached); the step-by-step schedule is quick enough for 224x224 networks on
32x32 arrays (seconds per network), so no closed form is needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from .fuse_cycles import depthwise_baseline_steps, fuse_layer, fuse_layer_steps
from .layers import LayerSpec, macs
from .networks import depthwise_layers, fuse_variant
from .systolic_cycles import ArrayTiming, Step, os_gemm_steps, schedule

__all__ = [
    "GROUPS",
    "VARIANTS",
    "LayerCycles",
    "NetworkCycles",
    "group_of",
    "layer_cycles",
    "layer_mapping",
    "layer_steps",
    "network_cycles",
    "replacement_savings",
    "select_greedy",
    "variant_layers",
]

GROUPS: tuple[str, ...] = ("depthwise", "pointwise", "other")
"""How cycles are reported: depthwise (KxK and FuSe 1-D), pointwise, other (conv, fc, SE)."""

VARIANTS: tuple[str, ...] = ("baseline", "full", "half", "full50", "half50")


def group_of(layer: LayerSpec) -> str:
    return layer.kind if layer.kind in ("depthwise", "pointwise") else "other"


def _fuse_axis(layer: LayerSpec) -> str | None:
    """``"row"`` for a 1xK depthwise layer, ``"col"`` for Kx1 (K > 1), else ``None``."""
    if layer.kind != "depthwise":
        return None
    kernel_h, kernel_w = layer.kernel
    if kernel_h == 1 < kernel_w:
        return "row"
    if kernel_w == 1 < kernel_h:
        return "col"
    return None


def layer_mapping(layer: LayerSpec) -> str:
    """How the array runs ``layer``: ``fuse_row``, ``fuse_col``, ``depthwise_im2col``, ``gemm``."""
    axis = _fuse_axis(layer)
    if axis is not None:
        return f"fuse_{axis}"
    kernel_h, kernel_w = layer.kernel
    if layer.kind == "depthwise" and kernel_h == kernel_w > 1:
        return "depthwise_im2col"
    return "gemm"


def layer_steps(rows: int, cols: int, layer: LayerSpec) -> list[Step]:
    """The operand steps of ``layer`` on a ``rows x cols`` output-stationary array."""
    mapping = layer_mapping(layer)
    if mapping.startswith("fuse_"):
        kernel = max(layer.kernel)
        fused = fuse_layer(layer.in_channels, layer.height, layer.width, kernel, layer.stride,
                           layer.padding, mapping[5:], cols)
        return fuse_layer_steps(rows, fused)
    if mapping == "depthwise_im2col":
        return depthwise_baseline_steps(rows, cols, layer.in_channels, layer.out_height,
                                        layer.out_width, layer.kernel[0])
    kernel_h, kernel_w = layer.kernel
    m = layer.out_height * layer.out_width
    k = kernel_h * kernel_w * layer.in_channels // layer.groups
    n = layer.out_channels // layer.groups
    return os_gemm_steps(rows, cols, m, k, n) * layer.groups


@cache
def _shape_cycles(timing: ArrayTiming, kind: str, height: int, width: int, in_channels: int,
                  out_channels: int, kernel: tuple[int, int], stride: int, groups: int,
                  padding: str) -> int:
    layer = LayerSpec("layer", kind, height, width, in_channels, out_channels, kernel=kernel,
                      stride=stride, groups=groups, padding=padding)
    steps = layer_steps(timing.rows, timing.cols, layer)
    return schedule(timing, steps).cycles


def layer_cycles(timing: ArrayTiming, layer: LayerSpec) -> int:
    """Cycles of one layer alone on the array, from its first step to its last result."""
    if timing.dataflow != "os":
        raise ValueError(f"dataflow: network cycles need an output-stationary array, "
                         f"got {timing.dataflow!r}")
    return _shape_cycles(timing, layer.kind, layer.height, layer.width, layer.in_channels,
                         layer.out_channels, layer.kernel, layer.stride, layer.groups,
                         layer.padding)


@dataclass(frozen=True)
class LayerCycles:
    name: str
    group: str  # one of GROUPS
    mapping: str  # see layer_mapping
    cycles: int
    macs: int


@dataclass(frozen=True)
class NetworkCycles:
    """A network run layer after layer; ``utilization`` is MACs over cycles * rows * cols."""

    layers: tuple[LayerCycles, ...]
    pes: int

    @property
    def cycles(self) -> int:
        return sum(layer.cycles for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def cycles_by_group(self) -> dict[str, int]:
        return {g: sum(x.cycles for x in self.layers if x.group == g) for g in GROUPS}

    @property
    def macs_by_group(self) -> dict[str, int]:
        return {g: sum(x.macs for x in self.layers if x.group == g) for g in GROUPS}

    @property
    def utilization(self) -> float:
        return self.macs / (self.cycles * self.pes)


def check_fuse_support(timing: ArrayTiming, layer: LayerSpec, max_kernel: int | None) -> None:
    """A FuSe layer needs a FuSe-capable shape (``rows <= cols``) and a kernel the array's
    drivers accept; the error names the layer and the field."""
    if _fuse_axis(layer) is None:
        return
    if timing.rows > timing.cols:
        raise ValueError(f"{layer.where}: kernel {layer.kernel} is a FuSe layer, which needs "
                         f"rows <= cols, got a {timing.rows}x{timing.cols} array")
    kernel = max(layer.kernel)
    if max_kernel is not None and kernel > max_kernel:
        raise ValueError(f"{layer.where}: kernel {kernel} is larger than the array's "
                         f"max_kernel {max_kernel}")


def network_cycles(timing: ArrayTiming, layers: Iterable[LayerSpec], *,
                   max_kernel: int | None = None) -> NetworkCycles:
    """Every layer's cycles and MACs, layers run back to back with no overlap.

    ``max_kernel`` (a FuSe-capable array's limit) rejects FuSe layers with larger kernels.
    """
    layers = list(layers)
    for layer in layers:
        check_fuse_support(timing, layer, max_kernel)
    return NetworkCycles(tuple(
        LayerCycles(layer.name, group_of(layer), layer_mapping(layer),
                    layer_cycles(timing, layer), macs(layer))
        for layer in layers), timing.rows * timing.cols)


def variant_layers(net: list[LayerSpec], variant: str,
                   selection: dict[str, Sequence[str]] | None = None) -> list[LayerSpec]:
    """``net`` as one of :data:`VARIANTS`; ``full50`` / ``half50`` replace the KxK depthwise
    layers named in ``selection["full50"]`` / ``selection["half50"]`` (see
    :func:`select_greedy`)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant: must be one of {', '.join(VARIANTS)}, got {variant!r}")
    if variant == "baseline":
        return list(net)
    if variant in ("full", "half"):
        return fuse_variant(net, variant)
    if selection is None or variant not in selection:
        raise ValueError(f"variant {variant}: needs the selected layers (select_greedy)")
    return fuse_variant(net, variant[:4], which=set(selection[variant]))


def replacement_savings(timing: ArrayTiming, net: list[LayerSpec],
                        variant: str) -> list[dict[str, float | int | str]]:
    """For each KxK depthwise layer, the network cycles saved by making only it FuSe.

    The saving includes every layer the replacement changes: the 1xK and Kx1 layers replace
    the KxK one and, for ``full``, the consuming 1x1 layer (and an SE pair in between) reads
    twice the channels. Different layers' replacements change disjoint layers, so savings
    add up: a set of replacements saves the sum of its members' savings.
    """
    base = network_cycles(timing, net).cycles
    savings = []
    for layer in depthwise_layers(net):
        kernel_h, kernel_w = layer.kernel
        if not kernel_h == kernel_w > 1:
            continue
        replaced = network_cycles(timing, fuse_variant(net, variant, which={layer.name}))
        fused = sum(x.cycles for x in replaced.layers
                    if x.name in (f"{layer.name}_row", f"{layer.name}_col"))
        own = layer_cycles(timing, layer)
        savings.append({"layer": layer.name, "kxk_cycles": own, "fuse_cycles": fused,
                        "layer_speedup": own / fused, "saved_cycles": base - replaced.cycles})
    return savings


def select_greedy(savings: Sequence[dict[str, float | int | str]]) -> list[str]:
    """Half of the layers, rounded down: those with the most cycles saved (ties: earlier
    layer first), in network order. Because savings add up, this also gives the fewest
    network cycles of any choice of that many layers."""
    count = len(savings) // 2
    order = sorted(range(len(savings)), key=lambda i: (-savings[i]["saved_cycles"], i))
    return [str(savings[i]["layer"]) for i in sorted(order[:count])]
