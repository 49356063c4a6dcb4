"""N:M weight files for the command line: dense ``.npy`` in, compressed ``.npz`` out and back.

The compressed file holds ``values`` (int64), ``indices`` (uint8), both shaped
``(groups, N, columns)`` as :class:`accelgen.sim.nm_format.CompressedWeights`, and the scalars
``n``, ``m`` and ``k``. Files are read without pickle, so a malformed or hostile file is an
error, never code.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from accelgen.flows.atomic import write_atomically
from accelgen.sim.integers import check_range
from accelgen.sim.nm_format import CompressedWeights, NMPattern, compress, decompress, prune_nm

__all__ = ["NMFileError", "compress_file", "decompress_file", "load_compressed", "parse_pattern"]


class NMFileError(ValueError):
    """A weight file or pattern the user gave is unusable; the message says which and why."""


def parse_pattern(text: str) -> NMPattern:
    parts = text.split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise NMFileError(f"--pattern: must be N:M such as 2:4, got {text!r}")
    try:
        return NMPattern(int(parts[0]), int(parts[1]))
    except ValueError as error:
        raise NMFileError(f"--pattern: {error}") from None


def _load_dense(path: Path) -> np.ndarray:
    try:
        w = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise NMFileError(f"{path}: not a readable .npy array ({error})") from None
    if w.ndim != 2 or w.dtype.kind not in "iu":
        raise NMFileError(f"{path}: need a 2-D integer matrix (K x columns), "
                          f"got {w.ndim}-D {w.dtype}")
    return w


def _save(compressed: CompressedWeights, out: Path) -> None:
    values = np.asarray(compressed.values, dtype=object)
    if values.size and (values.min() < np.iinfo(np.int64).min or
                        values.max() > np.iinfo(np.int64).max):
        raise NMFileError("weights wider than 64 bits cannot be stored")
    def write(tmp: Path) -> None:
        # Through a handle: given a path, savez would append ".npz" to any other suffix.
        with tmp.open("wb") as handle:
            np.savez(handle, values=values.astype(np.int64), indices=compressed.indices,
                     n=compressed.pattern.n, m=compressed.pattern.m, k=compressed.k)

    write_atomically(out, write)


def compress_file(source: Path, pattern: NMPattern, out: Path, *, prune: bool,
                  weight_width: int, signed: bool) -> CompressedWeights:
    w = _load_dense(source)
    try:
        check_range(w, weight_width, signed, "W")
        compressed = compress(prune_nm(w, pattern) if prune else w, pattern)
    except ValueError as error:
        raise NMFileError(f"{source}: {error}") from None
    _save(compressed, out)
    return compressed


def load_compressed(path: Path, *, weight_width: int | None = None,
                    signed: bool = True) -> CompressedWeights:
    """Read and fully validate a compressed file (indices in range and ascending, shapes,
    nothing non-zero past K, values within ``weight_width`` when given)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            fields = {name: data[name] for name in ("values", "indices", "n", "m", "k")}
    except KeyError as error:
        raise NMFileError(f"{path}: missing array {error}") from None
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise NMFileError(f"{path}: not a readable .npz file ({error})") from None
    try:
        pattern = NMPattern(int(fields["n"]), int(fields["m"]))
        compressed = CompressedWeights(pattern, fields["values"].astype(object),
                                       fields["indices"], int(fields["k"]))
        if weight_width is not None:
            check_range(compressed.values, weight_width, signed, "values")
    except (ValueError, TypeError) as error:
        raise NMFileError(f"{path}: {error}") from None
    return compressed


def decompress_file(source: Path, out: Path) -> np.ndarray:
    w = np.asarray(decompress(load_compressed(source)), dtype=np.int64)
    np.save(out, w)
    return w
