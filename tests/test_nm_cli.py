"""`accelgen nm`: compressed weight files, and exit 2 with the offending group named."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

SEED = 424242


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "accelgen.flows.cli", "nm", *args],
                          capture_output=True, text=True, check=False)


def test_compress_check_decompress_round_trip(tmp_path):
    rng = np.random.default_rng(SEED)
    w = rng.integers(-128, 128, size=(10, 3))
    np.save(tmp_path / "w.npy", w)
    result = _run("compress", str(tmp_path / "w.npy"), "--pattern", "2:4", "--prune",
                  "-o", str(tmp_path / "w.npz"))
    assert result.returncode == 0, result.stderr
    assert _run("check", str(tmp_path / "w.npz")).stdout.startswith("valid 2:4: K=10")
    assert _run("decompress", str(tmp_path / "w.npz"), "-o", str(tmp_path / "d.npy")
                ).returncode == 0
    dense = np.load(tmp_path / "d.npy")
    assert dense.shape == w.shape
    for g in range(0, 10, 4):
        assert ((dense[g:g + 4] != 0).sum(axis=0) <= 2).all()
    kept = dense != 0
    assert (dense[kept] == w[kept]).all()


def test_a_matrix_that_is_not_n_m_names_the_first_group(tmp_path):
    w = np.zeros((8, 2), dtype=np.int64)
    w[4:7, 1] = [1, 2, 3]
    np.save(tmp_path / "w.npy", w)
    result = _run("compress", str(tmp_path / "w.npy"), "-o", str(tmp_path / "w.npz"))
    assert result.returncode == 2
    assert "group 1 of column 1 (w[4:8, 1]) has 3 non-zeros, more than 2" in result.stderr
    assert not (tmp_path / "w.npz").exists()


def test_bad_patterns_exit_2(tmp_path):
    np.save(tmp_path / "w.npy", np.zeros((4, 1), dtype=np.int64))
    for pattern, message in (("4:4", "n: must be < m"), ("2:6", "m: must be a power of two"),
                             ("x", "must be N:M")):
        result = _run("compress", str(tmp_path / "w.npy"), "--pattern", pattern,
                      "-o", str(tmp_path / "w.npz"))
        assert result.returncode == 2 and message in result.stderr, result.stderr


def test_metadata_with_an_out_of_range_index_is_rejected(tmp_path):
    np.savez(tmp_path / "bad.npz", values=np.array([[[5], [7]]]),
             indices=np.array([[[0], [4]]], dtype=np.uint8), n=2, m=4, k=4)
    result = _run("check", str(tmp_path / "bad.npz"))
    assert result.returncode == 2
    assert "slot 1: index 4 is outside 0..3" in result.stderr


def test_values_wider_than_the_weights_and_garbage_files(tmp_path):
    np.savez(tmp_path / "wide.npz", values=np.array([[[300], [0]]]),
             indices=np.array([[[0], [1]]], dtype=np.uint8), n=2, m=4, k=4)
    result = _run("check", str(tmp_path / "wide.npz"), "--weight-width", "8")
    assert result.returncode == 2 and "300 does not fit" in result.stderr
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    result = _run("check", str(tmp_path / "junk.npz"))
    assert result.returncode == 2 and "not a readable .npz" in result.stderr
