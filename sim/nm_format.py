"""N:M structured sparsity: the pattern, magnitude pruning, and the compressed weight format.

The weights are the B operand of C = A @ W, shape (K, columns). K is cut into groups of M
consecutive rows (the last group padded with zero rows) and every group of every column keeps
N slots, each a (value, index) pair with the index (``log2(M)`` bits) naming the row inside
the group. The RTL's metadata decoder and the checker must agree on one canonical encoding:

* a group's index set is its non-zero positions, topped up with its lowest zero positions
  (rows past K count as zero positions) until it holds N positions;
* the N slots list that set in strictly ascending order, and each slot's value is the weight
  at its index, so a padding slot is simply a kept zero.

``validate`` accepts any strictly ascending in-range indices (the datapath is correct for all
of them) and checks the canonical choice only when asked, for byte-exact metadata checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .integers import check_range

__all__ = [
    "CompressedWeights",
    "NMPattern",
    "compress",
    "decompress",
    "pack_group",
    "prune_nm",
    "unpack_group",
    "validate",
]


def _as_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}: must be an int, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class NMPattern:
    """At most ``n`` non-zero weights in every ``m`` consecutive weights along K."""

    n: int
    m: int

    def __post_init__(self) -> None:
        n, m = _as_int(self.n, "n"), _as_int(self.m, "m")
        if m not in (2, 4, 8, 16):
            raise ValueError(f"m: must be a power of two in 2..16, got {m}")
        if n < 1:
            raise ValueError(f"n: must be >= 1, got {n}")
        if n >= m:
            raise ValueError(f"n: must be < m ({n}:{m} is dense)" if n == m
                             else f"n: must be < m, got {n}:{m}")
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "m", m)

    def __str__(self) -> str:
        return f"{self.n}:{self.m}"

    @property
    def index_width(self) -> int:
        """Bits of one index: ``log2(m)``."""
        return self.m.bit_length() - 1

    def groups(self, k: int) -> int:
        """Groups along a reduction of length ``k`` (the last one zero-padded)."""
        return -(-k // self.m)


def _group_slice(pattern: NMPattern, k: int, group: int, column: int) -> str:
    """The weights of one group as a numpy slice of W, clipped to the real K rows."""
    low = group * pattern.m
    return f"w[{low}:{min(low + pattern.m, k)}, {column}]"


def _where(pattern: NMPattern, k: int, group: int, column: int) -> str:
    return f"group {group} of column {column} ({_group_slice(pattern, k, group, column)})"


def _grouped(w: np.ndarray, pattern: NMPattern) -> np.ndarray:
    """W zero-padded to whole groups, shape (groups, m, columns)."""
    k, columns = w.shape
    padded = np.zeros((pattern.groups(k) * pattern.m, columns), dtype=w.dtype)
    padded[:k] = w
    return padded.reshape(-1, pattern.m, columns)


def _weight_matrix(w: np.ndarray, kinds: str) -> np.ndarray:
    w = np.asarray(w)
    if w.ndim != 2:
        raise ValueError(f"w: must be a (K, columns) matrix, got shape {w.shape}")
    if w.dtype.kind not in kinds:
        raise TypeError(f"w: must hold numbers of kind {kinds!r}, got dtype {w.dtype}")
    return w


def _canonical_indices(nonzero: np.ndarray, n: int) -> np.ndarray:
    """Non-zero positions topped up with the lowest zero positions, ascending; axis 1 is M."""
    m = nonzero.shape[1]
    position = np.arange(m).reshape(1, m, 1)
    order = np.where(nonzero, 0, m) + position
    return np.sort(np.argsort(order, axis=1)[:, :n], axis=1)


def prune_nm(w: np.ndarray, pattern: NMPattern) -> np.ndarray:
    """Zero all but the ``n`` largest-magnitude weights of every group; shape and dtype kept.

    A weight survives when fewer than ``n`` weights of its group beat it, where a weight beats
    another by larger ``|w|``, or by equal ``|w|`` and a lower row. So ties (``3`` and ``-3``
    too) go to the lower row and the result does not depend on sort stability. Magnitudes are
    exact (``|-128|`` is 128 for int8). Floats are allowed, NaN is not.
    """
    w = _weight_matrix(w, "iufO")
    if w.dtype.kind == "f" and np.isnan(w).any():
        raise ValueError("w: NaN has no magnitude to prune by")
    grouped = _grouped(w, pattern)
    magnitude = np.abs(grouped.astype(object) if w.dtype.kind in "iuO" else grouped)
    position = np.arange(pattern.m).reshape(1, -1, 1)
    beaten = np.zeros(grouped.shape, dtype=np.int64)
    for row in range(pattern.m):
        theirs = magnitude[:, row : row + 1, :]
        beaten += (theirs > magnitude) | ((theirs == magnitude) & (row < position))
    keep = beaten < pattern.n
    pruned = np.where(keep, grouped, np.zeros((), dtype=w.dtype)).astype(w.dtype)
    return pruned.reshape(-1, w.shape[1])[: w.shape[0]]


@dataclass(frozen=True, eq=False)
class CompressedWeights:
    """An N:M-sparse weight matrix as the sparse PEs consume it.

    Attributes
    ----------
    pattern : NMPattern
    values : ndarray of Python ints, shape (groups, n, columns)
        ``values[g, s, c]`` is slot ``s`` of group ``g`` of column ``c``. Object dtype, as in
        the dense golden model, so 64-bit operands stay exact.
    indices : ndarray of uint8, same shape
        Row inside the group; the weight's row in W is ``g * m + indices[g, s, c]``.
    k : int
        K before padding; ``groups == ceil(k / m)``.

    ``values.reshape(-1, columns)`` is the 2-D stream of ``groups * n`` rows a column of
    sparse PEs sees in time (group-major, slot-minor). Construction runs ``validate``, and the
    arrays are read-only copies, so a ``CompressedWeights`` is always well formed.
    """

    pattern: NMPattern
    values: np.ndarray
    indices: np.ndarray
    k: int

    def __post_init__(self) -> None:
        if not isinstance(self.pattern, NMPattern):
            raise TypeError(f"pattern: must be an NMPattern, got {self.pattern!r}")
        k = _as_int(self.k, "k")
        if k < 0:
            raise ValueError(f"k: must be >= 0, got {k}")
        values = np.array(self.values, dtype=object)
        indices = np.array(self.indices)
        _check(self.pattern, values, indices, k, canonical=False)
        object.__setattr__(self, "k", k)
        object.__setattr__(self, "values", np.frompyfunc(int, 1, 1)(values).astype(object))
        object.__setattr__(self, "indices", indices.astype(np.uint8))
        self.values.setflags(write=False)
        self.indices.setflags(write=False)

    @property
    def groups(self) -> int:
        return self.values.shape[0]

    @property
    def columns(self) -> int:
        return self.values.shape[2]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompressedWeights):
            return NotImplemented
        return (self.pattern == other.pattern and self.k == other.k
                and self.values.shape == other.values.shape
                and bool(np.all(self.values == other.values))
                and np.array_equal(self.indices, other.indices))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CompressedWeights(pattern={self.pattern}, k={self.k}, columns={self.columns})"


def _first(mask: np.ndarray) -> tuple[int, int, int] | None:
    """Index (group, slot, column) of the first True of a (groups, n, columns) mask.

    "First" is the lowest group, then column, then slot: the order the reduction runs in.
    """
    hits = np.argwhere(mask.transpose(0, 2, 1))
    if not hits.size:
        return None
    group, column, slot = (int(i) for i in hits[0])
    return group, slot, column


def _check(pattern: NMPattern, values: np.ndarray, indices: np.ndarray, k: int,
           canonical: bool) -> None:
    n, m = pattern.n, pattern.m
    if indices.dtype.kind not in "iu":
        raise TypeError(f"indices: must be integers, got dtype {indices.dtype}")
    if values.ndim != 3 or values.shape != indices.shape:
        raise ValueError(f"values has shape {values.shape} and indices {indices.shape}; "
                         f"both must be (groups, n, columns)")
    expected = (pattern.groups(k), n, values.shape[2])
    if values.shape != expected:
        raise ValueError(f"values and indices have shape {values.shape}, expected {expected} "
                         f"for k={k} and {pattern}")
    if not all(isinstance(v, int | np.integer) and not isinstance(v, bool)
               for v in values.flat):
        raise TypeError("values: must all be integers")

    def fail(at: tuple[int, int, int], problem: str) -> None:
        group, slot, column = at
        raise ValueError(f"{_where(pattern, k, group, column)}, slot {slot}: {problem}")

    index = indices.astype(np.int64)
    if at := _first((index < 0) | (index >= m)):
        fail(at, f"index {index[at]} is outside 0..{m - 1}")
    steps = np.zeros(index.shape, dtype=bool)
    steps[:, 1:] = index[:, 1:] <= index[:, :-1]
    if at := _first(steps):
        fail(at, f"index {index[at]} does not exceed slot {at[1] - 1}'s index "
                 f"{index[at[0], at[1] - 1, at[2]]}: indices must be strictly ascending")
    row = np.arange(index.shape[0]).reshape(-1, 1, 1) * m + index
    if at := _first((row >= k) & (values != 0)):
        fail(at, f"value {values[at]} at index {index[at]} is row {row[at]}, in the zero "
                 f"padding past k={k}")
    if canonical:
        nonzero = np.zeros((index.shape[0], m, index.shape[2]), dtype=bool)
        np.put_along_axis(nonzero, index, values != 0, axis=1)
        if at := _first(index != _canonical_indices(nonzero, n)):
            fail(at, f"index {index[at]} is not canonical: padding slots take the lowest "
                     f"zero positions, giving {_canonical_indices(nonzero, n)[at]}")


def validate(compressed: CompressedWeights, *, canonical: bool = False) -> None:
    """Raise ``ValueError`` naming the first bad group and slot of ``compressed``.

    Checks, in this order, each over the whole matrix: array shapes against ``k`` and the
    pattern; every index in ``0..m-1``; indices strictly ascending (so distinct) in each
    group; no non-zero value placed in the zero padding past ``k``. With ``canonical`` it also
    requires the padding rule of this module, so the metadata is the one ``compress`` emits.
    "First" is the lowest group, then column, then slot.
    """
    _check(compressed.pattern, np.asarray(compressed.values, dtype=object),
           np.asarray(compressed.indices), compressed.k, canonical)


def compress(w: np.ndarray, pattern: NMPattern) -> CompressedWeights:
    """Encode an N:M-sparse integer W (K, columns) in the canonical format of this module.

    A group with more than ``n`` non-zeros is refused, naming the first one (lowest group,
    then lowest column) as a slice of W; ``prune_nm`` makes any W acceptable.
    """
    w = _weight_matrix(w, "iuO")
    grouped = _grouped(w.astype(object), pattern)
    nonzero = grouped != 0
    counts = nonzero.sum(axis=1)
    bad = np.argwhere(counts > pattern.n)
    if bad.size:
        group, column = (int(i) for i in bad[0])
        raise ValueError(f"w is not {pattern} sparse: {_where(pattern, w.shape[0], group, column)}"
                         f" has {counts[group, column]} non-zeros, more than {pattern.n}")
    indices = _canonical_indices(nonzero, pattern.n)
    values = np.take_along_axis(grouped, indices, axis=1)
    return CompressedWeights(pattern, values, indices.astype(np.uint8), w.shape[0])


def decompress(compressed: CompressedWeights) -> np.ndarray:
    """The dense (k, columns) object array; the exact inverse of ``compress``."""
    validate(compressed)
    pattern = compressed.pattern
    grouped = np.zeros((compressed.groups, pattern.m, compressed.columns), dtype=object)
    np.put_along_axis(grouped, compressed.indices.astype(np.intp), compressed.values, axis=1)
    return grouped.reshape(-1, compressed.columns)[: compressed.k]


def pack_group(values: np.ndarray, indices: np.ndarray, *, pattern: NMPattern,
               value_width: int, signed: bool) -> int:
    """One group of one column as the word a sparse PE loads.

    Slot ``s`` occupies bits ``[s * w, (s + 1) * w)`` with ``w = value_width + index_width``:
    the value (two's complement when ``signed``) in the low ``value_width`` bits, the index
    above it. This is ``data.ArrayLayout(data.StructLayout({"value": ..., "index": ...}), n)``
    in Amaranth, whose first field and first element sit at bit 0.
    """
    values = np.asarray(values, dtype=object)
    indices = np.asarray(indices, dtype=object)
    if values.shape != (pattern.n,) or indices.shape != (pattern.n,):
        raise ValueError(f"values and indices must have shape ({pattern.n},), "
                         f"got {values.shape} and {indices.shape}")
    check_range(values, value_width, signed, "values")
    check_range(indices, pattern.index_width, False, "indices")
    slot_width = value_width + pattern.index_width
    word = 0
    for slot, (value, index) in enumerate(zip(values, indices, strict=True)):
        field = (int(value) & ((1 << value_width) - 1)) | (int(index) << value_width)
        word |= field << (slot * slot_width)
    return word


def unpack_group(word: int, *, pattern: NMPattern, value_width: int,
                 signed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of ``pack_group``: (values as Python ints, indices as uint8)."""
    slot_width = value_width + pattern.index_width
    if word < 0 or word >> (slot_width * pattern.n):
        raise ValueError(f"word: must fit {slot_width * pattern.n} unsigned bits, got {word:#x}")
    values = np.zeros(pattern.n, dtype=object)
    indices = np.zeros(pattern.n, dtype=np.uint8)
    for slot in range(pattern.n):
        field = word >> (slot * slot_width)
        value = field & ((1 << value_width) - 1)
        if signed and value >> (value_width - 1):
            value -= 1 << value_width
        values[slot] = value
        indices[slot] = (field >> value_width) & (pattern.m - 1)
    return values, indices
