"""DNN inference traces for SparseCache: shapes, pruning, loop nests, sampling, the file format.

The loop nests are checked two independent ways: against a plain Python loop nest written here
from the kernels' docstring, and semantically, by running a trace through the golden model and
recomputing every output from the operands it actually loaded (which must give the stored
value). Traces come from a tiny synthetic network (a padded, grouped convolution with ReLU,
max-pooling, a fully connected layer) so that the tests stay fast; seeds are fixed and named.
"""

from __future__ import annotations

import itertools
import struct
from pathlib import Path

import numpy as np
import pytest

from accelgen.sim.sparsecache.hierarchy import Op, SparseCacheModel
from accelgen.sim.sparsecache.memory import LineMemory
from accelgen.sim.sparsecache.params import SparseCacheParams
from accelgen.sim.workloads.kernels import GAPS, layer_records, output_costs, relu_records
from accelgen.sim.workloads.layout import ALIGN, BASE, Layout
from accelgen.sim.workloads.networks import NETWORKS, Layer, Network, Tensor, network
from accelgen.sim.workloads.pruning import prune
from accelgen.sim.workloads.replay import OpCounts, replay
from accelgen.sim.workloads.sampling import Sampling, plan_pieces, plan_windows
from accelgen.sim.workloads.trace_format import (
    HEAD,
    RECORD_DTYPE,
    STORE,
    WARMUP,
    TraceFormatError,
    TraceReader,
    TraceWriter,
)
from accelgen.sim.workloads.traces import generate_trace
from accelgen.sim.workloads.values import network_values, zero_near_zero_lines

SEED = 11
PARAMS = SparseCacheParams(word_format="fp32", sets=8, ways=2, null_entries=8,
                           memory_latency=20)


def tiny() -> Network:
    """Padded grouped conv + ReLU, max-pool, FC + ReLU, FC: every loop kind, small."""
    tensors = {t.name: t for t in (Tensor("data", 4, 9, 9), Tensor("conv", 6, 9, 9),
                                   Tensor("pool", 6, 4, 4), Tensor("fc1", 20),
                                   Tensor("fc2", 5))}
    layers = (
        Layer("conv", "conv", "data", "conv", 4, 6, kernel=3, padding=1, groups=2, relu=True,
              weight_density=0.5, activation_density=0.4),
        Layer("pool", "maxpool", "conv", "pool", 6, 6, kernel=2, stride=2),
        Layer("fc1", "fc", "pool", "fc1", 96, 20, relu=True, weight_density=0.3,
              activation_density=0.5),
        Layer("fc2", "fc", "fc1", "fc2", 20, 5, weight_density=0.6),
    )
    return Network("tiny", tensors, layers)


# -- network shapes ------------------------------------------------------------------------
def _weights(name: str) -> int:
    net = network(name)
    return sum(layer.out_channels * (layer.in_channels // layer.groups) * layer.kernel ** 2
               for layer in net.layers if layer.has_weights)


def test_weight_counts_match_the_published_models() -> None:
    assert _weights("lenet5") == 500 + 25_000 + 400_000 + 5_000  # Deep Compression Table 2
    assert _weights("alexnet") == 60_954_656  # 61M; conv2 grouped: 307,200
    assert _weights("vgg16") == 138_344_128
    assert _weights("squeezenet") == 1_244_448  # 1,248,424 with biases (SqueezeNet Table 1)


def test_squeezenet_pruned_size_matches_its_table() -> None:
    net = network("squeezenet")
    kept = sum(layer.out_channels * layer.in_channels * layer.kernel ** 2
               * layer.weight_density for layer in net.layers if layer.has_weights)
    assert abs(kept - 421_098) / 421_098 < 0.002  # weights only; the table's total


def test_every_network_checks_and_an_unknown_one_is_named() -> None:
    for name in NETWORKS:
        network(name).check()
    with pytest.raises(ValueError, match="unknown network 'resnet'"):
        network("resnet")


def test_a_shape_mismatch_is_caught() -> None:
    net = tiny()
    bad = Network("bad", {**net.tensors, "pool": Tensor("pool", 6, 5, 5)}, net.layers)
    with pytest.raises(ValueError, match="bad/pool: output is 4x4"):
        bad.check()


# -- pruning -------------------------------------------------------------------------------
def test_fine_pruning_keeps_the_largest_magnitudes() -> None:
    rng = np.random.default_rng(SEED)
    w = rng.standard_normal((16, 50)).astype(np.float32)
    pruned = prune(w, 0.3)
    assert np.count_nonzero(pruned) == round(0.3 * w.size)
    assert np.abs(w[pruned == 0]).max() <= np.abs(w[pruned != 0]).min()


def test_coarse_pruning_removes_whole_aligned_groups() -> None:
    rng = np.random.default_rng(SEED)
    w = rng.standard_normal((10, 64)).astype(np.float32)
    pruned = prune(w, 0.25, "coarse", group=8).reshape(10, 8, 8)
    zero_groups = np.all(pruned == 0, axis=2)
    assert np.all(np.all(pruned != 0, axis=2) | zero_groups)  # groups are all or nothing
    assert np.count_nonzero(~zero_groups) == 20


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"density": 0}, "density"), ({"density": 0.5, "granularity": "rows"}, "granularity"),
    ({"density": 0.5, "group": 0}, "group")])
def test_pruning_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        prune(np.ones((2, 8)), **kwargs)


# -- layout and loop nests -----------------------------------------------------------------
def test_layout_regions_are_aligned_disjoint_and_found() -> None:
    layout = Layout(network("alexnet"))
    regions = sorted(layout.regions.values(), key=lambda r: r.base)
    assert regions[0].base == BASE
    for a, b in itertools.pairwise(regions):
        assert a.base % ALIGN == 0 and a.end <= b.base
    fc6 = layout.weights("fc6")
    assert layout.region_at(fc6.base + 8) == fc6
    assert layout.region_at(fc6.end + 1) is None or layout.region_at(fc6.end + 1) != fc6
    assert layout.end < 1 << 32


def _reference_records(net: Network, layout: Layout, layer: Layer, pre: np.ndarray
                       ) -> list[tuple[int, int, int, int]]:
    """(op, address, value bits, gap) of the layer's loop, written as plain loops."""
    out = []
    src = net.tensors[layer.input]
    oh, ow = net.output_size(layer)
    xb, yb = layout.tensor(layer.input).base, layout.tensor(layer.output).base
    bits = pre.astype(np.float32).view(np.uint32).reshape(-1)
    first = layer.output_offset * oh * ow
    if layer.kind == "fc":
        wb, bb = layout.weights(layer.name).base, layout.bias(layer.name).base
        for j in range(layer.out_channels):
            out.append((0, bb + 4 * j, 0, GAPS["bias"]))
            for i in range(layer.in_channels):
                out.append((0, wb + 4 * (j * layer.in_channels + i), 0, GAPS["weight"]))
                out.append((0, xb + 4 * i, 0, GAPS["input"]))
            out.append((1, yb + 4 * j, int(bits[j]), GAPS["store"]))
        return out
    index = 0
    for oc in range(layer.out_channels):
        for oy in range(oh):
            for ox in range(ow):
                if layer.kind == "conv":
                    wb, bb = layout.weights(layer.name).base, layout.bias(layer.name).base
                    cin = layer.in_channels // layer.groups
                    group = oc // (layer.out_channels // layer.groups)
                    out.append((0, bb + 4 * oc, 0, GAPS["bias"]))
                    for ic in range(cin):
                        for ky in range(layer.kernel):
                            for kx in range(layer.kernel):
                                y = oy * layer.stride - layer.padding + ky
                                x = ox * layer.stride - layer.padding + kx
                                if 0 <= y < src.height and 0 <= x < src.width:
                                    t = (ic * layer.kernel + ky) * layer.kernel + kx
                                    c = group * cin + ic
                                    out.append((0, wb + 4 * (oc * cin * layer.kernel ** 2 + t),
                                                0, GAPS["weight"]))
                                    out.append((0, xb + 4 * ((c * src.height + y) * src.width
                                                             + x), 0, GAPS["input"]))
                    gap = GAPS["store"]
                else:
                    for ky in range(layer.kernel):
                        for kx in range(layer.kernel):
                            y, x = oy * layer.stride + ky, ox * layer.stride + kx
                            out.append((0, xb + 4 * ((oc * src.height + y) * src.width + x), 0,
                                        GAPS["pool"]))
                    gap = GAPS["pool"]
                out.append((1, yb + 4 * (first + index), int(bits[index]), gap))
                index += 1
    return out


@pytest.mark.parametrize("name", ["conv", "pool", "fc1"])
def test_loop_nests_match_plain_loops(name: str) -> None:
    net = tiny()
    layout = Layout(net)
    layer = next(layer for layer in net.layers if layer.name == name)
    oh, ow = net.output_size(layer)
    pre = np.random.default_rng(SEED).standard_normal((layer.out_channels, oh, ow))
    records = layer_records(layer, net, layout, pre.astype(np.float32),
                            np.arange(layer.out_channels * oh * ow))
    got = list(zip(records["op"].tolist(), records["address"].tolist(),
                   records["value"].tolist(), records["gap"].tolist(), strict=True))
    assert got == _reference_records(net, layout, layer, pre)
    assert len(records) == int(output_costs(layer, net).sum())


def test_relu_loop_loads_and_stores_every_element() -> None:
    net = tiny()
    layout = Layout(net)
    layer = net.layers[0]
    pre = np.linspace(-1, 1, 6 * 81, dtype=np.float32).reshape(6, 9, 9)
    records = relu_records(layer, net, layout, pre, np.arange(10, 20))
    assert records["op"].tolist() == [0, 1] * 10
    assert np.array_equal(records["address"][::2], records["address"][1::2])
    assert np.array_equal(records["value"][1::2].view(np.float32),
                          np.maximum(pre.reshape(-1)[10:20], 0))


# -- values --------------------------------------------------------------------------------
def test_synthetic_values_meet_the_published_densities() -> None:
    densities = {v.layer.name: (np.count_nonzero(v.weights) / v.weights.size
                                if v.weights is not None else None,
                                np.count_nonzero(v.post) / v.post.size)
                 for v in network_values(tiny(), SEED)}
    assert densities["conv"][0] == pytest.approx(0.5, abs=0.01)
    assert densities["conv"][1] == pytest.approx(0.4, abs=0.15)  # per-channel Beta spread
    assert densities["fc1"] == pytest.approx((0.3, 0.5), abs=0.01)


def test_near_zero_lines_are_zeroed_whole() -> None:
    x = np.array([0.01] * 8 + [0.01] * 7 + [0.5] + [0.001] * 3, dtype=np.float32)
    out = zero_near_zero_lines(x, 0.05)
    assert np.all(out[:8] == 0) and np.array_equal(out[8:16], x[8:16])
    assert np.all(out[16:] == 0)  # a partial last line counts as a line


# -- sampling ------------------------------------------------------------------------------
def test_windows_are_sorted_disjoint_and_tile_the_plane_phases() -> None:
    rng = np.random.default_rng(SEED)
    costs = np.full(64 * 50, 1000)
    sampling = Sampling(sample_accesses=4000)
    windows = plan_windows(costs, 0, sampling, 64, rng, period=64)
    coverage = np.zeros(64)
    for a, b in itertools.pairwise(windows):
        assert a.start <= a.measure_from < a.stop <= b.start
    for w in windows:
        coverage[np.arange(w.measure_from, w.stop) % 64] += 1
    assert np.all(coverage == coverage[0])  # every phase measured equally often


def test_long_planes_get_a_head_stratum() -> None:
    rng = np.random.default_rng(SEED)
    costs = np.full(1000 * 40, 1000)
    windows = plan_windows(costs, 0, Sampling(sample_accesses=2000), 8, rng, period=1000)
    heads = [w for w in windows if w.head]
    assert heads and all(w.measure_from % 1000 == 0 for w in heads)
    assert all(w.measure_from % 1000 >= 2 for w in windows if not w.head)


def test_a_cheap_loop_runs_whole() -> None:
    windows = plan_windows(np.full(10, 5), 0, Sampling(), 4, np.random.default_rng(0))
    assert [(w.start, w.measure_from, w.stop) for w in windows] == [(0, 0, 10)]


def test_pieces_warm_every_gap_before_its_window() -> None:
    runs = [(100, 110, "warmup"), (110, 120, "measured"), (500, 520, "measured")]
    pieces = plan_pieces(runs, np.full(1000, 10), Sampling(warming_accesses=1000,
                                                           recent_accesses=200))
    modes = [(p.start, p.stop, p.mode) for p in pieces]
    assert modes == [(0, 100, "warming"), (80, 100, "recent"), (100, 110, "warmup"),
                     (110, 120, "measured"), (120, 500, "warming"), (480, 500, "recent"),
                     (500, 520, "measured"), (520, 1000, "warming")]
    assert pieces[0].step == 10  # 960 skipped outputs x 10 accesses / 1000, rounded up


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"budget": -1}, "budget"), ({"min_samples": 5, "max_samples": 2}, "min_samples"),
    ({"layers": ()}, "layers")])
def test_sampling_rejects_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Sampling(**kwargs)


# -- traces: generation, semantics, determinism --------------------------------------------
@pytest.fixture(scope="module")
def full_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("traces") / "tiny_full.trc"
    generate_trace(path, tiny(), seed=SEED, sampling=Sampling.full())
    return path


def _run_checking_outputs(path: Path) -> tuple[int, int]:
    """Run the trace on the golden model; every stored conv/FC output must equal the bias plus
    the products of the operands the model returned, and every pooling output the max of
    them. Returns (outputs checked, loads)."""
    reader = TraceReader(path)
    model = SparseCacheModel(PARAMS, LineMemory(32, PARAMS.line_address_bits,
                                                reader.line_image(32)), snapshots=False)
    checked = loads = 0
    for op in reader.metadata["ops"]:
        group: list[float] = []
        for record in reader.records[op["first"]:op["first"] + op["count"]]:
            address, value = int(record["address"]), int(record["value"])
            if record["op"] == STORE:
                model.access(Op.STORE, address, value)
                stored = float(np.uint32(value).view(np.float32))
                if op["kind"] in ("conv", "fc"):
                    want = group[0] + sum(a * b for a, b in zip(group[1::2], group[2::2],
                                                                strict=True))
                elif op["kind"] == "maxpool":
                    want = max(group)
                else:
                    want = max(group[0], 0.0)
                assert stored == pytest.approx(want, rel=1e-4, abs=1e-5), op["name"]
                checked += 1
                group = []
            else:
                response = model.access(Op.LOAD, address).response
                group.append(float(np.uint32(response).view(np.float32)))
                loads += 1
    model.check_soundness()
    return checked, loads


def test_full_trace_is_the_inference(full_trace: Path) -> None:
    checked, _ = _run_checking_outputs(full_trace)
    net = tiny()
    assert checked == sum(int(np.prod(net.output_size(la))) * la.out_channels
                          * (2 if la.relu else 1) for la in net.layers)


def test_sampled_trace_loads_what_the_full_run_loads(tmp_path: Path) -> None:
    path = tmp_path / "sampled.trc"
    sampling = Sampling(budget=600, sample_accesses=100, min_samples=2, warmup_accesses=50,
                        warming_accesses=0, recent_lines=0)
    summary = generate_trace(path, tiny(), seed=SEED, sampling=sampling)
    full = sum(op["full_accesses"] for op in summary.metadata["ops"])
    assert summary.records < full
    _run_checking_outputs(path)


def test_warming_loads_only_zero_lines(tmp_path: Path) -> None:
    """Weights never change, so a warming load of a weight line must find it zero in the
    image. (Warming loads are the unmeasured loads of a line's first word with no gap; the
    ordinary ones with no gap are input loads, never weights.)"""
    path = tmp_path / "warm.trc"
    sampling = Sampling(budget=600, sample_accesses=100, min_samples=2, warmup_accesses=0,
                        warming_accesses=5000, recent_lines=0)
    generate_trace(path, tiny(), seed=SEED, sampling=sampling)
    reader = TraceReader(path)
    image = reader.image()
    layout = Layout(tiny())
    weights = [layout.weights(n) for n in ("conv", "fc1", "fc2")]
    records = reader.records
    warm = records[((records["flags"] & WARMUP) != 0) & (records["gap"] == 0)
                   & (records["address"] % 32 == 0)]
    checked = 0
    for address in warm["address"].tolist():
        if any(r.base <= address < r.end for r in weights):
            block = image.get(address - address % 64, bytes(64))
            assert block[address % 64:address % 64 + 32] == bytes(32), hex(address)
            checked += 1
    assert checked


def test_traces_are_reproducible_from_the_seed(tmp_path: Path, full_trace: Path) -> None:
    again = tmp_path / "again.trc"
    generate_trace(again, tiny(), seed=SEED, sampling=Sampling.full())
    assert again.read_bytes() == full_trace.read_bytes()
    other = tmp_path / "other.trc"
    generate_trace(other, tiny(), seed=SEED + 1, sampling=Sampling.full())
    assert other.read_bytes() != full_trace.read_bytes()


def test_a_full_replay_counts_every_access(full_trace: Path) -> None:
    result = replay(full_trace, PARAMS)
    reader = TraceReader(full_trace)
    assert result.total("accesses") == reader.record_count
    assert result.total("l1_hit") + result.total("null_hit") + result.total("miss") \
        == reader.record_count
    assert result.model_stats["miss"] == result.total("miss")


def test_strata_are_scaled_separately() -> None:
    op = OpCounts("x", "conv", full_accesses=1000, head_full_accesses=100)
    op.head.update(accesses=10, miss=5)
    op.counts.update(accesses=90, miss=9)
    assert op.estimate("miss") == pytest.approx(5 * 10 + 9 * 10)
    assert op.estimate("accesses") == pytest.approx(1000)


def test_generation_rejects_bad_arguments(tmp_path: Path) -> None:
    for kwargs, message in (({"granularity": "x"}, "granularity"), ({"seed": -1}, "seed"),
                            ({"sampling": Sampling(layers=("nope",))}, "no layer 'nope'")):
        with pytest.raises(ValueError, match=message):
            generate_trace(tmp_path / "x.trc", tiny(), **kwargs)
        assert not list(tmp_path.iterdir())


# -- the file format -----------------------------------------------------------------------
def _write(path: Path, records: np.ndarray, metadata: dict, blocks: dict | None = None) -> None:
    with TraceWriter(path) as writer:
        writer.write_records(records)
        writer.close(blocks or {}, metadata)


def _records(n: int = 4) -> np.ndarray:
    out = np.zeros(n, dtype=RECORD_DTYPE)
    out["address"] = 64 + 4 * np.arange(n)
    out["op"][-1] = STORE
    out["value"][-1] = 7
    return out


def _metadata(n: int = 4) -> dict:
    return {"format": "test", "word_format": "fp32", "word_bytes": 4,
            "ops": [{"name": "a", "kind": "fc", "layer": "a", "first": 0, "count": n,
                     "measured": n, "full_accesses": n, "head_measured": 0,
                     "head_full_accesses": 0}]}


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "ok.trc"
    _write(path, _records(), _metadata(), {64: bytes(range(64))})
    reader = TraceReader(path)
    assert np.array_equal(reader.records, _records())
    assert reader.image() == {64: bytes(range(64))}
    assert reader.line_image(32) == {2: bytes(range(32)), 3: bytes(range(32, 64))}
    with pytest.raises(ValueError, match="line_bytes"):
        reader.line_image(128)


def _corrupt(path: Path, offset: int, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset:offset + len(data)] = data
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize(("damage", "message"), [
    (lambda p: p.write_bytes(p.read_bytes()[:30]), "shorter than the 64-byte header"),
    (lambda p: _corrupt(p, 0, b"NOTTRACE"), "not a trace file"),
    (lambda p: _corrupt(p, 8, struct.pack("<I", 9)), "version 9 is not supported"),
    (lambda p: p.write_bytes(p.read_bytes()[:-5]), "truncated or corrupt"),
    (lambda p: _corrupt(p, 64, b"\x05"), "checksum mismatch"),
])
def test_damaged_files_are_rejected_with_the_reason(tmp_path: Path, damage, message) -> None:
    path = tmp_path / "bad.trc"
    _write(path, _records(), _metadata())
    damage(path)
    with pytest.raises(TraceFormatError, match=message):
        TraceReader(path)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda r, m: r.__setitem__("op", np.array([0, 3, 0, 1], np.uint8)), "op 3 is neither"),
    (lambda r, m: r.__setitem__("flags", np.array([0, 8, 0, 0], np.uint8)), "unknown flag"),
    (lambda r, m: r.__setitem__("flags", np.array([0, WARMUP | HEAD, 0, 0], np.uint8)),
     "both warm-up and head"),
    (lambda r, m: r.__setitem__("address", np.array([64, 66, 72, 76], np.uint32)),
     "not 4-byte aligned"),
    (lambda r, m: r.__setitem__("value", np.array([0, 5, 0, 7], np.uint32)), "a load carries"),
    (lambda r, m: m["ops"][0].update(count=3, measured=3), "ops cover 3 records"),
    (lambda r, m: m["ops"][0].__setitem__("measured", 2), "says 2 measured"),
    (lambda r, m: m.pop("word_format"), "missing 'word_format'"),
    (lambda r, m: m["ops"][0].__setitem__("first", "0"), r"ops\[0\].first must be a int"),
])
def test_inconsistent_contents_are_rejected(tmp_path: Path, edit, message) -> None:
    records, metadata = _records(), _metadata()
    edit(records, metadata)
    path = tmp_path / "bad.trc"
    _write(path, records, metadata)
    with pytest.raises(TraceFormatError, match=message):
        TraceReader(path)


def test_unsorted_image_and_missing_file_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "img.trc"
    _write(path, _records(), _metadata(), {0: bytes(64), 64: bytes(64)})
    raw = bytearray(path.read_bytes())
    start = 64 + 4 * RECORD_DTYPE.itemsize
    raw[start:start + 16] = struct.pack("<QQ", 64, 0)
    path.write_bytes(bytes(raw))
    with pytest.raises(TraceFormatError, match="not strictly increasing"):
        TraceReader(path, verify_crc=False)
    with pytest.raises(TraceFormatError, match="cannot read it"):
        TraceReader(tmp_path / "missing.trc")


def test_an_aborted_writer_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "never.trc"
    with pytest.raises(RuntimeError), TraceWriter(path) as writer:
        writer.write_records(_records())
        raise RuntimeError("interrupted")
    assert not list(tmp_path.iterdir())
