"""Golden GEMM with the accumulator semantics of the systolic array.

Products are exact; sums are reduced to ``acc_width`` bits after every addition, in reduction
order (k = 0, 1, ...), which is what a saturating accumulator does and what makes saturation
order-dependent. Python integers (object arrays) keep 64-bit operands exact.
"""

from __future__ import annotations

import numpy as np

from .integers import check_range, reduce_to_width

__all__ = ["gemm"]


def gemm(a: np.ndarray, b: np.ndarray, *, input_width: int, weight_width: int, acc_width: int,
         signed: bool, overflow: str = "none", initial: np.ndarray | None = None) -> np.ndarray:
    """C = initial + A @ B, accumulated in ``acc_width`` bits.

    ``initial`` (default zeros) is the starting value of each accumulator, as the weight-
    stationary array's partial-sum input provides; it must itself fit the accumulator.
    """
    a = np.asarray(a, dtype=object)
    b = np.asarray(b, dtype=object)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"shapes {a.shape} and {b.shape} cannot be multiplied")
    check_range(a, input_width, signed, "A")
    check_range(b, weight_width, signed, "B")
    m, k = a.shape
    n = b.shape[1]
    acc = np.zeros((m, n), dtype=object)
    if initial is not None:
        acc = np.asarray(initial, dtype=object).copy()
        if acc.shape != (m, n):
            raise ValueError(f"initial has shape {acc.shape}, expected {(m, n)}")
        check_range(acc, acc_width, signed, "initial")
    for step in range(k):
        acc = reduce_to_width(acc + np.outer(a[:, step], b[step, :]), acc_width, signed, overflow)
    return acc
