"""Exact-integer depthwise convolutions on (C, H, W) tensors.

Depthwise means one filter per channel: output channel c only sees input channel c. FuSeConv
replaces the KxK depthwise filter by a 1xK filter (along the width) and a Kx1 filter (along the
height); both are modelled here, together with the KxK reference.

Conventions, which the hardware must mirror:

- Cross-correlation, as every deep-learning framework computes "convolution": the kernel is not
  flipped, ``out[c, y, x] = sum_ij w[c, i, j] * in_padded[c, y*stride + i, x*stride + j]``.
- ``stride`` applies to both axes, also for the 1xK and Kx1 filters: in a FuSe block the two
  branches replace one strided KxK layer and must produce the same output size to be
  concatenated.
- Padding is zeros. ``same`` follows TensorFlow, per axis with that axis's kernel size:
  ``out = ceil(n / stride)``, ``pad_total = max((out - 1) * stride + k - n, 0)``,
  ``pad_before = pad_total // 2`` (the extra row/column goes after). ``valid`` pads nothing:
  ``out = floor((n - k) / stride) + 1``. ``valid_ceil`` is SCALE-Sim's convention: nothing
  before, ``out = ceil((n - k) / stride) + 1``, the last window reading zeros past the end
  when the stride does not divide ``n - k``.
- Sums are exact (Python integers); no accumulator width applies here.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "PADDINGS",
    "conv_output_size",
    "depthwise_1xk",
    "depthwise_2d",
    "depthwise_kx1",
    "depthwise_kxk",
    "padding_amounts",
]

PADDINGS = ("same", "valid", "valid_ceil")


def _check_positive(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{what} must be an integer >= 1, got {value!r}")


def padding_amounts(n: int, k: int, stride: int, padding: str) -> tuple[int, int]:
    """Zeros added before and after an axis of length ``n`` for kernel ``k``."""
    output = conv_output_size(n, k, stride, padding)
    if padding == "valid":
        return 0, 0
    total = max((output - 1) * stride + k - n, 0)
    if padding == "valid_ceil":
        return 0, total
    return total // 2, total - total // 2


def conv_output_size(n: int, k: int, stride: int, padding: str) -> int:
    """Output length of one axis; raises if the kernel does not fit the (padded) input."""
    _check_positive(n, "input size")
    _check_positive(k, "kernel")
    _check_positive(stride, "stride")
    if padding == "same":
        return -(-n // stride)
    if padding in ("valid", "valid_ceil"):
        if k > n:
            raise ValueError(f"kernel {k} is larger than the input {n} "
                             f"(padding={padding!r} adds no zeros before it)")
        return (n - k) // stride + 1 if padding == "valid" else -(-(n - k) // stride) + 1
    raise ValueError(f"padding must be one of {', '.join(PADDINGS)}, got {padding!r}")


def _as_int_tensor(values: np.ndarray, ndim: int, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != ndim:
        raise ValueError(f"{what} must have {ndim} dimensions, got shape {array.shape}")
    if array.dtype.kind not in "iuO" or (array.dtype.kind == "O" and not all(
            isinstance(v, int | np.integer) and not isinstance(v, bool) for v in array.flat)):
        raise ValueError(f"{what} must hold integers, got dtype {array.dtype}")
    return array.astype(object)


def depthwise_2d(x: np.ndarray, w: np.ndarray, *, stride: int, padding: str) -> np.ndarray:
    """Depthwise convolution of ``x`` (C, H, W) with ``w`` (C, KH, KW); object array out."""
    x = _as_int_tensor(x, 3, "input")
    w = _as_int_tensor(w, 3, "weights")
    channels, height, width = x.shape
    if w.shape[0] != channels:
        raise ValueError(f"weights have {w.shape[0]} channels, input has {channels}")
    kernel_h, kernel_w = w.shape[1:]
    out_h = conv_output_size(height, kernel_h, stride, padding)
    out_w = conv_output_size(width, kernel_w, stride, padding)
    top, bottom = padding_amounts(height, kernel_h, stride, padding)
    left, right = padding_amounts(width, kernel_w, stride, padding)
    padded = np.zeros((channels, height + top + bottom, width + left + right), dtype=object)
    padded[:, top:top + height, left:left + width] = x
    acc = np.zeros((channels, out_h, out_w), dtype=object)
    for i in range(kernel_h):
        for j in range(kernel_w):
            window = padded[:, i:i + stride * (out_h - 1) + 1:stride,
                            j:j + stride * (out_w - 1) + 1:stride]
            acc += w[:, i, j, None, None] * window
    return acc


def depthwise_1xk(x: np.ndarray, w: np.ndarray, *, stride: int, padding: str) -> np.ndarray:
    """1xK depthwise filter along the width (FuSe "row" filter); ``w`` is (C, K)."""
    w = np.asarray(w)
    if w.ndim != 2:
        raise ValueError(f"1xK weights must have shape (C, K), got {w.shape}")
    return depthwise_2d(x, w[:, None, :], stride=stride, padding=padding)


def depthwise_kx1(x: np.ndarray, w: np.ndarray, *, stride: int, padding: str) -> np.ndarray:
    """Kx1 depthwise filter along the height (FuSe "column" filter); ``w`` is (C, K)."""
    w = np.asarray(w)
    if w.ndim != 2:
        raise ValueError(f"Kx1 weights must have shape (C, K), got {w.shape}")
    return depthwise_2d(x, w[:, :, None], stride=stride, padding=padding)


def depthwise_kxk(x: np.ndarray, w: np.ndarray, *, stride: int, padding: str) -> np.ndarray:
    """The KxK depthwise layer that FuSeConv replaces; ``w`` is (C, K, K)."""
    w = np.asarray(w)
    if w.ndim != 3 or w.shape[1] != w.shape[2]:
        raise ValueError(f"KxK weights must have shape (C, K, K), got {w.shape}")
    return depthwise_2d(x, w, stride=stride, padding=padding)
