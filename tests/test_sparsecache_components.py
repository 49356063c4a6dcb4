"""SparseCache's own blocks on Amaranth's simulator, each against its golden-model class.

* :class:`AddressMerger` over a TCAM kept in Python: the chain of merges, one per cycle, and
  the stall input, against ``NullCache.merge_step``.
* :class:`NullCache`: random inserts, removes (exact splits and drops) and touches, each
  command run until done and the merger idle, then slots and ranks compared with the model.
* :class:`L1Cache`: random reads and updates against the model ``L1Cache`` (hit, hit way,
  victim, dirty bits and data).
* :class:`SparseCacheConfig` errors, and deterministic generation of the top level.

Seeds are fixed and in the test names. The whole hierarchy's cycle timing is checked on
Verilator in ``test_sparsecache_rtl.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from accelgen.generators.sparsecache.address_merger import AddressMerger
from accelgen.generators.sparsecache.cache_config import SparseCacheConfig
from accelgen.generators.sparsecache.config import ConfigError, TcamConfig
from accelgen.generators.sparsecache.l1_cache import L1Cache, L1Update
from accelgen.generators.sparsecache.null_cache import NullCache, NullOp
from accelgen.generators.sparsecache.top import generate_sparsecache
from accelgen.sim.sparsecache.l1 import L1Cache as L1Model
from accelgen.sim.sparsecache.null_cache import NullCache as NullModel
from accelgen.sim.sparsecache.ternary import TernaryEntry


def _run(dut, bench) -> None:
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def _slots(ctx, entries, count: int) -> list[TernaryEntry | None]:
    view = ctx.get(entries)
    return [TernaryEntry(view[i].value, view[i].care) if view[i].valid else None
            for i in range(count)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_address_merger_follows_merge_step(seed: int) -> None:
    width, count = 5, 8
    cfg = TcamConfig(entries=count, key_width=width)
    dut = AddressMerger(cfg)
    rng = np.random.default_rng(seed)
    model = NullModel(count, width, "lru")
    full = (1 << width) - 1
    # A chain of three merges waits for the new key k: k ^ 1 exact, then k ^ 2 with bit 0 X,
    # then k ^ 4 with bits 0 and 1 X; a random exact decoy is left in between.
    key = int(rng.integers(0, 1 << width))
    chain = [TernaryEntry(key ^ 1, full), TernaryEntry((key ^ 2) & ~1, full & ~1),
             TernaryEntry((key ^ 4) & ~3, full & ~3),
             TernaryEntry(int(rng.integers(0, 1 << width)), full)]
    order = rng.permutation(count - 1)
    for position, entry in zip(order, chain, strict=False):
        model.place(int(position), entry)
    start = int(order[-1])
    model.place(start, TernaryEntry(key, full))
    initial = list(model.slots)
    stalls = rng.random(40) < 0.3
    trace: list[tuple[int, int]] = []  # (cycle, merged slot)

    async def bench(ctx):
        tcam = list(initial)
        ctx.set(dut.start.en, 1)
        ctx.set(dut.start.index, start)
        ctx.set(dut.start.value, tcam[start].value)
        ctx.set(dut.start.care, tcam[start].care)
        await ctx.tick()
        ctx.set(dut.start.en, 0)
        for cycle, stall in enumerate(stalls):
            ctx.set(dut.entries, [{"value": e.value, "care": e.care, "valid": 1} if e else
                                  {"value": 0, "care": 0, "valid": 0} for e in tcam])
            ctx.set(dut.stall, int(stall))
            busy = ctx.get(dut.busy)
            if ctx.get(dut.write.en):
                low, high = ctx.get(dut.write.index), ctx.get(dut.invalidate.index)
                assert ctx.get(dut.invalidate.en) and ctx.get(dut.touch.en) and busy
                assert not stall
                tcam[low] = TernaryEntry(ctx.get(dut.write.value), ctx.get(dut.write.care))
                tcam[high] = None
                trace.append((cycle, low))
            elif busy and not stall:
                trace.append((cycle, -1))  # searched, found nothing: idle next cycle
            await ctx.tick()
        assert not ctx.get(dut.busy)
        assert tcam == model_final

    # The model: one merge per non-stalled cycle, then one cycle to find no partner.
    expected = []
    current: int | None = start
    for cycle, stall in enumerate(stalls):
        if current is None or stall:
            continue
        merged = model.merge_step(current)
        expected.append((cycle, -1 if merged is None else merged))
        current = merged
    model_final = list(model.slots)
    assert sum(merged >= 0 for _, merged in expected) >= 3
    _run(dut, bench)
    assert trace == expected


@pytest.mark.parametrize("replacement", ["coverage_lru", "lru"])
@pytest.mark.parametrize("seed", [4, 5])
def test_null_cache_commands_match_the_model(replacement: str, seed: int) -> None:
    width, count = 4, 5
    dut = NullCache(TcamConfig(entries=count, key_width=width), replacement)
    model = NullModel(count, width, replacement)
    rng = np.random.default_rng(seed)
    checked = []

    async def wait_idle(ctx):
        for _ in range(4 * width + 4):
            if not ctx.get(dut.busy):
                return
            await ctx.tick()
        raise AssertionError("the merger never went idle")

    async def bench(ctx):
        for step in range(150):
            key = int(rng.integers(0, 1 << width))
            await wait_idle(ctx)
            ctx.set(dut.key, key)
            covered = model.lookup(key)
            assert bool(ctx.get(dut.hit)) == (covered is not None), f"step {step} key {key}"
            if covered is not None and rng.random() < 0.4:
                ctx.set(dut.touch, 1)
                await ctx.tick()
                ctx.set(dut.touch, 0)
                model.touch(covered)
            else:
                op = NullOp.REMOVE if covered is not None else NullOp.INSERT
                ctx.set(dut.command.valid, 1)
                ctx.set(dut.command.payload, op)
                for _ in range(width + 3):
                    done = ctx.get(dut.command.ready)
                    await ctx.tick()
                    if done:
                        break
                else:
                    raise AssertionError(f"step {step}: {op} never finished")
                ctx.set(dut.command.valid, 0)
                if op == NullOp.INSERT:
                    inserted = model.insert(key)
                    slot = None if inserted is None else inserted[0]
                    while slot is not None:
                        slot = model.merge_step(slot)
                else:
                    model.remove(key)
                await wait_idle(ctx)
            rtl = (_slots(ctx, dut.entries, count), list(ctx.get(dut.ranks)))
            want = (list(model.slots), list(model.ranks()))
            assert rtl == want, f"step {step} key {key}"
            checked.append(step)

    _run(dut, bench)
    assert len(checked) == 150


@pytest.mark.parametrize("seed", [6, 7])
def test_l1_cache_matches_the_model(seed: int) -> None:
    cfg = SparseCacheConfig(address_bits=10, sets=4, ways=3, line_bytes=4, word_format="int8",
                            null_entries=1)
    dut = L1Cache(cfg)
    model = L1Model(cfg.sets, cfg.ways, cfg.line_bytes)
    rng = np.random.default_rng(seed)

    async def bench(ctx):
        for _ in range(cfg.sets):  # the reset sweep takes one cycle per set
            assert not ctx.get(dut.ready)
            await ctx.tick()
        assert ctx.get(dut.ready)
        for step in range(300):
            line = int(rng.integers(0, 24))
            set_index = model.set_of(line)
            ctx.set(dut.read.en, 1)
            ctx.set(dut.read.line, line)
            await ctx.tick()
            ctx.set(dut.read.en, 0)
            way = model.lookup(line)
            lookup = dut.lookup
            assert bool(ctx.get(lookup.hit)) == (way is not None), f"step {step}"
            victim = model.victim(set_index)
            old = model.way(set_index, victim)
            assert ctx.get(lookup.victim_way) == victim
            assert ctx.get(lookup.victim_valid) == (old is not None)
            if old is not None:
                assert ctx.get(lookup.victim_line) == old.line
                assert ctx.get(lookup.victim_dirty) == old.dirty
                assert ctx.get(lookup.victim_data) == int.from_bytes(old.data, "little")
            data = bytes(rng.integers(0, 256, cfg.line_bytes, dtype=np.uint8))
            dirty = bool(rng.integers(0, 2))
            if way is not None:
                assert ctx.get(lookup.hit_way) == way
                content = model.way(set_index, way)
                assert ctx.get(lookup.hit_data) == int.from_bytes(content.data, "little")
                choice = rng.integers(0, 3)
                op = [L1Update.TOUCH, L1Update.WRITE, L1Update.INVALIDATE][choice]
                if op == L1Update.TOUCH:
                    model.touch(set_index, way)
                elif op == L1Update.WRITE:
                    model.fill(line, way, data, dirty)
                else:
                    model.invalidate(set_index, way)
                target = way
            else:
                op, target = L1Update.WRITE, victim
                model.fill(line, victim, data, dirty)
            ctx.set(dut.update.op, op)
            ctx.set(dut.update.way, target)
            ctx.set(dut.update.data, int.from_bytes(data, "little"))
            ctx.set(dut.update.dirty, int(dirty))
            await ctx.tick()
            ctx.set(dut.update.op, L1Update.NONE)

    _run(dut, bench)


@pytest.mark.parametrize(("change", "parameter"), [
    ({"sets": 3}, "sets"),
    ({"line_bytes": 12}, "line_bytes"),
    ({"key_width": 28}, "key_width"),  # 32-bit addresses, 32-byte lines: 27-bit keys
    ({"null_entries": 0}, "null_entries"),
    ({"ways": 0}, "ways"),
    ({"replacement": "fifo"}, "replacement"),
    ({"write_policy": "write_around"}, "write_policy"),
    ({"word_format": "int4"}, "word_format"),
    ({"threshold": 0.5}, "threshold"),
])
def test_config_errors_name_the_parameter(change: dict, parameter: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{parameter}: "):
        SparseCacheConfig(**change)


def test_generation_is_deterministic_and_describes_the_null_cache() -> None:
    cfg = SparseCacheConfig(address_bits=11, sets=2, ways=2, line_bytes=8, word_format="int16",
                            null_entries=4)
    first, second = generate_sparsecache(cfg), generate_sparsecache(cfg)
    assert first.verilog == second.verilog and first.json_text == second.json_text
    derived = first.description["derived"]
    assert derived["key_width"] == 8 and derived["null_cache_bits_per_entry"] == 17
    assert derived["null_cache_bytes"] == 4 * 17 / 8
    assert set(first.description["streams"]) == {"requests", "responses", "memory_requests",
                                                  "memory_responses"}
