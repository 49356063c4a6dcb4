"""GEMM regression cases: shapes, seeds and operand styles, shared by pytest and the CLI."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from accelgen.sim.integers import int_range

__all__ = ["GemmCase", "default_cases", "operands_for"]


@dataclass(frozen=True)
class GemmCase:
    name: str
    m: int
    k: int
    n: int
    seed: int
    operands: str = "random"  # "random", or "extreme": mostly the ends of the range
    sink_stall: float = 0.0
    source_gap: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _draw(rng: np.random.Generator, shape: tuple[int, int], width: int, signed: bool,
          style: str) -> np.ndarray:
    lo, hi = int_range(width, signed)
    if style == "extreme":
        corners = np.array(sorted({lo, hi, 0, min(1, hi), max(-1, lo), lo + 1, hi - 1}),
                           dtype=object)
        values = corners[rng.integers(0, len(corners), size=shape)]
        mixed = rng.random(shape) < 0.1
        values[mixed] = [int(v) for v in rng.integers(lo, hi, size=int(mixed.sum()),
                                                      endpoint=True, dtype=np.int64)]
        return values
    if style != "random":
        raise ValueError(f"operands: must be random or extreme, got {style!r}")
    span = hi - lo + 1
    if span > 1 << 62:  # numpy draws at most 64-bit ranges; compose wider ones from bytes
        count = shape[0] * shape[1]
        values = [lo + int.from_bytes(rng.bytes(9), "little") % span for _ in range(count)]
        return np.array(values, dtype=object).reshape(shape)
    return rng.integers(lo, hi, size=shape, endpoint=True, dtype=np.int64).astype(object)


def operands_for(case: GemmCase, params: dict) -> tuple[np.ndarray, np.ndarray,
                                                        np.random.Generator]:
    """A and B for ``case``, and the generator that then drives its random stalls."""
    rng = np.random.default_rng(case.seed)
    a = _draw(rng, (case.m, case.k), params["input_width"], params["signed"], case.operands)
    b = _draw(rng, (case.k, case.n), params["weight_width"], params["signed"], case.operands)
    return a, b, rng


def default_cases(rows: int, cols: int, max_k: int, *, group: int = 1, seeds: int = 1,
                  base_seed: int = 1) -> list[GemmCase]:
    """A small regression that exercises one tile, folding with ragged edges, K shorter than
    the drain, extreme operands and both kinds of stall, for ``seeds`` seeds each.

    ``group`` is the reduction indices an array row takes per step (M for N:M PEs), so that
    the folded cases span more than one K tile of ``rows * group``.
    """
    k_fold = min(max_k, 2 * rows * group + 1)
    shapes = [
        ("tile", rows, min(max_k, rows * group + 2), cols, "random", 0.0, 0.0),
        ("ragged", 2 * rows + 1, k_fold, 2 * cols - 1 if cols > 1 else 2, "random", 0.0, 0.0),
        ("short_k", rows + 1, 1, cols + 1, "random", 0.0, 0.0),
        ("extreme", rows + 1, min(max_k, rows * group + 3), cols, "extreme", 0.0, 0.0),
        ("stalls", 2 * rows, k_fold, cols + 1, "random", 0.4, 0.2),
    ]
    cases = []
    for s in range(seeds):
        seed = base_seed + s
        for name, m, k, n, style, stall, gap in shapes:
            cases.append(GemmCase(f"{name}_s{seed}", m, k, n, seed, style, stall, gap))
    return cases
