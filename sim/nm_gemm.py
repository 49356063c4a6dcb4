"""Golden GEMM on N:M-compressed weights, and the work it saves.

``sparse_gemm`` walks the compressed (value, index) pairs and gathers the A column each index
names; it shares no code with the dense ``gemm`` beyond the integer rules, so comparing the
two checks the compressed format as well as the arithmetic.

Reduction order. Each accumulator adds one product at a time, in ascending K (group by group,
slot by slot; indices ascend within a group), and is reduced to ``acc_width`` after every
addition, exactly like the dense model with the skipped rows left out. Both give the same
result under every overflow rule: a skipped row adds 0, and reducing an in-range accumulator
is the identity (wrap and saturate leave it alone, ``none`` does not raise), so the dense
sequence of accumulator values is the sparse one with repeats. A PE that first adds its N
products in an adder tree and accumulates once per group agrees with this model under
``wrap`` and ``none`` (when nothing overflows) but not under ``saturate``.
"""

from __future__ import annotations

import numpy as np

from .integers import check_range, reduce_to_width
from .nm_format import CompressedWeights, NMPattern, validate

__all__ = ["compressed_macs", "dense_equivalent_macs", "sparse_gemm"]


def sparse_gemm(a: np.ndarray, compressed: CompressedWeights, *, input_width: int,
                weight_width: int, acc_width: int, signed: bool, overflow: str = "none",
                initial: np.ndarray | None = None) -> np.ndarray:
    """C = initial + A @ W for a compressed W, accumulated in ``acc_width`` bits.

    Same contract as ``gemm(a, decompress(compressed), ...)``: A is (rows, k), the compressed
    values must fit ``weight_width`` (padding zeros always do), and ``initial`` must fit the
    accumulator.
    """
    validate(compressed)
    a = np.asarray(a, dtype=object)
    if a.ndim != 2 or a.shape[1] != compressed.k:
        raise ValueError(f"A has shape {a.shape}, expected (rows, {compressed.k}) for the "
                         f"compressed weights")
    check_range(a, input_width, signed, "A")
    check_range(compressed.values, weight_width, signed, "values")
    rows, columns, m = a.shape[0], compressed.columns, compressed.pattern.m
    acc = np.zeros((rows, columns), dtype=object)
    if initial is not None:
        acc = np.asarray(initial, dtype=object).copy()
        if acc.shape != (rows, columns):
            raise ValueError(f"initial has shape {acc.shape}, expected {(rows, columns)}")
        check_range(acc, acc_width, signed, "initial")
    padded = np.zeros((rows, compressed.groups * m), dtype=object)
    padded[:, : compressed.k] = a
    for group in range(compressed.groups):
        for slot in range(compressed.pattern.n):
            k_rows = group * m + compressed.indices[group, slot].astype(np.intp)
            products = padded[:, k_rows] * compressed.values[group, slot]
            acc = reduce_to_width(acc + products, acc_width, signed, overflow)
    return acc


def _dims(m: int, k: int, n: int) -> None:
    for name, value in (("m", m), ("k", k), ("n", n)):
        if value < 0:
            raise ValueError(f"{name}: must be >= 0, got {value}")


def dense_equivalent_macs(m: int, k: int, n: int) -> int:
    """Multiply-accumulates of a dense (m, k) @ (k, n) GEMM: the useful work to compare by."""
    _dims(m, k, n)
    return m * k * n


def compressed_macs(m: int, k: int, n: int, pattern: NMPattern) -> int:
    """Multiply-accumulates a sparse array issues: ``m * ceil(k / M) * N * n``.

    Padding slots count: the PE spends the cycle whether the value is zero or not, and a
    ragged last group costs a whole group. Here m, k, n are GEMM dimensions, not the pattern's.
    """
    _dims(m, k, n)
    return m * pattern.groups(k) * pattern.n * n
