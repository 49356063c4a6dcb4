"""The five networks FuSeConv evaluates, at 224x224, and their FuSe variants.

``network(name)`` returns a fresh, chain-checked layer table; ``fuse_variant`` derives the
paper's Full (D = 1) and Half (D = 2) variants by replacing KxK depthwise layers with FuSe
row (1xK) and column (Kx1) layers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from ..layers import LayerSpec, check_chain
from . import mnasnet_b1, mobilenet_v1, mobilenet_v2, mobilenet_v3_large, mobilenet_v3_small

__all__ = ["NETWORKS", "depthwise_layers", "fuse_variant", "network", "published_macs"]

_MODULES = (mobilenet_v1, mobilenet_v2, mobilenet_v3_small, mobilenet_v3_large, mnasnet_b1)
_BUILDERS: dict[str, Callable[[], list[LayerSpec]]] = {m.NAME: m.layers for m in _MODULES}

NETWORKS: tuple[str, ...] = tuple(_BUILDERS)


def network(name: str) -> list[LayerSpec]:
    """The layer table of network ``name`` (one of ``NETWORKS``)."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown network {name!r}; known: {', '.join(NETWORKS)}")
    layers = _BUILDERS[name]()
    check_chain(layers, name)
    return layers


def published_macs(name: str) -> tuple[int, str]:
    """The MAC count the network's source publishes, and where it is published."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown network {name!r}; known: {', '.join(NETWORKS)}")
    module = next(m for m in _MODULES if name == m.NAME)
    return module.PUBLISHED_MACS, module.SOURCE


def _is_square_depthwise(layer: LayerSpec) -> bool:
    kernel_h, kernel_w = layer.kernel
    return layer.kind == "depthwise" and kernel_h == kernel_w > 1


def depthwise_layers(net: Iterable[LayerSpec]) -> list[LayerSpec]:
    """The depthwise layers of ``net``, in order (including FuSe 1xK / Kx1 ones)."""
    return [layer for layer in net if layer.kind == "depthwise"]


def fuse_variant(net: list[LayerSpec], variant: str,
                 which: set[str] | None = None) -> list[LayerSpec]:
    """``net`` with the KxK depthwise layers named in ``which`` (default: all) made FuSe.

    Layer ``X`` (C channels, kernel K, stride s) becomes ``X_row`` (1xK) followed by
    ``X_col`` (Kx1, ``concat=True``), both with stride s:

    - ``full``: each runs over all C channels, so 2C channels reach the next layers: the
      consuming 1x1 layer's ``in_channels`` doubles, and an SE pair in between scales 2C
      channels (squeeze ``in_channels`` and excite ``out_channels`` double; its bottleneck
      width stays, a choice the paper does not discuss).
    - ``half``: the row filter takes the first C/2 channels, the column filter the last C/2
      (C must be even); the channel count, and every later layer, is unchanged.
    """
    if variant not in ("full", "half"):
        raise ValueError(f"variant must be full or half, got {variant!r}")
    names = {layer.name for layer in net}
    targets = {layer.name for layer in net if _is_square_depthwise(layer)}
    if which is not None:
        unknown = sorted(set(which) - names)
        if unknown:
            raise ValueError(f"which: no layers named {', '.join(unknown)}")
        wrong = sorted(set(which) - targets)
        if wrong:
            raise ValueError(f"which: {', '.join(wrong)} are not KxK depthwise layers (K > 1)")
        targets = set(which)
    out: list[LayerSpec] = []
    widen: LayerSpec | None = None  # the full-variant depthwise whose consumers must widen
    squeezed = False  # inside an SE pair that follows ``widen``
    for layer in net:
        if widen is not None and layer.kind == "se_fc":
            field = "out_channels" if squeezed else "in_channels"
            layer = replace(layer, **{field: 2 * getattr(layer, field)})
            squeezed = not squeezed
        elif widen is not None:
            if layer.kernel != (1, 1) or layer.groups != 1:
                raise ValueError(f"{layer.where}: the full FuSe variant of {widen.name} needs "
                                 f"a 1x1 ungrouped layer after it, got kernel {layer.kernel}")
            layer, widen = replace(layer, in_channels=2 * layer.in_channels), None
        if layer.name not in targets:
            out.append(layer)
            continue
        channels = layer.in_channels
        if variant == "half" and channels % 2:
            raise ValueError(f"{layer.where}: in_channels must be even for the half FuSe "
                             f"variant, got {channels}")
        part = channels if variant == "full" else channels // 2
        kernel = layer.kernel[0]
        base = replace(layer, in_channels=part, out_channels=part, groups=part)
        out.append(replace(base, name=f"{layer.name}_row", kernel=(1, kernel)))
        out.append(replace(base, name=f"{layer.name}_col", kernel=(kernel, 1), concat=True))
        widen = layer if variant == "full" else None
    if widen is not None:
        raise ValueError(f"{widen.where}: the full FuSe variant needs a 1x1 layer after it")
    return out
