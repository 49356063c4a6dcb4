"""The L1 model against an independent cache simulator, pycachesim (RRZE-HPC, C core).

How: pycachesim's ``Cache(name, sets, ways, cl_size, "LRU", write_back=True,
write_allocate=True)`` is backed by a ``MainMemory`` that both loads from and stores to it.
Every access of a trace goes to both simulators, one word (``length`` = word bytes, aligned,
so never crossing a line); an access is a pycachesim miss when its ``MISS_count`` grows.
pycachesim's store path only sets the dirty bit on a hit and does not update LRU (see
``Cache__store`` in its ``backend.c``), whereas our L1, like the hardware, makes every
accessed way the most recent. So a store goes to pycachesim as a load (allocation, LRU, the
hit/miss count) followed by a store to the same word (the dirty bit).
The hit/miss sequence must match access by access, and the number of dirty lines written
back must equal pycachesim's ``EVICT_count``. Traces: uniform random over a region four
times the cache, strided by one line, by one set period (``sets * line_bytes``, all
conflicts), by three lines, and a mixed hot/cold trace; loads and stores mixed, seeds fixed.

The same comparison runs through the whole hierarchy model (:class:`SparseCacheModel`) with
the null cache disabled, and with it enabled on memory that holds no zero line and stores
that never write zero, where SparseCache must behave exactly like the plain L1.
"""

from __future__ import annotations

import cachesim
import numpy as np
import pytest

from accelgen.sim.sparsecache.hierarchy import Op, Outcome, SparseCacheModel
from accelgen.sim.sparsecache.l1 import L1Cache
from accelgen.sim.sparsecache.memory import LineMemory
from accelgen.sim.sparsecache.params import SparseCacheParams

GEOMETRIES = [(1, 1, 8), (1, 4, 16), (4, 1, 32), (8, 2, 16), (16, 4, 32), (64, 8, 64)]
WORD = 4
ADDRESS_BITS = 20


def _reference(sets: int, ways: int, line_bytes: int):
    memory = cachesim.MainMemory()
    l1 = cachesim.Cache("L1", sets, ways, line_bytes, "LRU", write_back=True,
                        write_allocate=True)
    memory.load_to(l1)
    memory.store_from(l1)
    return cachesim.CacheSimulator(l1, memory), l1


def _trace(kind: str, sets: int, ways: int, line_bytes: int, seed: int, length: int = 3000):
    rng = np.random.default_rng(seed)
    size = sets * ways * line_bytes
    words = np.arange(length)
    if kind == "random":
        addresses = rng.integers(0, 4 * size // WORD, length) * WORD
    elif kind == "line_stride":  # each line twice, the whole sweep 1.5 times the cache
        addresses = ((words // 2) * line_bytes + WORD * (words % 2)) % (3 * size // 2)
    elif kind == "set_stride":
        addresses = (words % (2 * ways + 1)) * sets * line_bytes
    elif kind == "three_lines":
        addresses = ((words // 2) * 3 * line_bytes + WORD * (words % 2)) % (5 * size)
    else:  # hot/cold: 80 % of accesses to an eighth of the cache
        hot = rng.integers(0, max(WORD, size // 8) // WORD, length) * WORD
        cold = rng.integers(0, 16 * size // WORD, length) * WORD
        addresses = np.where(rng.random(length) < 0.8, hot, cold)
    stores = rng.random(length) < 0.35
    return [(int(a), bool(s)) for a, s in zip(addresses, stores, strict=True)]


KINDS = ("random", "line_stride", "set_stride", "three_lines", "hot_cold")


def _reference_outcomes(trace, sets, ways, line_bytes) -> tuple[list[bool], int]:
    simulator, l1 = _reference(sets, ways, line_bytes)
    hits = []
    for address, store in trace:
        before = l1.stats()["MISS_count"]
        simulator.load(address, length=WORD)
        if store:
            simulator.store(address, length=WORD)
        hits.append(l1.stats()["MISS_count"] == before)
    return hits, l1.stats()["EVICT_count"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("sets", "ways", "line_bytes"), GEOMETRIES)
def test_l1_matches_pycachesim(sets: int, ways: int, line_bytes: int, kind: str) -> None:
    seed = 100 + sets + ways + line_bytes
    trace = _trace(kind, sets, ways, line_bytes, seed)
    want, want_writebacks = _reference_outcomes(trace, sets, ways, line_bytes)
    cache = L1Cache(sets, ways, line_bytes)
    got, writebacks = [], 0
    for address, store in trace:
        hit, written_back = cache.access(address // line_bytes, store)
        got.append(hit)
        writebacks += written_back is not None
    first = next((i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w), None)
    assert first is None, f"seed {seed}: access {first} {trace[first]}: ours {got[first]}"
    assert writebacks == want_writebacks
    assert 0 < sum(got) < len(got) or kind == "set_stride"


def _hierarchy_outcomes(trace, sets, ways, line_bytes, enabled: bool) -> list[bool]:
    params = SparseCacheParams(address_bits=ADDRESS_BITS, sets=sets, ways=ways,
                               line_bytes=line_bytes, word_format="int32", null_entries=4,
                               memory_latency=3, null_cache_enabled=enabled)
    lines = {line: bytes([1]) + bytes(line_bytes - 1) for line in
             {address // line_bytes for address, _ in trace}}
    model = SparseCacheModel(params, LineMemory(line_bytes, params.line_address_bits, lines),
                             snapshots=False)
    outcomes = []
    for address, store in trace:
        record = model.access(Op.STORE if store else Op.LOAD, address, 7 if store else 0)
        assert record.outcome is not Outcome.NULL_HIT
        outcomes.append(record.outcome is Outcome.L1_HIT)
    return outcomes


@pytest.mark.parametrize("enabled", [False, True], ids=["baseline", "no_zero_lines"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("sets", "ways", "line_bytes"), [(4, 2, 16), (16, 4, 32)])
def test_hierarchy_l1_matches_pycachesim(sets, ways, line_bytes, kind, enabled) -> None:
    seed = 300 + sets
    trace = _trace(kind, sets, ways, line_bytes, seed, length=1500)
    want, _ = _reference_outcomes(trace, sets, ways, line_bytes)
    assert _hierarchy_outcomes(trace, sets, ways, line_bytes, enabled) == want


def test_the_comparison_can_fail() -> None:
    """A model with the wrong associativity disagrees with pycachesim."""
    trace = _trace("random", 4, 2, 16, 1)
    want, _ = _reference_outcomes(trace, 4, 2, 16)
    cache = L1Cache(4, 1, 16)
    got = [cache.access(address // 16, store)[0] for address, store in trace]
    assert got != want
