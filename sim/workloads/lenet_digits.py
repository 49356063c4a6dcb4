"""LeNet-5 trained here on scikit-learn's bundled digits, then pruned and fine-tuned.

No MNIST download is needed: scikit-learn ships 1,797 8x8 digits (16 grey levels). Each is
scaled to [0, 1], enlarged 3x (nearest neighbour) to 24x24 and centred in a 28x28 frame,
which mimics MNIST's 20x20 digits in a 28x28 frame. A seeded 80/20 split gives the training
and test sets.

The network is Caffe's LeNet (:func:`accelgen.sim.workloads.networks.lenet5`): conv 20 5x5,
max-pool 2, conv 50 5x5, max-pool 2, ip 500 + ReLU, ip 10. Training is plain numpy: Xavier
initialisation, Adam (learning rate 1e-3), batches of 32, softmax cross-entropy,
``epochs`` passes. Pruning then keeps each layer's published density (magnitude, fine or
coarse, :mod:`.pruning`) and ``finetune_epochs`` more passes retrain the kept weights (the
pruned ones stay zero), as Deep Compression and Scalpel do.

Results are cached as ``.npz`` under ``$ACCELGEN_CACHE/workloads`` (default
``~/.cache/accelgen/workloads``), keyed by every argument, because training takes tens of
seconds. The numbers are reproducible from the seed on one machine; a different BLAS may round
differently and so train slightly different weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from threadpoolctl import threadpool_limits

from .networks import lenet5
from .pruning import prune

__all__ = ["TrainedLeNet", "accuracy", "digits_dataset", "forward", "train_lenet"]

VERSION = 1
_PARAMS = ("conv1", "conv2", "ip1", "ip2")


@dataclass(frozen=True)
class TrainedLeNet:
    """Weights and biases by layer name, test accuracy before and after pruning, and the
    held-out test images (``N x 1 x 28 x 28``) with labels."""

    weights: dict[str, np.ndarray]
    biases: dict[str, np.ndarray]
    dense_accuracy: float
    pruned_accuracy: float
    test_images: np.ndarray
    test_labels: np.ndarray
    settings: dict[str, object]


def digits_dataset(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(train_x, train_y, test_x, test_y)``: 28x28 images in [0, 1], a seeded 80/20 split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0
    big = np.kron(images, np.ones((3, 3), dtype=np.float32))
    framed = np.zeros((len(images), 1, 28, 28), dtype=np.float32)
    framed[:, 0, 2:26, 2:26] = big
    order = np.random.default_rng([seed, 1]).permutation(len(images))
    split = int(0.8 * len(images))
    train, test = order[:split], order[split:]
    labels = digits.target.astype(np.int64)
    return framed[train], labels[train], framed[test], labels[test]


def _windows(x: np.ndarray, k: int) -> np.ndarray:
    """``B x (OH*OW) x (C*k*k)`` patches of ``x`` (``B x C x H x W``), stride 1."""
    b, c, h, w = x.shape
    view = sliding_window_view(x, (k, k), axis=(2, 3))  # B C OH OW k k
    return view.transpose(0, 2, 3, 1, 4, 5).reshape(b, (h - k + 1) * (w - k + 1), c * k * k)


def _conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = weight.shape[-1]
    cols = _windows(x, k)
    out = cols @ weight.reshape(weight.shape[0], -1).T + bias
    side = x.shape[2] - k + 1
    return out.transpose(0, 2, 1).reshape(x.shape[0], weight.shape[0], side, side), cols


def _conv_backward(grad: np.ndarray, cols: np.ndarray, x_shape: tuple[int, ...],
                   weight: np.ndarray, input_grad: bool = True
                   ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    b, oc = grad.shape[:2]
    g = grad.reshape(b, oc, -1)  # B OC P
    g_rows = g.transpose(0, 2, 1).reshape(-1, oc)  # (B*P) x OC
    d_weight = (g_rows.T @ cols.reshape(g_rows.shape[0], -1)).reshape(weight.shape)
    d_bias = g_rows.sum(axis=0)
    if not input_grad:
        return None, d_weight, d_bias
    d_cols = g_rows @ weight.reshape(oc, -1)
    _, c, h, _ = x_shape
    k = weight.shape[-1]
    side = h - k + 1
    d_cols = d_cols.reshape(b, side, side, c, k, k)
    d_x = np.zeros(x_shape, dtype=np.float32)
    for ky in range(k):
        for kx in range(k):
            d_x[:, :, ky:ky + side, kx:kx + side] += \
                d_cols[:, :, :, :, ky, kx].transpose(0, 3, 1, 2)
    return d_x, d_weight, d_bias


def _pool(x: np.ndarray) -> np.ndarray:
    b, c, h, w = x.shape
    return x.reshape(b, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def _pool_backward(grad: np.ndarray, x: np.ndarray, pooled: np.ndarray) -> np.ndarray:
    up = np.repeat(np.repeat(pooled, 2, axis=2), 2, axis=3)
    mask = x == up
    # Route each window's gradient to one maximum only (the first in scan order).
    b, c, h, w = x.shape
    windows = mask.reshape(b, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5)
    flat = windows.reshape(b, c, h // 2, w // 2, 4)
    first = np.zeros_like(flat)
    np.put_along_axis(first, flat.argmax(axis=-1)[..., None], True, axis=-1)
    routed = first.reshape(b, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5)
    routed = routed.reshape(b, c, h, w)
    return routed * np.repeat(np.repeat(grad, 2, axis=2), 2, axis=3)


def _zero_lines(x: np.ndarray, threshold: float) -> np.ndarray:
    """Per image, aligned groups of 8 words (32-byte lines) all ``<= threshold`` read as 0."""
    if threshold <= 0:
        return x
    b = x.shape[0]
    flat = x.reshape(b, -1)
    lines = -(-flat.shape[1] // 8)
    padded = np.zeros((b, lines * 8), dtype=np.float32)
    padded[:, :flat.shape[1]] = flat
    grouped = padded.reshape(b, lines, 8)
    grouped[np.all(np.abs(grouped) <= threshold, axis=2)] = 0
    return padded[:, :flat.shape[1]].reshape(x.shape)


def forward(weights: dict[str, np.ndarray], biases: dict[str, np.ndarray],
            images: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Logits of a batch (``B x 1 x 28 x 28``).

    ``threshold`` > 0 reads every stored array as SparseCache's approximate zero detector
    would: each 32-byte line whose words are all ``<= threshold`` in magnitude reads as zero
    (weights and biases once, every image's input and stored intermediate tensors per image).
    """
    def z(x: np.ndarray) -> np.ndarray:
        return _zero_lines(x, threshold)

    w = {n: z(v[None])[0] for n, v in weights.items()}
    b = {n: z(v[None])[0] for n, v in biases.items()}
    x, _ = _conv(z(images), w["conv1"], b["conv1"])
    x = _pool(z(x))
    x, _ = _conv(z(x), w["conv2"], b["conv2"])
    x = _pool(z(x)).reshape(len(images), -1)
    x = np.maximum(z(z(x) @ w["ip1"].T + b["ip1"]), 0)
    return z(x) @ w["ip2"].T + b["ip2"]


def accuracy(trained: TrainedLeNet, threshold: float = 0.0) -> float:
    """Test-set accuracy, optionally as read through the approximate zero detector."""
    with threadpool_limits(1):
        logits = forward(trained.weights, trained.biases, trained.test_images, threshold)
    return float((logits.argmax(axis=1) == trained.test_labels).mean())


def _loss_and_grads(weights, biases, images, labels):
    c1, cols1 = _conv(images, weights["conv1"], biases["conv1"])
    p1 = _pool(c1)
    c2, cols2 = _conv(p1, weights["conv2"], biases["conv2"])
    p2 = _pool(c2)
    flat = p2.reshape(len(images), -1)
    h_pre = flat @ weights["ip1"].T + biases["ip1"]
    h = np.maximum(h_pre, 0)
    logits = h @ weights["ip2"].T + biases["ip2"]
    logits = logits - logits.max(axis=1, keepdims=True)
    prob = np.exp(logits)
    prob /= prob.sum(axis=1, keepdims=True)
    n = len(images)
    loss = float(-np.log(prob[np.arange(n), labels] + 1e-12).mean())
    d_logits = prob
    d_logits[np.arange(n), labels] -= 1
    d_logits /= n
    grads_w, grads_b = {}, {}
    grads_w["ip2"] = d_logits.T @ h
    grads_b["ip2"] = d_logits.sum(axis=0)
    d_h = (d_logits @ weights["ip2"]) * (h_pre > 0)
    grads_w["ip1"] = d_h.T @ flat
    grads_b["ip1"] = d_h.sum(axis=0)
    d_p2 = (d_h @ weights["ip1"]).reshape(p2.shape)
    d_c2 = _pool_backward(d_p2, c2, p2)
    d_p1, grads_w["conv2"], grads_b["conv2"] = _conv_backward(d_c2, cols2, p1.shape,
                                                              weights["conv2"])
    d_c1 = _pool_backward(d_p1, c1, p1)
    _, grads_w["conv1"], grads_b["conv1"] = _conv_backward(d_c1, cols1, images.shape,
                                                           weights["conv1"], input_grad=False)
    return loss, grads_w, grads_b


def _accuracy(weights, biases, images, labels) -> float:
    return float((forward(weights, biases, images).argmax(axis=1) == labels).mean())


def _train(weights, biases, images, labels, epochs: int, rng: np.random.Generator,
           masks: dict[str, np.ndarray] | None = None) -> None:
    params = [(weights, name) for name in _PARAMS] + [(biases, name) for name in _PARAMS]
    first = [np.zeros_like(table[name]) for table, name in params]
    second = [np.zeros_like(table[name]) for table, name in params]
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(images))
        for start in range(0, len(order), 32):
            batch = order[start:start + 32]
            _, grads_w, grads_b = _loss_and_grads(weights, biases, images[batch], labels[batch])
            step += 1
            for i, (table, name) in enumerate(params):
                grad = (grads_w if table is weights else grads_b)[name]
                first[i] = 0.9 * first[i] + 0.1 * grad
                second[i] = 0.999 * second[i] + 0.001 * grad * grad
                update = 1e-3 * (first[i] / (1 - 0.9 ** step)) / (
                    np.sqrt(second[i] / (1 - 0.999 ** step)) + 1e-8)
                table[name] = (table[name] - update).astype(np.float32)
                if masks is not None and table is weights:
                    table[name] *= masks[name]


def _cache_path(settings: dict[str, object]) -> Path:
    root = os.environ.get("ACCELGEN_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "accelgen"
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    return base / "workloads" / f"lenet_digits_{digest}.npz"


def train_lenet(seed: int = 0, *, granularity: str = "fine", group: int = 8, epochs: int = 8,
                finetune_epochs: int = 3, cache: bool = True) -> TrainedLeNet:
    """Train, prune to the published densities and fine-tune LeNet-5 on the digits."""
    settings = {"version": VERSION, "seed": seed, "granularity": granularity, "group": group,
                "epochs": epochs, "finetune_epochs": finetune_epochs}
    train_x, train_y, test_x, test_y = digits_dataset(seed)
    path = _cache_path(settings)
    if cache and path.exists():
        with np.load(path) as data:
            weights = {n: data[f"w_{n}"] for n in _PARAMS}
            biases = {n: data[f"b_{n}"] for n in _PARAMS}
            dense, pruned = float(data["dense_accuracy"]), float(data["pruned_accuracy"])
        return TrainedLeNet(weights, biases, dense, pruned, test_x, test_y, settings)
    with threadpool_limits(1):  # multi-threaded BLAS is 10x slower on a busy machine
        weights, biases, dense, pruned = _train_and_prune(seed, granularity, group, epochs,
                                                          finetune_epochs, train_x, train_y,
                                                          test_x, test_y)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        os.close(fd)
        try:
            np.savez(tmp, dense_accuracy=dense, pruned_accuracy=pruned,
                     **{f"w_{n}": weights[n] for n in _PARAMS},
                     **{f"b_{n}": biases[n] for n in _PARAMS})
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    return TrainedLeNet(weights, biases, dense, pruned, test_x, test_y, settings)


def _train_and_prune(seed, granularity, group, epochs, finetune_epochs, train_x, train_y,
                     test_x, test_y):
    rng = np.random.default_rng([seed, 2])
    shapes = {"conv1": (20, 1, 5, 5), "conv2": (50, 20, 5, 5), "ip1": (500, 800),
              "ip2": (10, 500)}
    weights, biases = {}, {}
    for name, shape in shapes.items():
        fan_in = int(np.prod(shape[1:]))
        limit = np.sqrt(3.0 / fan_in)
        weights[name] = rng.uniform(-limit, limit, shape).astype(np.float32)
        biases[name] = np.zeros(shape[0], dtype=np.float32)
    _train(weights, biases, train_x, train_y, epochs, rng)
    dense = _accuracy(weights, biases, test_x, test_y)
    densities = {layer.name: layer.weight_density for layer in lenet5().layers
                 if layer.weight_density is not None}
    for name in _PARAMS:
        weights[name] = prune(weights[name], densities[name], granularity, group)
    masks = {name: (weights[name] != 0).astype(np.float32) for name in _PARAMS}
    _train(weights, biases, train_x, train_y, finetune_epochs, rng, masks)
    pruned = _accuracy(weights, biases, test_x, test_y)
    return weights, biases, dense, pruned
