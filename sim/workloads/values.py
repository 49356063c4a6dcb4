"""The numbers a network computes on one input: weights, biases and every layer's output.

LeNet-5 uses the weights trained here (:mod:`.lenet_digits`) and one held-out digit chosen by
the seed. The ImageNet networks have no downloadable weights here, so their values are
synthetic, seeded, and built to match the published densities (:mod:`.networks`):

* input: a smooth random image (per channel 0.8 x a shared field + 0.6 x its own field; each
  field a sum of white noise low-passed with Gaussians of sigma 1, 2, 4, 8 and 16 pixels,
  weighted by sigma), normalised to zero mean and unit variance like a mean-subtracted
  photo; so neighbouring pixels, and therefore neighbouring outputs, are correlated;
* weights: He-normal, pruned to the layer's published density (fine or coarse,
  :mod:`.pruning`), then scaled so that the layer's pre-activation has unit standard deviation;
* biases: chosen so that each ReLU output has the published activation density. For a
  convolution each output channel ``c`` gets its own density ``d_c``, drawn from
  ``Beta(4 d, 4 (1 - d))`` (mean ``d``, the published figure): real networks have nearly dead
  and nearly always-on channels, and that clusters the zeros by channel; within a channel the
  bias is the ``1 - d_c`` quantile of its pre-activations, so zeros also cluster in space where
  the smooth input is low. A fully connected layer gets one shift for all outputs. A layer
  without a published density keeps zero biases.

Layers are produced one at a time (:func:`network_values` is a generator), so VGG-16's
weights never all sit in memory at once. Every array is float32, computed by numpy (BLAS
summation order, not the sequential loop's; only values within rounding of zero could differ).

Each of ``thresholds`` (> 0) also gives the outputs the approximate zero detector causes: every
32-byte line (8 words) of a tensor a layer reads (weights, biases, input, and the
pre-activation its ReLU reads) whose words all have magnitude ``<= threshold`` reads as zero,
which is what SparseCache returns for such a line whether it is in the null cache or fetched
from memory. Biases are those of the exact network.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from threadpoolctl import threadpool_limits

from .lenet_digits import train_lenet
from .networks import Layer, Network
from .pruning import prune

__all__ = ["LayerValues", "network_values", "smooth_image", "zero_near_zero_lines"]

CHANNEL_CONCENTRATION = 4.0
"""Beta concentration of the per-channel activation densities (see the module docstring)."""


@dataclass
class LayerValues:
    """One layer's numbers. ``weights`` is ``out x reduction`` (``None`` for pooling);
    ``pre`` is the output before ReLU and ``post`` after it (the same array without ReLU),
    both ``out_channels x H x W``; ``input`` is the whole input tensor. The ``approx_*``
    field maps each requested threshold to the layer's output (after ReLU) in approximate
    mode, computed from the approximate outputs of the layers before."""

    layer: Layer
    weights: np.ndarray | None
    bias: np.ndarray | None
    input: np.ndarray
    pre: np.ndarray
    post: np.ndarray
    approx_post: dict[float, np.ndarray] = field(default_factory=dict)


def smooth_image(channels: int, height: int, width: int, rng: np.random.Generator
                 ) -> np.ndarray:
    """A correlated random image, zero mean and unit variance per channel."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    radius2 = fy * fy + fx * fx

    def field() -> np.ndarray:
        total = np.zeros((height, width))
        for sigma in (1, 2, 4, 8, 16):
            spectrum = np.fft.rfft2(rng.standard_normal((height, width)))
            gain = np.exp(-2 * (np.pi * sigma) ** 2 * radius2)
            total += sigma * np.fft.irfft2(spectrum * gain, s=(height, width))
        return total / total.std()

    shared = field()
    image = np.stack([0.8 * shared + 0.6 * field() for _ in range(channels)])
    image = (image - image.mean(axis=(1, 2), keepdims=True)) / image.std(axis=(1, 2),
                                                                         keepdims=True)
    return image.astype(np.float32)


def zero_near_zero_lines(array: np.ndarray, threshold: float, words: int = 8) -> np.ndarray:
    """A copy of ``array`` in which every aligned group of ``words`` consecutive elements
    (storage order) whose magnitudes are all ``<= threshold`` is zero."""
    flat = np.ascontiguousarray(array, dtype=np.float32).reshape(-1)
    lines = -(-flat.size // words)
    padded = np.zeros(lines * words, dtype=np.float32)
    padded[:flat.size] = flat
    grouped = padded.reshape(lines, words)
    near = np.all(np.abs(grouped) <= threshold, axis=1)
    grouped[near] = 0
    return padded[:flat.size].reshape(array.shape)


def _conv(x: np.ndarray, weights: np.ndarray, layer: Layer, out_hw: tuple[int, int]
          ) -> np.ndarray:
    """``out x H x W`` convolution (no bias) of ``x`` (``C x H x W``), groups included."""
    k, s, p, g = layer.kernel, layer.stride, layer.padding, layer.groups
    if p:
        x = np.pad(x, ((0, 0), (p, p), (p, p)))
    oh, ow = out_hw
    cin, cout = layer.in_channels // g, layer.out_channels // g
    out = np.empty((layer.out_channels, oh, ow), dtype=np.float32)
    rows_per_chunk = max(1, (1 << 24) // max(1, ow * cin * k * k))
    for group in range(g):
        part = x[group * cin:(group + 1) * cin]
        w = weights[group * cout:(group + 1) * cout]  # cout x (cin*k*k)
        for y0 in range(0, oh, rows_per_chunk):
            y1 = min(oh, y0 + rows_per_chunk)
            rows = part[:, y0 * s:(y1 - 1) * s + k, :]
            view = sliding_window_view(rows, (k, k), axis=(1, 2))[:, ::s, ::s]
            cols = view.transpose(1, 2, 0, 3, 4).reshape((y1 - y0) * ow, cin * k * k)
            out[group * cout:(group + 1) * cout, y0:y1] = (cols @ w.T).T.reshape(cout, y1 - y0,
                                                                                ow)
    return out


def _pool(x: np.ndarray, layer: Layer, out_hw: tuple[int, int]) -> np.ndarray:
    view = sliding_window_view(x, (layer.kernel, layer.kernel), axis=(1, 2))
    view = view[:, ::layer.stride, ::layer.stride][:, :out_hw[0], :out_hw[1]]
    if layer.kind == "maxpool":
        return view.max(axis=(3, 4)).astype(np.float32)
    return view.mean(axis=(3, 4), dtype=np.float32)


def _linear(x: np.ndarray, weights: np.ndarray, layer: Layer, net: Network, out_hw
            ) -> np.ndarray:
    if layer.kind == "conv":
        return _conv(x, weights, layer, out_hw)
    return (weights @ x.reshape(-1)).astype(np.float32).reshape(layer.out_channels, 1, 1)


def _calibrated_bias(pre: np.ndarray, density: float, rng: np.random.Generator) -> np.ndarray:
    """Per-output-channel biases giving ReLU output density ``density`` on average."""
    channels = pre.shape[0]
    flat = pre.reshape(channels, -1)
    if flat.shape[1] == 1:  # fully connected: one shift for the whole layer
        values = np.sort(flat[:, 0])
        positives = round(density * channels)
        return np.full(channels, -_cut(values, positives), dtype=np.float32)
    densities = rng.beta(CHANNEL_CONCENTRATION * density,
                         CHANNEL_CONCENTRATION * (1 - density), channels) if density < 1 \
        else np.ones(channels)
    bias = np.empty(channels, dtype=np.float32)
    for c in range(channels):
        values = np.sort(flat[c])
        bias[c] = -_cut(values, round(densities[c] * values.size))
    return bias


def _cut(sorted_values: np.ndarray, positives: int) -> float:
    """A threshold with exactly ``positives`` values above it (ties aside)."""
    n = sorted_values.size
    if positives <= 0:
        return float(sorted_values[-1]) + 1.0
    if positives >= n:
        return float(sorted_values[0]) - 1.0
    low, high = float(sorted_values[n - positives - 1]), float(sorted_values[n - positives])
    return (low + high) / 2


def _lenet_parameters(seed: int, granularity: str, group: int, training: dict | None):
    trained = train_lenet(seed, granularity=granularity, group=group, **(training or {}))
    index = int(np.random.default_rng([seed, 3]).integers(len(trained.test_images)))
    return trained, trained.test_images[index].astype(np.float32)


def network_values(net: Network, seed: int = 0, *, granularity: str = "fine",
                   group: int = 8, thresholds: tuple[float, ...] = (),
                   lenet_training: dict | None = None) -> Iterator[LayerValues]:
    """Yield each layer's :class:`LayerValues` in execution order.

    ``lenet_training`` passes keyword arguments to :func:`.lenet_digits.train_lenet` (tests
    use a shorter training). The same arguments always give the same numbers.
    """
    with threadpool_limits(1):  # multi-threaded BLAS is far slower on a shared machine
        yield from _values(net, seed, granularity, group, tuple(thresholds), lenet_training)


def _values(net, seed, granularity, group, thresholds, lenet_training):
    if any(t <= 0 for t in thresholds):
        raise ValueError(f"thresholds: must all be > 0, got {thresholds}")
    if net.trained:
        trained, image = _lenet_parameters(seed, granularity, group, lenet_training)
    else:
        trained = None
        source = net.input
        image = smooth_image(source.channels, source.height, source.width,
                             np.random.default_rng([seed, 0]))
    tensors: dict[str, np.ndarray] = {net.input.name: image}
    approx = {t: {net.input.name: image} for t in thresholds}
    readers = {name: sum(layer.input == name for layer in net.layers) for name in net.tensors}
    for index, layer in enumerate(net.layers):
        target = net.tensors[layer.output]
        out_hw = (target.height, target.width)
        x = tensors[layer.input]
        weights = bias = None
        if layer.has_weights:
            if trained is not None:
                weights = trained.weights[layer.name].reshape(layer.out_channels, -1)
                bias = trained.biases[layer.name].astype(np.float32)
                pre = _linear(x, weights, layer, net, out_hw)
            else:
                rng = np.random.default_rng([seed, 100 + index])
                reduction = (layer.in_channels // layer.groups) * layer.kernel ** 2
                weights = (rng.standard_normal((layer.out_channels, reduction))
                           * np.sqrt(2.0 / reduction)).astype(np.float32)
                weights = prune(weights, layer.weight_density or 1.0, granularity, group)
                pre = _linear(x, weights, layer, net, out_hw)
                scale = float(pre.std()) or 1.0
                weights = (weights / scale).astype(np.float32)
                pre = (pre / scale).astype(np.float32)
                if layer.activation_density is not None:
                    bias = _calibrated_bias(pre, layer.activation_density, rng)
                else:
                    bias = np.zeros(layer.out_channels, dtype=np.float32)
            pre = (pre + bias[:, None, None]).astype(np.float32)
        else:
            pre = _pool(x, layer, out_hw)
        post = np.maximum(pre, 0, dtype=np.float32) if layer.relu else pre
        approx_post = {}
        for threshold in thresholds:
            x_a = zero_near_zero_lines(approx[threshold][layer.input], threshold)
            if layer.has_weights:
                w_a = zero_near_zero_lines(weights, threshold)
                b_a = zero_near_zero_lines(bias, threshold)
                pre_a = _linear(x_a, w_a, layer, net, out_hw) + b_a[:, None, None]
            else:
                pre_a = _pool(x_a, layer, out_hw)
            if layer.relu:  # the ReLU loop reads the stored pre-activation back
                pre_a = np.maximum(_stored(pre_a, net, layer, threshold), 0)
            approx_post[threshold] = pre_a.astype(np.float32)
            _store(approx[threshold], net, layer, approx_post[threshold])
        _store(tensors, net, layer, post)
        yield LayerValues(layer, weights, bias, x, pre, post, approx_post)
        readers[layer.input] -= 1
        if readers[layer.input] == 0 and layer.input != net.input.name:
            del tensors[layer.input]
            for table in approx.values():
                del table[layer.input]


def _store(tensors: dict[str, np.ndarray], net: Network, layer: Layer, post: np.ndarray) -> None:
    target = net.tensors[layer.output]
    if layer.output not in tensors:
        tensors[layer.output] = np.zeros((target.channels, target.height, target.width),
                                         dtype=np.float32)
    tensors[layer.output][layer.output_offset:layer.output_offset + layer.out_channels] = post


def _stored(pre: np.ndarray, net: Network, layer: Layer, threshold: float) -> np.ndarray:
    """``pre`` as read back from its place in the output tensor, approximate lines zeroed."""
    target = net.tensors[layer.output]
    height, width = target.height, target.width
    first = layer.output_offset * height * width
    words = -(-(first + pre.size) // 8) * 8
    canvas = np.zeros(words, dtype=np.float32)
    canvas[first:first + pre.size] = pre.reshape(-1)
    start = first // 8 * 8
    zeroed = zero_near_zero_lines(canvas[start:], threshold)
    return zeroed[first - start:first - start + pre.size].reshape(pre.shape)
