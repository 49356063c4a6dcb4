"""Memory traces of one pruned network's inference, written to a trace file as they are made.

:func:`generate_trace` runs the network layer by layer (:mod:`.values`), and for each layer
emits the records of its loop (:mod:`.kernels`) and then of its ReLU loop, for the outputs the
sampling plan (:mod:`.sampling`) selects, in chunks. The file (:mod:`.trace_format`) also
holds, for every 64-byte block the trace touches, its contents before the first access:

* weights, biases and the network input hold their values;
* an output tensor holds zeros where its layer's loop runs (a fresh buffer), the layer's
  pre-ReLU values where only its ReLU loop runs (the layer's loop was skipped but its result
  is what the ReLU reads), and the final (post-ReLU) values everywhere else, which is what a
  later layer reads from the skipped part.

So every load of a sampled trace returns what the complete inference would have loaded, and a
full trace (``Sampling.full()``) is exactly the complete inference. The metadata lists each
loop ("op") with its record range, how many records are measured, and the accesses its
complete run has (``full_accesses``), so a replay can scale each op's counts.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .kernels import GAPS, layer_outputs, layer_records, output_costs, relu_records
from .layout import WORD_BYTES, Layout, Region
from .networks import Layer, Network, network
from .pruning import GRANULARITIES
from .sampling import Piece, Sampling, Window, head_outputs, plan_pieces, plan_windows
from .trace_format import BLOCK_BYTES, HEAD, RECORD_DTYPE, STORE, WARMUP, TraceWriter
from .values import LayerValues, network_values

__all__ = ["FORMAT", "OpPlan", "TraceSummary", "generate_trace", "plan_ops"]

FORMAT = "accelgen-sparsecache-trace"
CHUNK_RECORDS = 1 << 20
WARM_LINE_WORDS = 8  # warming tests 32-byte lines


@dataclass(frozen=True)
class OpPlan:
    """One loop and the :class:`~.sampling.Piece` s of it the trace contains, in order."""

    name: str
    kind: str
    layer: Layer
    outputs: int
    full_accesses: int
    pieces: tuple[Piece, ...]
    head_full_accesses: int = 0

    def ranges(self, *modes: str) -> list[tuple[int, int]]:
        return [(p.start, p.stop) for p in self.pieces if p.mode in modes]


@dataclass(frozen=True)
class TraceSummary:
    path: Path
    records: int
    blocks: int
    metadata: dict[str, Any]


def _runs(windows: list[Window]) -> list[tuple[int, int, str]]:
    runs = []
    for w in windows:
        if w.measure_from > w.start:
            runs.append((w.start, w.measure_from, "warmup"))
        runs.append((w.measure_from, w.stop, "head" if w.head else "measured"))
    return runs


def _union(measured: list[tuple[int, int, str]], warm: list[tuple[int, int]]
           ) -> list[tuple[int, int, str]]:
    """Ranges covered by either list, in ``measured``'s mode where it covers them."""
    points = sorted({p for r in measured for p in r[:2]} | {p for r in warm for p in r})
    out: list[tuple[int, int, str]] = []
    for a, b in itertools.pairwise(points):
        mode = next((m for s, e, m in measured if s <= a and b <= e), None)
        if mode is None and any(s <= a and b <= e for s, e in warm):
            mode = "warmup"
        if mode is None:
            continue
        if out and out[-1][1] == a and out[-1][2] == mode:
            out[-1] = (out[-1][0], b, mode)
        else:
            out.append((a, b, mode))
    return out


def _head_accesses(costs: np.ndarray, period: int | None, sampling: Sampling,
                   samples: int) -> int:
    head = head_outputs(costs, period, sampling, samples)
    if not head:
        return 0
    return int(costs[np.arange(costs.size) % period < head].sum())


def plan_ops(net: Network, sampling: Sampling, seed: int) -> list[OpPlan]:
    """The loops the trace runs and the pieces of each."""
    names = {layer.name for layer in net.layers}
    if sampling.layers is not None:
        unknown = [name for name in sampling.layers if name not in names]
        if unknown:
            raise ValueError(f"sampling.layers: {net.name} has no layer {unknown[0]!r}; "
                             f"layers: {', '.join(layer.name for layer in net.layers)}")
    chosen = [(index, layer) for index, layer in enumerate(net.layers)
              if sampling.layers is None or layer.name in sampling.layers]
    total = sum(int(output_costs(layer, net).sum()) + (2 * layer_outputs(layer, net)
                                                        if layer.relu else 0)
                for _, layer in chosen)
    plans = []
    for index, layer in chosen:
        height, width = net.output_size(layer)
        first_word = layer.output_offset * height * width
        rng = np.random.default_rng([seed, 7, index])
        costs = output_costs(layer, net)
        period = height * width if layer.kind != "fc" else None
        samples = sampling.samples_for(int(costs.sum()), total)
        runs = _runs(plan_windows(costs, first_word, sampling, samples, rng, period))
        plans.append(OpPlan(layer.name, layer.kind, layer, costs.size, int(costs.sum()),
                            tuple(plan_pieces(runs, costs, sampling)),
                            _head_accesses(costs, period, sampling, samples)))
        if layer.relu:
            n = layer_outputs(layer, net)
            relu_costs = np.full(n, 2, dtype=np.int64)
            samples = sampling.samples_for(2 * n, total)
            own = _runs(plan_windows(relu_costs, first_word, sampling, samples, rng, period))
            measured = [r for r in own if r[2] != "warmup"]
            warm = [(a, b) for a, b, m in own if m == "warmup"] + [(a, b) for a, b, _ in runs]
            relu_runs = _union(measured, warm)
            plans.append(OpPlan(f"{layer.name}/relu", "relu", layer, n, 2 * n,
                                tuple(plan_pieces(relu_runs, relu_costs, sampling)),
                                _head_accesses(relu_costs, period, sampling, samples)))
    return plans


class _Image:
    """Initial contents of every region, and the blocks the trace has touched so far."""

    def __init__(self, net: Network, layout: Layout):
        self.net = net
        self.layout = layout
        self.arrays: dict[str, np.ndarray] = {}
        self.blocks: dict[int, bytes] = {}

    def set(self, region: Region, values: np.ndarray) -> None:
        flat = np.zeros(-(-region.words * WORD_BYTES // BLOCK_BYTES) * BLOCK_BYTES // WORD_BYTES,
                        dtype=np.float32)
        flat[:region.words] = np.asarray(values, dtype=np.float32).reshape(-1)
        self.arrays[region.key] = flat

    def tensor(self, name: str) -> np.ndarray:
        region = self.layout.tensor(name)
        if region.key not in self.arrays:
            self.set(region, np.zeros(region.words, dtype=np.float32))
        return self.arrays[region.key]

    def touch(self, addresses: np.ndarray) -> None:
        for block in np.unique(addresses // BLOCK_BYTES).tolist():
            address = block * BLOCK_BYTES
            if address in self.blocks:
                continue
            region = self.layout.region_at(address)
            if region is None or region.key not in self.arrays:
                raise AssertionError(f"address {address:#x} touched before its values exist")
            word = (address - region.base) // WORD_BYTES
            data = self.arrays[region.key][word:word + BLOCK_BYTES // WORD_BYTES]
            self.blocks[address] = data.tobytes()


def _initial_output(image: _Image, net: Network, layout: Layout, values: LayerValues,
                    plans: dict[str, OpPlan]) -> None:
    layer = values.layer
    target = image.tensor(layer.output)
    height, width = net.output_size(layer)
    first = layer.output_offset * height * width
    n = layer_outputs(layer, net)
    part = target[first:first + n]
    part[:] = values.post.reshape(-1)
    relu = plans.get(f"{layer.name}/relu")
    if relu is not None:
        for start, stop in relu.ranges("warmup", "measured", "head"):
            part[start:stop] = values.pre.reshape(-1)[start:stop]
    main = plans.get(layer.name)
    if main is not None:
        for start, stop in main.ranges("warmup", "measured", "head"):
            part[start:stop] = 0


def _zero_lines_of(array: np.ndarray) -> np.ndarray:
    """Per 32-byte line (8 words) of ``array`` in storage order: all zero?"""
    flat = np.ascontiguousarray(array, dtype=np.float32).reshape(-1)
    padded = np.zeros(-(-flat.size // WARM_LINE_WORDS) * WARM_LINE_WORDS, dtype=np.float32)
    padded[:flat.size] = flat
    return np.all(padded.reshape(-1, WARM_LINE_WORDS) == 0, axis=1)


def _zero_line_table(plan: OpPlan, values: LayerValues, net: Network, layout: Layout
                     ) -> list[tuple[int, np.ndarray]]:
    """``(region base, zero flag per line)`` of every region the op touches, holding the
    values of the complete run at the time the op runs."""
    layer = values.layer
    target = net.tensors[layer.output]
    after = values.post if plan.kind == "relu" else values.pre
    canvas = np.ones(target.size, dtype=np.float32)
    first = layer.output_offset * target.height * target.width
    canvas[first:first + after.size] = after.reshape(-1)
    table = [(layout.tensor(layer.output).base, _zero_lines_of(canvas))]
    if plan.kind != "relu":
        table.append((layout.tensor(layer.input).base, _zero_lines_of(values.input)))
        if layer.has_weights:
            table.append((layout.weights(layer.name).base, _zero_lines_of(values.weights)))
            table.append((layout.bias(layer.name).base, _zero_lines_of(values.bias)))
    return table


def _warming(records: np.ndarray, table: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """Loads of the distinct zero lines each output's records touch, in first-touch order
    (every output's records end with its store)."""
    address = records["address"].astype(np.int64)
    output = np.concatenate(([0], np.cumsum(records["op"] == STORE)[:-1]))
    zero = np.zeros(address.size, dtype=bool)
    line_bytes = WARM_LINE_WORDS * WORD_BYTES
    for base, flags in table:
        inside = (address >= base) & (address < base + flags.size * line_bytes)
        zero[inside] = flags[(address[inside] - base) // line_bytes]
    lines = address[zero] // line_bytes
    keys = output[zero] * (1 << 32) + lines
    _, first = np.unique(keys, return_index=True)
    lines = lines[np.sort(first)]
    out = np.zeros(lines.size, dtype=RECORD_DTYPE)
    out["address"] = lines * line_bytes
    out["flags"] = WARMUP
    return out


def _recent(records: np.ndarray, lines: int) -> np.ndarray:
    """Loads of the ``lines`` most recently touched distinct 32-byte lines of ``records``,
    least recent first."""
    line_bytes = WARM_LINE_WORDS * WORD_BYTES
    touched = records["address"].astype(np.int64)[::-1] // line_bytes
    distinct, last = np.unique(touched, return_index=True)
    order = np.argsort(last)[:lines][::-1]  # most recent first, then reversed
    out = np.zeros(order.size, dtype=RECORD_DTYPE)
    out["address"] = distinct[order] * line_bytes
    out["flags"] = WARMUP
    return out


def _op_records(plan: OpPlan, values: LayerValues, net: Network, layout: Layout,
                recent_lines: int):
    """Chunks of the op's records, unmeasured ones flagged ``WARMUP``."""
    per_output = 2 if plan.kind == "relu" else int(output_costs(plan.layer, net).max())
    step = max(1, CHUNK_RECORDS // per_output)
    table = None

    def records(outputs: np.ndarray) -> np.ndarray:
        if plan.kind == "relu":
            return relu_records(plan.layer, net, layout, values.pre, outputs)
        return layer_records(plan.layer, net, layout, values.pre, outputs)

    for piece in plan.pieces:
        outputs = piece.outputs()
        if piece.mode == "recent":
            yield _recent(np.concatenate([records(outputs[a:a + step])
                                          for a in range(0, outputs.size, step)]),
                          recent_lines)
            continue
        for a in range(0, outputs.size, step):
            chunk = records(outputs[a:a + step])
            if piece.mode == "warming":
                if table is None:
                    table = _zero_line_table(plan, values, net, layout)
                chunk = _warming(chunk, table)
            elif piece.mode == "warmup":
                chunk["flags"] |= WARMUP
            elif piece.mode == "head":
                chunk["flags"] |= HEAD
            yield chunk


def _density(array: np.ndarray | None) -> float | None:
    return None if array is None else float(np.count_nonzero(array)) / array.size


def _zero_lines(array: np.ndarray, words: int = 8) -> float:
    flat = array.reshape(-1)
    lines = flat[:flat.size // words * words].reshape(-1, words)
    return float(np.mean(np.all(lines == 0, axis=1))) if lines.size else 0.0


def generate_trace(path: Path | str, network_name: str | Network, *, seed: int = 0,
                   granularity: str = "fine", group: int = 8,
                   sampling: Sampling | None = None,
                   lenet_training: dict | None = None) -> TraceSummary:
    """Write the trace of ``network_name``'s inference to ``path`` (atomically).

    ``network_name`` may also be a :class:`~.networks.Network` (tests use tiny ones).
    ``granularity`` and ``group`` choose the pruning (:mod:`.pruning`); ``sampling`` defaults
    to ``Sampling()``. Raises ``ValueError`` naming a bad argument before writing anything.
    """
    if isinstance(network_name, Network):
        net = network_name
        net.check()
    else:
        net = network(network_name)
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity: must be one of {', '.join(GRANULARITIES)}, got "
                         f"{granularity!r}")
    if isinstance(group, bool) or not isinstance(group, int) or group < 1:
        raise ValueError(f"group: must be an integer >= 1, got {group!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: must be an integer >= 0, got {seed!r}")
    sampling = Sampling() if sampling is None else sampling
    plans = plan_ops(net, sampling, seed)
    by_name = {p.name: p for p in plans}
    layout = Layout(net)
    image = _Image(net, layout)
    ops_meta: list[dict[str, Any]] = []
    layers_meta: list[dict[str, Any]] = []
    last = max((index for index, layer in enumerate(net.layers)
                if layer.name in {p.layer.name for p in plans}), default=-1)
    path = Path(path)
    with TraceWriter(path) as writer:
        values_iter = network_values(net, seed, granularity=granularity, group=group,
                                     lenet_training=lenet_training)
        for index, values in enumerate(values_iter):
            if index > last:
                break  # later layers are not traced; their values are not needed
            layer = values.layer
            if layer.input == net.input.name and layout.tensor(layer.input).key \
                    not in image.arrays:
                image.set(layout.tensor(layer.input), values.input)
            if layer.has_weights:
                image.set(layout.weights(layer.name), values.weights)
                image.set(layout.bias(layer.name), values.bias)
            _initial_output(image, net, layout, values, by_name)
            layers_meta.append({
                "name": layer.name, "kind": layer.kind,
                "weight_density": _density(values.weights),
                "published_weight_density": layer.weight_density,
                "weight_zero_lines": None if values.weights is None
                else _zero_lines(values.weights),
                "output_density": _density(values.post),
                "published_activation_density": layer.activation_density,
                "output_zero_lines": _zero_lines(values.post),
            })
            for name in (layer.name, f"{layer.name}/relu"):
                plan = by_name.get(name)
                if plan is None:
                    continue
                first, measured, head = writer.records, 0, 0
                for chunk in _op_records(plan, values, net, layout, sampling.recent_lines):
                    image.touch(chunk["address"].astype(np.int64))
                    writer.write_records(chunk)
                    measured += int(np.count_nonzero((chunk["flags"] & WARMUP) == 0))
                    head += int(np.count_nonzero(chunk["flags"] & HEAD))
                ops_meta.append({
                    "name": plan.name, "kind": plan.kind, "layer": layer.name,
                    "first": first, "count": writer.records - first, "measured": measured,
                    "full_accesses": plan.full_accesses, "outputs": plan.outputs,
                    "head_measured": head, "head_full_accesses": plan.head_full_accesses,
                    "pieces": [[p.start, p.stop, p.mode, p.step] for p in plan.pieces],
                })
            if layer.has_weights:  # a layer's weights are read by that layer only
                del image.arrays[layout.weights(layer.name).key]
        metadata: dict[str, Any] = {
            "format": FORMAT, "network": net.name, "seed": seed,
            "granularity": granularity, "group": group, "sampling": sampling.to_dict(),
            "word_format": "fp32", "word_bytes": WORD_BYTES, "gaps": GAPS,
            "layout": layout.to_list(), "ops": ops_meta, "layers": layers_meta,
            "sources": list(net.sources),
            "full_accesses": sum(op["full_accesses"] for op in ops_meta),
        }
        if net.trained:
            from .lenet_digits import train_lenet

            trained = train_lenet(seed, granularity=granularity, group=group,
                                  **(lenet_training or {}))
            metadata["lenet"] = {"dense_accuracy": trained.dense_accuracy,
                                 "pruned_accuracy": trained.pruned_accuracy,
                                 "test_images": len(trained.test_labels),
                                 "training": trained.settings}
        blocks = len(image.blocks)
        writer.close(image.blocks, metadata)
        return TraceSummary(path, writer.records, blocks, metadata)
