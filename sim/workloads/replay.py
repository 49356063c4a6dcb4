"""Run a trace file through the SparseCache golden model and count what happened.

The model (:class:`accelgen.sim.sparsecache.hierarchy.SparseCacheModel`) starts with the
trace's image in memory and performs every record in order, warm-up ones included, with the
record's gap. For the measured records of each op it counts outcomes (L1 hit, null hit,
miss = memory access), memory reads and writes, and cycles: the cycles an access adds are
``respond - previous respond``, so an op's cycles include its gaps (compute) and its waits.

Network totals are estimates: each op's measured counts times ``full_accesses / measured``
(exact for ops run whole). ``merge_histogram`` counts, at every ``histogram_every``-th measured
access, the valid null-cache entries by the number of lines each covers (``2**x_bits``).

In approximate mode (``threshold > 0``) a shadow of the program's memory (the image plus every
store) gives the value each load should return; loads that return something else (a near-zero
line read as zero) are counted with the largest and the summed squared difference.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from accelgen.sim.sparsecache.hierarchy import Op, Outcome, SparseCacheModel
from accelgen.sim.sparsecache.memory import LineMemory
from accelgen.sim.sparsecache.params import SparseCacheParams

from .trace_format import HEAD, STORE, WARMUP, TraceFormatError, TraceReader

__all__ = ["OpCounts", "ReplayResult", "replay"]

COUNTED = ("accesses", "loads", "stores", "l1_hit", "null_hit", "miss", "cycles")


@dataclass
class OpCounts:
    """Measured counts of one op (``counts``: the body stratum or the whole op; ``head``: the
    head stratum) and the accesses of its complete run."""

    name: str
    kind: str
    full_accesses: int
    head_full_accesses: int = 0
    counts: Counter = field(default_factory=Counter)
    head: Counter = field(default_factory=Counter)

    def estimate(self, key: str) -> float:
        """The complete run's count: each stratum's measured count times its full over
        measured accesses (one stratum when the head one was not measured)."""
        head_measured = self.head["accesses"]
        if self.head_full_accesses and head_measured:
            body_measured = self.counts["accesses"]
            body_full = self.full_accesses - self.head_full_accesses
            body = self.counts[key] * body_full / body_measured if body_measured else 0.0
            return body + self.head[key] * self.head_full_accesses / head_measured
        measured = self.counts["accesses"] + head_measured
        total = self.counts[key] + self.head[key]
        return total * self.full_accesses / measured if measured else 0.0


@dataclass
class ReplayResult:
    params: dict[str, Any]
    ops: list[OpCounts]
    model_stats: dict[str, int]
    merge_histogram: dict[int, int]
    approximation: dict[str, float] | None
    records: int
    seconds: float

    def total(self, key: str) -> float:
        """Network estimate of ``key`` (see ``COUNTED``)."""
        return sum(op.estimate(key) for op in self.ops)

    @property
    def miss_rate(self) -> float:
        accesses = self.total("accesses")
        return self.total("miss") / accesses if accesses else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "totals": {key: self.total(key) for key in COUNTED},
            "miss_rate": self.miss_rate,
            "ops": [{"name": op.name, "kind": op.kind, "full_accesses": op.full_accesses,
                     "head_full_accesses": op.head_full_accesses,
                     "measured": dict(op.counts), "measured_head": dict(op.head),
                     "estimate": {key: op.estimate(key) for key in COUNTED}}
                    for op in self.ops],
            "model_stats": self.model_stats,
            "merge_histogram": {str(k): v for k, v in sorted(self.merge_histogram.items())},
            "approximation": self.approximation,
            "records": self.records,
            "seconds": self.seconds,
        }


def _word_reader(image: dict[int, bytes], word_bytes: int):
    def read(address: int) -> int:
        block = image.get(address - address % 64)
        if block is None:
            return 0
        offset = address % 64
        return int.from_bytes(block[offset:offset + word_bytes], "little")
    return read


def replay(trace: TraceReader | Path | str, params: SparseCacheParams, *,
           histogram_every: int = 4096, limit: int | None = None) -> ReplayResult:
    """Run ``trace`` (a reader or a path) on a model with ``params``.

    ``limit`` stops after that many records (tests). Raises :class:`TraceFormatError` for a
    bad file and ``ValueError`` when the trace and ``params`` do not fit together.
    """
    reader = trace if isinstance(trace, TraceReader) else TraceReader(trace)
    meta = reader.metadata
    if params.word_bytes != meta["word_bytes"]:
        raise ValueError(f"word_format: the trace has {meta['word_bytes']}-byte words "
                         f"({meta['word_format']}), the cache {params.word_format}")
    started = time.perf_counter()
    memory = LineMemory(params.line_bytes, params.line_address_bits,
                        reader.line_image(params.line_bytes))
    model = SparseCacheModel(params, memory, snapshots=False)
    key_width = params.line_address_bits
    histogram: Counter[int] = Counter()
    approximate = params.approximate and params.null_cache_enabled
    shadow: dict[int, int] = {}
    read_image = _word_reader(reader.image(), params.word_bytes) if approximate else None
    wrong = 0
    worst = 0.0
    squared = 0.0
    dtype = {"fp32": np.float32, "fp16": np.float16}.get(params.word_format)
    ops: list[OpCounts] = []
    done = 0
    previous_respond = -1
    access = model.access
    load, store = Op.LOAD, Op.STORE
    outcomes = {Outcome.L1_HIT: "l1_hit", Outcome.NULL_HIT: "null_hit", Outcome.MISS: "miss"}
    since_histogram = 0
    for op_meta in meta["ops"]:
        counts = OpCounts(op_meta["name"], op_meta["kind"], op_meta["full_accesses"],
                          op_meta["head_full_accesses"])
        ops.append(counts)
        body_counts, head_counts = counts.counts, counts.head
        for chunk in reader.chunks(op_meta["first"], op_meta["count"]):
            if limit is not None and done >= limit:
                break
            if limit is not None:
                chunk = chunk[:limit - done]
            for address, value, gap, kind, flags in zip(
                    chunk["address"].tolist(), chunk["value"].tolist(), chunk["gap"].tolist(),
                    chunk["op"].tolist(), chunk["flags"].tolist(), strict=True):
                is_store = kind == STORE
                record = access(store if is_store else load, address, value, gap=gap)
                if approximate:
                    if is_store:
                        shadow[address] = value
                    else:
                        want = shadow.get(address)
                        if want is None:
                            want = read_image(address)
                        if record.response != want:
                            wrong += 1
                            difference = _difference(want, record.response, dtype)
                            worst = max(worst, difference)
                            squared += difference * difference
                if not flags & WARMUP:
                    c = head_counts if flags & HEAD else body_counts
                    c["accesses"] += 1
                    c["stores" if is_store else "loads"] += 1
                    c[outcomes[record.outcome]] += 1
                    c["cycles"] += record.respond - previous_respond
                    since_histogram += 1
                    if since_histogram >= histogram_every:
                        since_histogram = 0
                        for entry in model.null.slots:
                            if entry is not None:
                                histogram[1 << entry.x_bits(key_width)] += 1
                previous_respond = record.respond
            done += len(chunk)
    model.settle()
    approximation = None
    if approximate:
        approximation = {"loads_changed": wrong, "max_abs_error": worst,
                         "sum_squared_error": squared}
    return ReplayResult(params.to_dict(), ops, dict(model.stats), dict(histogram),
                        approximation, done, time.perf_counter() - started)


def _difference(want: int, got: int, dtype) -> float:
    if dtype is None:
        raise TraceFormatError("approximate replay needs a float word format")
    a = np.array([want], dtype=np.uint32 if dtype == np.float32 else np.uint16).view(dtype)[0]
    b = np.array([got], dtype=np.uint32 if dtype == np.float32 else np.uint16).view(dtype)[0]
    return abs(float(a) - float(b))
