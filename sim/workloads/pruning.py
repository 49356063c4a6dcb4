"""Magnitude pruning of a layer's weights to a target density, fine- or coarse-grained.

Weights are ``out x reduction`` (a convolution's ``out x in/groups x k x k`` flattened per
output), stored row-major, so the reduction axis is contiguous in memory.

* ``fine``: keep the ``round(density * n)`` largest magnitudes of the layer (Deep
  Compression's per-weight pruning; ties broken by position so the result is deterministic).
* ``coarse``: cut each row into aligned groups of ``group`` consecutive weights and keep the
  groups with the largest L2 norms, ``round(density * groups)`` of them: Scalpel's SIMD-aware
  weight pruning, which keeps or removes weights in aligned groups of the SIMD width. A row
  whose length is not a multiple of ``group`` ends in a shorter group. With ``group`` words
  filling one cache line and 64-byte aligned tensors, a pruned group is a whole zero line
  exactly when the row length is a multiple of ``group``.

The density is the fraction of weights kept in both cases (for coarse pruning, counted in
weights, so a short last group counts for less).
"""

from __future__ import annotations

import numpy as np

__all__ = ["GRANULARITIES", "prune"]

GRANULARITIES = ("fine", "coarse")


def prune(weights: np.ndarray, density: float, granularity: str = "fine",
          group: int = 8) -> np.ndarray:
    """A copy of ``weights`` (``out x ...``) with all but a ``density`` fraction set to zero."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity: must be one of {', '.join(GRANULARITIES)}, "
                         f"got {granularity!r}")
    if not 0 < density <= 1:
        raise ValueError(f"density: must be in (0, 1], got {density}")
    if group < 1:
        raise ValueError(f"group: must be >= 1, got {group}")
    out = np.array(weights, dtype=np.float32, copy=True)
    if density == 1:
        return out
    rows = out.reshape(out.shape[0], -1)
    if granularity == "fine":
        flat = rows.reshape(-1)
        keep = round(density * flat.size)
        order = np.argsort(-np.abs(flat), kind="stable")
        flat[order[keep:]] = 0
        return out
    width = rows.shape[1]
    groups = -(-width // group)
    padded = np.zeros((rows.shape[0], groups * group), dtype=np.float32)
    padded[:, :width] = rows
    norms = np.sqrt(np.square(padded.reshape(rows.shape[0], groups, group)).sum(axis=2))
    sizes = np.full(groups, group)
    sizes[-1] = width - (groups - 1) * group
    order = np.argsort(-norms.reshape(-1), kind="stable")
    ordered_sizes = np.tile(sizes, rows.shape[0])[order]
    # Keep a group while at least half of it fits under the target count.
    middle = np.cumsum(ordered_sizes) - ordered_sizes / 2
    keep = int(np.count_nonzero(middle < density * rows.size))
    mask = np.zeros(norms.size, dtype=bool)
    mask[order[:keep]] = True
    mask = np.repeat(mask.reshape(rows.shape[0], groups), group, axis=1)[:, :width]
    rows[~mask] = 0
    return out
