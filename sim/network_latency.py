"""Network cycles on any array the generator builds, in closed form: OS or WS, dense or N:M.

:mod:`.network_cycles` times output-stationary arrays step by step, which takes seconds to
tens of seconds per network; a design-space exploration scores thousands of arrays. This module
gives the same counts in O(1) per layer, and extends the mapping to weight-stationary arrays:

* output-stationary: every layer is the step sequence of :func:`.network_cycles.layer_steps`
  (im2col GEMM, per-channel im2col depthwise baseline, FuSe 1-D passes);
* weight-stationary, dense or N:M (``timing.group = M``): a layer is ``groups`` im2col GEMMs
  streamed back to back (``M = out_h * out_w``, ``K = kh * kw * in / groups``,
  ``N = out / groups``), each in the driver's order of :func:`.systolic_cycles.ws_gemm_steps`,
  so a KxK depthwise layer is one ``K = k*k``, ``N = 1`` GEMM per channel, as on an OS array.
  K is the dense reduction depth: an N:M K tile covers ``rows * M`` indices. FuSe layers need
  an output-stationary array.

Why the closed forms are exact (``result_depth`` at least the full-speed depth, see
:func:`full_speed_depth`; otherwise the step schedule is used):

* OS: only a tile's last step is constrained (``rows`` edges after the previous last step);
  with tiles of ``l_0, l_1, ...`` steps the last steps fall at ``l_0 - 1`` and then every
  ``max(l_t, rows)`` edges, and the final tile's bottom row is delivered
  ``2*rows + cols + 2`` edges after its last step. Tiles at least ``rows`` apart deliver on
  disjoint edges, so at most ``rows + cols + 3`` rows are ever pending: the FIFO never waits.
* WS: activations of a K tile go out on consecutive edges (by induction: the previous K tile's
  were consecutive, and each psum arrives ``rows + cols + 3`` edges after its row); a K tile's
  first activation follows the previous one's by ``rows + max(m, cols - 1)`` edges (weights
  wait for the last activation and for ``cols - 1`` edges after the commit) or, when it waits
  for the previous tile's partial sums, ``rows + max(m, cols + 3)``; one activation per edge
  leaves at most ``rows + cols + 2`` rows pending.
* Each multiplier pipeline stage in the PEs (``timing.pe_latency`` above 1) adds one edge to
  every result's delivery, to the partial-sum wait and to the full-speed FIFO depth.

``tests/test_network_latency.py`` compares every formula with :func:`.systolic_cycles.schedule`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cache

from .fuse_cycles import fuse_layer
from .layers import LayerSpec, macs
from .network_cycles import (
    LayerCycles,
    NetworkCycles,
    check_fuse_support,
    group_of,
    layer_mapping,
    layer_steps,
)
from .systolic_cycles import ArrayTiming, Step, schedule, ws_gemm_steps

__all__ = [
    "Gemm",
    "full_speed_depth",
    "layer_gemms",
    "layer_latency",
    "network_latency",
    "os_tiles_cycles",
    "ws_gemms_cycles",
    "ws_layer_steps",
]


@dataclass(frozen=True)
class Gemm:
    """``repeat`` independent ``m x k`` by ``k x n`` GEMMs run back to back."""

    m: int
    k: int
    n: int
    repeat: int = 1


def full_speed_depth(rows: int, cols: int, dataflow: str, pe_latency: int = 1) -> int:
    """The smallest result FIFO at which an always-ready consumer never holds the array back
    (the generator's default ``result_depth``)."""
    return (2 * rows + cols + 3 if dataflow == "os" else rows + cols + 3) + pe_latency - 1


def os_tiles_cycles(rows: int, cols: int, runs: Iterable[tuple[int, int]],
                    pe_latency: int = 1) -> int:
    """Cycles of an output-stationary step sequence given as runs of ``(tile_length, count)``:
    ``count`` tiles of ``tile_length`` steps each (the last of them flagged ``last``)."""
    total = 0
    first = True
    for length, count in runs:
        if count <= 0:
            continue
        if first:
            total += length + max(length, rows) * (count - 1)
            first = False
        else:
            total += max(length, rows) * count
    return 0 if first else total + 2 * rows + cols + 2 + pe_latency - 1


def ws_gemms_cycles(timing: ArrayTiming, gemms: Sequence[Gemm]) -> int:
    """Cycles of weight-stationary GEMMs streamed back to back in the driver's order."""
    rows, cols = timing.rows, timing.cols
    extra = timing.pe_latency - 1  # multiplier stages delay every partial sum
    start = rows  # edge of the current K tile's first activation
    previous_m: int | None = None  # activations of the previous K tile
    for gemm in gemms:
        if gemm.repeat <= 0:
            continue
        if previous_m is not None:  # a new GEMM waits only for weights
            start += rows + max(previous_m, cols - 1)
        k_tiles = math.ceil(gemm.k / (rows * timing.group))
        sequences = gemm.repeat * math.ceil(gemm.n / cols)  # each k_tiles K tiles long
        start += sequences * (k_tiles - 1) * (rows + max(gemm.m, cols + 3 + extra))
        start += (sequences - 1) * (rows + max(gemm.m, cols - 1))
        previous_m = gemm.m
    if previous_m is None:
        return 0
    return start + previous_m + rows + cols + 2 + extra


def layer_gemms(layer: LayerSpec) -> list[Gemm]:
    """The im2col GEMMs a (non-FuSe) layer runs as: one per group."""
    kernel_h, kernel_w = layer.kernel
    return [Gemm(layer.out_height * layer.out_width,
                 kernel_h * kernel_w * layer.in_channels // layer.groups,
                 layer.out_channels // layer.groups, layer.groups)]


def _os_runs(rows: int, cols: int, layer: LayerSpec) -> list[tuple[int, int]]:
    mapping = layer_mapping(layer)
    if mapping.startswith("fuse_"):
        fused = fuse_layer(layer.in_channels, layer.height, layer.width, max(layer.kernel),
                           layer.stride, layer.padding, mapping[5:], cols)
        ends = [t for t, last in enumerate(fused.stream.last) if last]
        lengths = [ends[0] + 1] + [b - a for a, b in itertools.pairwise(ends)]
        trailing = len(fused.stream.last) - 1 - ends[-1]  # join the next pass's first tile
        passes = math.ceil(fused.convs / rows)
        runs = [(length, 1) for length in lengths]
        if passes > 1:
            later = [(lengths[0] + trailing, 1)] + [(length, 1) for length in lengths[1:]]
            runs += later * (passes - 1) if len(later) > 1 else [(later[0][0], passes - 1)]
        return runs
    (gemm,) = layer_gemms(layer)
    if mapping == "depthwise_im2col":  # per channel: M = out_h * out_w, K = k*k, N = 1
        return [(gemm.k, gemm.repeat * math.ceil(gemm.m / rows))]
    tiles = math.ceil(gemm.m / rows) * math.ceil(gemm.n / cols)
    return [(gemm.k, gemm.repeat * tiles)]


def ws_layer_steps(timing: ArrayTiming, layer: LayerSpec) -> list[Step]:
    """The weight-stationary step sequence of ``layer`` (for the schedule; slow)."""
    steps: list[Step] = []
    produced = 0
    for gemm in layer_gemms(layer):
        for _ in range(gemm.repeat):
            part = ws_gemm_steps(timing.rows, timing.cols, gemm.m, gemm.k, gemm.n, timing.group)
            steps += [replace(s, after=s.after + produced) if s.after is not None else s
                      for s in part]
            produced += sum(1 for s in part if s.kind == "activations")
    return steps


def _check_layer(timing: ArrayTiming, layer: LayerSpec) -> None:
    if timing.dataflow == "ws" and layer_mapping(layer).startswith("fuse_"):
        raise ValueError(f"{layer.where}: kernel {layer.kernel} is a FuSe layer, which needs "
                         f"an output-stationary array, got dataflow ws")


@cache
def _latency(timing: ArrayTiming, layer: LayerSpec) -> int:
    exact = timing.result_depth >= full_speed_depth(timing.rows, timing.cols, timing.dataflow,
                                                    timing.pe_latency)
    if timing.dataflow == "os":
        if exact:
            return os_tiles_cycles(timing.rows, timing.cols,
                                   _os_runs(timing.rows, timing.cols, layer), timing.pe_latency)
        return schedule(timing, layer_steps(timing.rows, timing.cols, layer)).cycles
    if exact:
        return ws_gemms_cycles(timing, layer_gemms(layer))
    return schedule(timing, ws_layer_steps(timing, layer)).cycles


def layer_latency(timing: ArrayTiming, layer: LayerSpec) -> int:
    """Cycles of one layer alone on the array, from its first step to its last result."""
    _check_layer(timing, layer)
    key = replace(layer, name="layer", network="", concat=False)
    return _latency(timing, key)


def network_latency(timing: ArrayTiming, layers: Iterable[LayerSpec], *,
                    max_kernel: int | None = None) -> NetworkCycles:
    """Every layer's cycles and (dense) MACs, layers back to back with no overlap, on an OS or
    WS array; ``max_kernel`` rejects FuSe layers the array's drivers do not accept."""
    layers = list(layers)
    for layer in layers:
        _check_layer(timing, layer)
        check_fuse_support(timing, layer, max_kernel)
    return NetworkCycles(tuple(
        LayerCycles(layer.name, group_of(layer), layer_mapping(layer),
                    layer_latency(timing, layer), macs(layer))
        for layer in layers), timing.rows * timing.cols)
