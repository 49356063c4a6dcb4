"""The SparseCache golden model: parameters, the timing table, merging, splitting, replacement,
approximation, and the soundness invariant on every access of random and adversarial traces.

Every trace comes from :mod:`accelgen.sim.sparsecache.stress_traces` with a fixed seed that the
test id names. After each access the model's own invariant check runs, and every load is
compared with a shadow memory that only applies the program's stores (exact mode: equal, with
``-0.0 == +0.0`` for floats; approximate mode: within the threshold).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from accelgen.sim.sparsecache.hierarchy import Op, Outcome, SparseCacheModel
from accelgen.sim.sparsecache.memory import LineMemory
from accelgen.sim.sparsecache.params import SparseCacheParams
from accelgen.sim.sparsecache.stress_traces import CASE_KINDS, StressCase, make_case
from accelgen.sim.sparsecache.ternary import TernaryEntry

L = 7
# 7-bit line addresses, 8-byte lines of four int16 words, 2 sets x 2 ways, 4 null entries.
SMALL = SparseCacheParams(address_bits=10, sets=2, ways=2, line_bytes=8, word_format="int16",
                          null_entries=4, memory_latency=L)

CONFIGS = {
    "int16_wb_coverage": SMALL,
    "int16_wt_lru": replace(SMALL, write_policy="write_through", replacement="lru"),
    "int8_direct_mapped": SparseCacheParams(address_bits=8, sets=2, ways=1, line_bytes=4,
                                            word_format="int8", null_entries=5,
                                            memory_latency=3),
    "int32_approx_lru": SparseCacheParams(address_bits=12, sets=4, ways=2, line_bytes=16,
                                          word_format="int32", null_entries=8, threshold=3,
                                          replacement="lru", memory_latency=2),
    "fp16_exact": SparseCacheParams(address_bits=10, sets=1, ways=2, line_bytes=8,
                                    word_format="fp16", null_entries=6, memory_latency=1),
    "fp32_approx_wt": SparseCacheParams(address_bits=11, sets=2, ways=2, line_bytes=8,
                                        word_format="fp32", null_entries=4, threshold=0.01,
                                        write_policy="write_through", memory_latency=4),
}


def _model(params: SparseCacheParams, image: dict[int, bytes] | None = None) -> SparseCacheModel:
    return SparseCacheModel(params, LineMemory(params.line_bytes, params.line_address_bits,
                                               image or {}))


def _words(params: SparseCacheParams, *words: int) -> bytes:
    return b"".join(w.to_bytes(params.word_bytes, "little") for w in words)


def _value(params: SparseCacheParams, bits: int) -> float:
    dtype = {"int8": "<i1", "int16": "<i2", "int32": "<i4", "fp16": "<f2", "fp32": "<f4"}
    raw = bits.to_bytes(params.word_bytes, "little")
    return float(np.frombuffer(raw, dtype=dtype[params.word_format])[0])


def run_with_shadow(params: SparseCacheParams, case: StressCase) -> SparseCacheModel:
    """Run ``case``; check soundness after every access and every load against a shadow."""
    model = _model(params, case.image)
    shadow: dict[int, int] = {}
    for number, access in enumerate(case.accesses):
        record = model.access(access.op, access.address, access.value, gap=access.gap)
        where = f"{case.name} access {number} ({access.op.value} {access.address:#x})"
        if access.op is Op.STORE:
            shadow[access.address] = access.value
        else:
            if access.address not in shadow:
                line = access.address >> params.offset_bits
                offset = access.address & (params.line_bytes - 1)
                data = LineMemory(params.line_bytes, params.line_address_bits,
                                  case.image).read_line(line)
                shadow[access.address] = int.from_bytes(data[offset:offset + params.word_bytes],
                                                        "little")
            want, got = _value(params, shadow[access.address]), _value(params, record.response)
            if params.approximate:
                assert abs(got - want) <= float(params.threshold), f"{where}: {got} vs {want}"
            elif params.word_format.startswith("int"):
                assert record.response == shadow[access.address], f"{where}: {got} vs {want}"
            else:
                assert got == want, f"{where}: {got} vs {want}"
        assert record.respond > record.accept
        problems = model.soundness_violations()
        assert not problems, f"{where}: {problems}"
    return model


# -- parameters --------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "parameter"), [
    ({"sets": 3}, "sets"),
    ({"sets": 0}, "sets"),
    ({"line_bytes": 12}, "line_bytes"),
    ({"line_bytes": 1}, "line_bytes"),  # smaller than an int16 word
    ({"key_width": 8}, "key_width"),  # the line address has 7 bits
    ({"key_width": 6}, "key_width"),
    ({"null_entries": 0}, "null_entries"),
    ({"ways": 0}, "ways"),
    ({"memory_latency": 0}, "memory_latency"),
    ({"replacement": "fifo"}, "replacement"),
    ({"write_policy": "write_around"}, "write_policy"),
    ({"word_format": "int4"}, "word_format"),
    ({"threshold": -1}, "threshold"),
    ({"threshold": 0.5}, "threshold"),  # integer format
    ({"address_bits": 3}, "line_bytes"),  # 8-byte lines fill the whole address space
    ({"sets": 128}, "sets"),  # no tag bit left
])
def test_bad_parameters_name_the_parameter(change, parameter) -> None:
    with pytest.raises(ValueError, match=rf"^{parameter}: "):
        replace(SMALL, **change)


def test_derived_widths() -> None:
    assert SMALL.line_address_bits == 7 and SMALL.set_bits == 1 and SMALL.tag_bits == 6
    assert SMALL.words_per_line == 4 and SMALL.word_address_bits == 9
    assert replace(SMALL, key_width=7).key_width == 7


# -- the timing table --------------------------------------------------------------------------

def _latency(record) -> int:
    return record.respond - record.accept


def test_timing_of_every_path_write_back() -> None:
    p = SMALL
    nonzero = _words(p, 0, 5, 0, 0)
    image = {2: nonzero, 4: nonzero, 6: nonzero, 9: nonzero}
    m = _model(p, image)
    r = m.load(1 << 3)  # line 1 is zero
    assert (r.outcome, _latency(r), r.response, r.accept) == (Outcome.MISS, L + 4, 0, 0)
    r = m.load(1 << 3, gap=20)
    assert (r.outcome, _latency(r), r.accept) == (Outcome.NULL_HIT, 1, L + 4 + 1 + 20)
    r = m.store((1 << 3) + 2, 0)  # zero word to a covered line: absorbed
    assert (r.outcome, _latency(r)) == (Outcome.NULL_HIT, 1)
    r = m.load((2 << 3) + 2)  # non-zero line 2 into set 0, way 0
    assert (r.outcome, _latency(r), r.response) == (Outcome.MISS, L + 4, 5)
    r = m.load((2 << 3) + 2)
    assert (r.outcome, _latency(r), r.response) == (Outcome.L1_HIT, 1, 5)
    r = m.store((2 << 3) + 4, 9)  # line stays non-zero
    assert (r.outcome, _latency(r)) == (Outcome.L1_HIT, 1)
    r = m.load(4 << 3)  # line 4: set 0, way 1 (clean)
    assert (r.outcome, _latency(r)) == (Outcome.MISS, L + 4)
    r = m.load(6 << 3)  # set 0 full: LRU victim is line 2, dirty
    assert (r.outcome, _latency(r)) == (Outcome.MISS, 2 * L + 5)
    assert m.memory.read_line(2) == _words(p, 0, 5, 9, 0)
    r = m.store((6 << 3) + 2, 0)  # line 6 becomes zero: write, invalidate, insert
    assert (r.outcome, _latency(r)) == (Outcome.L1_HIT, L + 3)
    assert m.l1.lookup(6) is None and m.null.lookup(6) is not None
    r = m.store(12 << 3, 0)  # store miss, merged line zero
    assert (r.outcome, _latency(r)) == (Outcome.MISS, 2 * L + 5)
    r = m.store((12 << 3) + 2, 3)  # non-zero store to an exact covered line: invalidate
    assert (r.outcome, _latency(r)) == (Outcome.MISS, L + 5)
    assert m.null.lookup(12) is None and m.l1.lookup(12) is not None
    assert m.cycles == r.respond + 1
    m.check_soundness()


def test_timing_of_every_path_write_through() -> None:
    p = replace(SMALL, write_policy="write_through")
    m = _model(p, {2: _words(p, 1, 0, 0, 0)})
    r = m.store(2 << 3, 7)  # write miss, non-zero: fetch, write the line, fill
    assert (r.outcome, _latency(r)) == (Outcome.MISS, 2 * L + 5)
    assert m.memory.read_line(2) == _words(p, 7, 0, 0, 0)
    r = m.store((2 << 3) + 2, 8)  # write hit: write the line, fill
    assert (r.outcome, _latency(r)) == (Outcome.L1_HIT, L + 3)
    assert m.memory.read_line(2) == _words(p, 7, 8, 0, 0)
    assert not m.l1.way(0, m.l1.lookup(2)).dirty
    r = m.store((2 << 3) + 2, 0)
    r = m.store(2 << 3, 0)  # line becomes zero
    assert (r.outcome, _latency(r)) == (Outcome.L1_HIT, L + 3)
    assert m.null.lookup(2) is not None
    m.check_soundness()


def test_split_costs_one_cycle_per_piece_after_the_decision() -> None:
    p = SMALL
    m = _model(p)
    for line in range(8):  # lines 0..7 merge into one entry with three X bits
        m.load(line << 3, gap=10)
    m.settle()
    assert [e for e in m.null.slots if e is not None] == [TernaryEntry.from_pattern("0000XXX")]
    r = m.store(5 << 3, 1, gap=10)
    assert (r.outcome, _latency(r)) == (Outcome.MISS, L + 5 + 3)
    assert set(m.null.covered_lines()) == {0, 1, 2, 3, 4, 6, 7}
    # Pieces largest first: into the entry's own slot, then the lowest free slots.
    assert [None if e is None else e.pattern(7) for e in m.null.slots] == [
        "00000XX", "000011X", "0000100", None]
    m.check_soundness()


def test_a_remove_waits_for_the_merger() -> None:
    p = replace(SMALL, memory_latency=1)
    m = _model(p)
    for line in (0, 1, 2):
        m.load(line << 3, gap=10)
    r = m.load(3 << 3, gap=10)  # insert in cycle R; merges in R+1, R+2; idle from R+4
    assert m.settle() == r.respond + 4
    assert [e for e in m.null.slots if e is not None] == [TernaryEntry.from_pattern("00000XX")]
    # Non-zero store right away: LOOKUP R+2, REMOVE from R+3, merger busy in R+3 (W = 1),
    # decision in R+4, split pieces in R+5 and R+6, memory read from R+7.
    s = m.store(2 << 3, 1)
    assert s.accept == r.respond + 1
    assert s.respond == r.respond + 7 + (1 + 1) + 1


def test_a_touch_stalls_the_merger_for_one_cycle() -> None:
    p = replace(SMALL, memory_latency=1)
    m = _model(p)
    for line in (0, 1, 2):
        m.load(line << 3, gap=10)
    r = m.load(3 << 3, gap=10)  # merger busy R+1..R+3 without stalls
    h = m.load(1 << 3)  # null hit: LOOKUP in R+2 touches, the merger skips R+2
    assert h.outcome is Outcome.NULL_HIT and h.respond == r.respond + 2
    assert m.settle() == r.respond + 5


def test_snapshot_shows_a_merge_still_running() -> None:
    p = replace(SMALL, memory_latency=1)
    m = _model(p)
    for line in (0, 1, 2):
        m.load(line << 3, gap=10)
    r = m.load(3 << 3, gap=10)
    # In cycle R + 1 the new slot is written but no merge has happened yet.
    assert sum(e is not None for e in r.state.entries) == 3


def test_insert_waits_for_the_merger() -> None:
    # With L = 1, a store that zeroes an L1 line reaches INSERT 4 cycles after its accept; a
    # chain of four merges started by the access before keeps it waiting one cycle.
    p = replace(SMALL, memory_latency=1, null_entries=8)
    m = _model(p, {16: _words(p, 1, 0, 0, 0)})
    m.load(16 << 3)
    for line in range(15):
        m.load(line << 3, gap=10)
    r = m.load(15 << 3, gap=10)  # four merges: busy R+1..R+5, idle from R+6
    assert m.settle() == r.respond + 6
    assert [e.pattern(7) for e in m.null.slots if e is not None] == ["000XXXX"]
    s = m.store(16 << 3, 0)  # accept R+1, LOOKUP R+2, MEMORY R+3..R+4, INSERT from R+5
    assert s.outcome is Outcome.L1_HIT and s.respond == r.respond + 6


# -- merging, splitting, replacement -----------------------------------------------------------

def test_merges_cover_exactly_the_inserted_lines() -> None:
    p = replace(SMALL, null_entries=8)
    m = _model(p)
    lines = [0, 2, 8, 10, 1, 3, 9, 11]  # strided pairs that build up 0000X0X... then XX
    for line in lines:
        m.load(line << 3, gap=20)
        assert set(m.null.covered_lines()) == set(lines[:lines.index(line) + 1])
    m.settle()
    assert [e.pattern(7) for e in m.null.slots if e is not None] == ["000X0XX"]


def test_split_then_rezero_merges_back() -> None:
    p = SMALL
    m = _model(p)
    for line in range(8):
        m.load(line << 3, gap=10)
    m.store(5 << 3, 1, gap=10)
    m.store(5 << 3, 0, gap=10)  # line 5 is zero again in the L1: written, inserted, merged
    assert m.l1.lookup(5) is None
    m.settle()
    assert [e.pattern(7) for e in m.null.slots if e is not None] == ["0000XXX"]
    m.check_soundness()


def test_split_without_room_drops_the_entry() -> None:
    p = SMALL
    m = _model(p)
    for line in range(4):
        m.load(line << 3, gap=10)  # one entry 00000XX
    for line in (16, 35, 70):  # three unmergeable exact entries fill the TCAM
        m.load(line << 3, gap=10)
    m.settle()
    assert m.null.free_slots() == 0
    r = m.store(1 << 3, 4, gap=10)
    assert m.stats["drops"] == 1 and _latency(r) == L + 5
    assert set(m.null.covered_lines()) == {16, 35, 70}
    m.check_soundness()
    assert m.load(2 << 3).outcome is Outcome.MISS  # coverage was dropped, line 2 re-inserted
    assert m.null.lookup(2) is not None


def _full_tcam(replacement: str) -> SparseCacheModel:
    m = _model(replace(SMALL, replacement=replacement))
    m.load(0, gap=10)
    m.load(1 << 3, gap=10)  # slot 0: 000000X, the least recently used below
    for line in (16, 35, 70):
        m.load(line << 3, gap=10)
    return m


def test_coverage_aware_lru_evicts_the_smallest_entry() -> None:
    m = _full_tcam("coverage_lru")
    m.load(100 << 3, gap=10)
    # The exact entries (1 line each) go first, least recent first: line 16's.
    assert set(m.null.covered_lines()) == {0, 1, 35, 70, 100}


def test_plain_lru_evicts_the_least_recent_entry() -> None:
    m = _full_tcam("lru")
    m.load(100 << 3, gap=10)
    assert set(m.null.covered_lines()) == {16, 35, 70, 100}


def test_recency_follows_hits() -> None:
    m = _full_tcam("lru")
    m.load(0, gap=10)  # hit on the merged entry: it becomes most recent
    m.load(100 << 3, gap=10)
    assert set(m.null.covered_lines()) == {0, 1, 35, 70, 100}


# -- approximation and the plain-L1 baseline ---------------------------------------------------

def test_approximate_mode_treats_near_zero_lines_as_zero() -> None:
    p = replace(SMALL, threshold=2)
    near = _words(p, 1, 0, 0xFFFE, 2)  # 1, 0, -2, 2
    m = _model(p, {3: near})
    r = m.load((3 << 3) + 6)
    assert (r.outcome, r.response) == (Outcome.MISS, 0)
    assert m.load((3 << 3) + 6).outcome is Outcome.NULL_HIT
    m.store((3 << 3) + 2, 0)  # an exact zero is absorbed; memory keeps the real words
    assert m.memory.read_line(3) == near
    r = m.store(3 << 3, 9)  # a non-zero store fetches the real words back
    assert r.outcome is Outcome.MISS
    assert m.load((3 << 3) + 6).response == 2
    assert m.load((3 << 3) + 2).response == 0
    m.check_soundness()


def test_exact_mode_keeps_near_zero_lines_in_the_l1() -> None:
    p = SMALL
    m = _model(p, {3: _words(p, 1, 0, 0, 0)})
    assert m.load(3 << 3).response == 1
    assert m.l1.lookup(3) is not None


def test_the_baseline_never_uses_the_null_cache() -> None:
    p = replace(SMALL, null_cache_enabled=False)
    m = _model(p)
    r = m.load(0)
    assert (r.outcome, _latency(r)) == (Outcome.MISS, L + 4)
    assert m.load(0).outcome is Outcome.L1_HIT
    assert all(e is None for e in m.null.slots)


# -- soundness on random and adversarial traces ------------------------------------------------

SEEDS = (11, 12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", CASE_KINDS)
@pytest.mark.parametrize("label", list(CONFIGS))
def test_soundness_and_values_on_every_access(label: str, kind: str, seed: int) -> None:
    params = CONFIGS[label]
    case = make_case(kind, params, seed)
    print(f"config {label} case {case.name} seed {seed}: {len(case.accesses)} accesses")
    model = run_with_shadow(params, case)
    assert model.cycles > len(case.accesses)


def test_traces_exercise_every_mechanism() -> None:
    """The adversarial kinds really merge, split, drop, evict and wait for the merger."""
    totals: dict[str, int] = {}
    for label in ("int16_wb_coverage", "int16_wt_lru"):
        for kind in CASE_KINDS:
            model = run_with_shadow(CONFIGS[label], make_case(kind, CONFIGS[label], SEEDS[0]))
            for key, count in model.stats.items():
                totals[key] = totals.get(key, 0) + count
    for key in ("merges", "splits", "drops", "evictions", "null_hit", "l1_hit", "miss"):
        assert totals.get(key, 0) > 0, f"no {key} in any trace: {totals}"


def test_the_checks_catch_a_broken_model(monkeypatch) -> None:
    """A null cache that forgets to remove coverage before a store must be caught."""
    from accelgen.sim.sparsecache import null_cache

    def keep(self, key):
        slot = self.lookup(key)
        return null_cache.RemoveResult(slot, (), dropped=False)

    monkeypatch.setattr(null_cache.NullCache, "remove", keep)
    case = make_case("merge_split", SMALL, SEEDS[0])
    with pytest.raises(AssertionError, match=r"both in L1 and covered|covered"):
        run_with_shadow(SMALL, case)


def test_same_seed_same_case() -> None:
    a = make_case("random", SMALL, 5)
    b = make_case("random", SMALL, 5)
    assert a == b and a != make_case("random", SMALL, 6)
    with pytest.raises(ValueError, match=r"^kind: "):
        make_case("nope", SMALL, 1)


def test_access_rejects_bad_addresses_and_values() -> None:
    m = _model(SMALL)
    with pytest.raises(ValueError, match=r"^address: "):
        m.load(1)
    with pytest.raises(ValueError, match=r"^address: "):
        m.load(1 << 10)
    with pytest.raises(ValueError, match=r"^value: "):
        m.store(0, 1 << 16)
    assert Op.LOAD.value == "load"
