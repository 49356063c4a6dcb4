"""Ternary entries of the null cache: exhaustive checks of covering, merging and splitting.

Key sets are computed by brute force over every key of a small width and compared with what
``TernaryEntry`` claims, so the algebra is checked against its definition, not against itself.
"""

from __future__ import annotations

import itertools

import pytest

from accelgen.sim.sparsecache.ternary import TernaryEntry, lowest_match


def all_entries(width: int) -> list[TernaryEntry]:
    """Every ternary entry of ``width`` bits (3**width of them), from 0/1/X strings."""
    return [TernaryEntry.from_pattern("".join(chars))
            for chars in itertools.product("01X", repeat=width)]


def covered(entry: TernaryEntry, width: int) -> frozenset[int]:
    """Keys of ``width`` bits the entry covers, by reading its pattern character by character."""
    pattern = entry.pattern(width)
    keys = set()
    for key in range(1 << width):
        bits = format(key, f"0{width}b")
        if all(p in ("X", b) for p, b in zip(pattern, bits, strict=True)):
            keys.add(key)
    return frozenset(keys)


@pytest.fixture(scope="module")
def width4() -> list[tuple[TernaryEntry, frozenset[int]]]:
    return [(entry, covered(entry, 4)) for entry in all_entries(4)]


def test_covers_and_lines_agree_with_the_pattern(width4) -> None:
    for entry, keys in width4:
        assert {key for key in range(16) if entry.covers(key)} == keys
        assert entry.lines(4) == len(keys) == 2 ** entry.x_bits(4)
        assert entry.pattern(4).count("X") == entry.x_bits(4)
        assert TernaryEntry.from_pattern(entry.pattern(4)) == entry


def test_partner_bit_is_symmetric_and_means_hamming_distance_one(width4) -> None:
    for (a, _), (b, _) in itertools.product(width4, repeat=2):
        bit = a.partner_bit(b)
        assert bit == b.partner_bit(a)
        pa, pb = a.pattern(4), b.pattern(4)
        differing = [i for i in range(4) if pa[i] != pb[i]]
        partners = len(differing) == 1 and "X" not in (pa[differing[0]], pb[differing[0]])
        assert (bit is not None) == partners, (pa, pb)
        if partners:
            assert bit == 3 - differing[0]


def test_merge_covers_exactly_the_union(width4) -> None:
    merges = 0
    for (a, keys_a), (b, keys_b) in itertools.product(width4, repeat=2):
        if a.partner_bit(b) is None:
            with pytest.raises(ValueError, match="not merge partners"):
                a.merged(b)
            continue
        merged = a.merged(b)
        merges += 1
        assert merged == b.merged(a)
        assert covered(merged, 4) == keys_a | keys_b
        assert not keys_a & keys_b
        assert merged.x_bits(4) == a.x_bits(4) + 1
    # Each of the 3**4 entries with at least one cared bit has one partner per cared bit.
    assert merges == sum(4 - e.x_bits(4) for e, _ in width4)


@pytest.mark.parametrize("width", [1, 5, 6])
def test_split_covers_the_entry_minus_the_key(width: int) -> None:
    for entry in all_entries(width):
        keys = covered(entry, width)
        x_positions = [b for b in reversed(range(width)) if not (entry.care >> b) & 1]
        for key in keys:
            pieces = entry.split(key, width)
            assert len(pieces) == entry.x_bits(width)
            piece_keys = [covered(p, width) for p in pieces]
            union = frozenset().union(*piece_keys)
            assert union == keys - {key}
            assert sum(map(len, piece_keys)) == len(union), "pieces overlap"
            # Order: piece j decides X bit j counted from the most significant one.
            for j, piece in enumerate(pieces):
                assert piece.care == entry.care | sum(1 << b for b in x_positions[: j + 1])
                assert piece.lines(width) == 2 ** (len(x_positions) - 1 - j)
                assert not piece.covers(key)


@pytest.mark.parametrize("width", [4, 6])
def test_merging_the_pieces_back_gives_the_entry(width: int) -> None:
    for entry in all_entries(width):
        for key in sorted(covered(entry, width))[:3]:
            rebuilt = TernaryEntry.full(key, width)
            for piece in reversed(entry.split(key, width)):
                rebuilt = rebuilt.merged(piece)
            assert rebuilt == entry


def test_full_entry_holds_one_key() -> None:
    entry = TernaryEntry.full(0b1010, 4)
    assert entry == TernaryEntry(0b1010, 0b1111)
    assert entry.x_bits(4) == 0 and entry.lines(4) == 1
    assert [k for k in range(16) if entry.covers(k)] == [0b1010]
    assert entry.split(0b1010, 4) == []
    assert TernaryEntry(0, 0).lines(26) == 2**26


def test_split_example_in_documented_order() -> None:
    # X bits 3, 2 and 0; the key has 0, 1 and 0 there. Largest piece first.
    pieces = TernaryEntry.from_pattern("1XX0X").split(0b10100, 5)
    assert [p.pattern(5) for p in pieces] == ["11X0X", "1000X", "10101"]


def test_lowest_match_skips_invalid_slots_and_prefers_the_lowest_index() -> None:
    table = [None, TernaryEntry.from_pattern("1XXX"), TernaryEntry.from_pattern("XXX1"),
             TernaryEntry.from_pattern("XXXX")]
    assert lowest_match(table, 0b1001) == 1
    assert lowest_match(table, 0b0001) == 2
    assert lowest_match(table, 0b0000) == 3
    assert lowest_match(table[:3], 0b0000) is None
    assert lowest_match([], 5) is None
    assert lowest_match([None, None], 0) is None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"value": -1, "care": 0}, ValueError, "value: must be >= 0"),
        ({"value": 0, "care": -2}, ValueError, "care: must be >= 0"),
        ({"value": 1.0, "care": 1}, TypeError, "value: must be an integer"),
        ({"value": 0, "care": True}, TypeError, "care: must be an integer"),
        ({"value": 0b110, "care": 0b010}, ValueError, "X positions of value must be zero"),
    ],
)
def test_invalid_entries_are_refused(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        TernaryEntry(**kwargs)


def test_invalid_arguments_are_refused() -> None:
    entry = TernaryEntry.from_pattern("1X0")
    with pytest.raises(ValueError, match="key: 0x10 does not fit 4 bits"):
        TernaryEntry.full(16, 4)
    with pytest.raises(ValueError, match="key_width: must be >= 1"):
        TernaryEntry.full(0, 0)
    with pytest.raises(ValueError, match="care: 0x5 has bits above key_width=2"):
        entry.x_bits(2)
    with pytest.raises(ValueError, match="not covered"):
        entry.split(0b000, 3)
    with pytest.raises(ValueError, match="does not fit"):
        entry.split(0b1100, 3)
    with pytest.raises(ValueError, match="key: must be >= 0"):
        entry.covers(-1)
    with pytest.raises(TypeError, match="other: must be a TernaryEntry"):
        entry.partner_bit((4, 5))
    with pytest.raises(ValueError, match="not merge partners"):
        entry.merged(entry)
    with pytest.raises(ValueError, match="pattern"):
        TernaryEntry.from_pattern("10Z")
    with pytest.raises(ValueError, match="pattern"):
        TernaryEntry.from_pattern("")
