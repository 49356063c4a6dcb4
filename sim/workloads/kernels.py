"""The loop nests of a simple in-order CPU running each layer, as word loads and stores.

Every loop runs over the layer's outputs in storage order (output channel, row, column), so
a contiguous range of outputs is a contiguous piece of the whole loop nest; that is what
:mod:`.sampling` cuts out. Per output (``acc`` lives in a register):

* convolution (direct, no im2col; taps outside the input, i.e. in the zero padding, are
  skipped by the bounds check)::

      acc = bias[oc]                                  # load
      for ic in group's input channels, ky, kx:       # Caffe weight order
          acc += W[oc, ic, ky, kx] * X[ic, y, x]      # load W, load X
      Y[oc, oy, ox] = acc                             # store (before ReLU)

* fully connected: the same with ``X`` flattened and ``W[o, i]``;
* max / average pooling: ``k*k`` loads of ``X`` and one store;
* ReLU (Caffe's in-place layer, after the layer's loop): ``Y[i] = max(Y[i], 0)``, one load
  and one store per element, every element stored.

Loads move before stores in program order and nothing is reordered (an in-order core with one
outstanding access). ``gap`` is the number of non-memory cycles before an access on a
single-issue core with 1-cycle ALU operations: 2 before the bias load (loop control and
address setup), 1 before each weight load and before the store (the previous multiply-add),
0 between a weight load and its input load, 1 before every pooling or ReLU load and store
(the compare or add). These are the only compute costs the cycle counts contain.
"""

from __future__ import annotations

import numpy as np

from .layout import WORD_BYTES, Layout
from .networks import Layer, Network
from .trace_format import LOAD, RECORD_DTYPE, STORE

__all__ = ["GAPS", "layer_outputs", "layer_records", "output_costs", "relu_records"]

GAPS = {"bias": 2, "weight": 1, "input": 0, "store": 1, "pool": 1, "relu": 1}


def layer_outputs(layer: Layer, net: Network) -> int:
    height, width = net.output_size(layer)
    return layer.out_channels * height * width


def _taps(layer: Layer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = layer.kernel
    channels = layer.in_channels // layer.groups if layer.kind == "conv" else 1
    ic, ky, kx = np.meshgrid(np.arange(channels), np.arange(k), np.arange(k), indexing="ij")
    return ic.reshape(-1), ky.reshape(-1), kx.reshape(-1)


def _positions(layer: Layer, net: Network, outputs: np.ndarray):
    height, width = net.output_size(layer)
    plane = height * width
    return outputs // plane, (outputs % plane) // width, outputs % width


def output_costs(layer: Layer, net: Network) -> np.ndarray:
    """Accesses of each output of the layer's own loop (ReLU not included), in loop order."""
    n = layer_outputs(layer, net)
    if layer.kind == "fc":
        return np.full(n, 2 * layer.in_channels + 2, dtype=np.int64)
    if layer.kind in ("maxpool", "avgpool"):
        return np.full(n, layer.kernel ** 2 + 1, dtype=np.int64)
    source = net.tensors[layer.input]
    height, width = net.output_size(layer)
    k, s, p = layer.kernel, layer.stride, layer.padding
    rows = np.arange(height)[:, None] * s - p + np.arange(k)[None, :]
    cols = np.arange(width)[:, None] * s - p + np.arange(k)[None, :]
    valid_rows = ((rows >= 0) & (rows < source.height)).sum(axis=1)
    valid_cols = ((cols >= 0) & (cols < source.width)).sum(axis=1)
    taps = np.outer(valid_rows, valid_cols).reshape(-1) * (layer.in_channels // layer.groups)
    return np.tile(2 * taps + 2, layer.out_channels).astype(np.int64)


def _bits(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)


def _pack(address, op, value, gap, keep, flags: int = 0) -> np.ndarray:
    out = np.empty(int(keep.sum()), dtype=RECORD_DTYPE)
    out["address"] = address[keep]
    out["op"] = op[keep]
    out["value"] = value[keep]
    out["gap"] = gap[keep]
    out["flags"] = flags
    return out


def layer_records(layer: Layer, net: Network, layout: Layout, pre: np.ndarray,
                  outputs: np.ndarray) -> np.ndarray:
    """Records of the layer's loop for ``outputs`` (indices, in the order given); ``pre`` is
    the layer's output before ReLU (the stored values)."""
    outputs = np.asarray(outputs, dtype=np.int64)
    n = outputs.size
    out_region = layout.tensor(layer.output)
    height, width = net.output_size(layer)
    first_word = layer.output_offset * height * width
    out_address = out_region.address(first_word + outputs)
    stored = _bits(pre.reshape(-1)[outputs])
    source = net.tensors[layer.input]
    in_base = layout.tensor(layer.input).base
    if layer.kind in ("maxpool", "avgpool"):
        oc, oy, ox = _positions(layer, net, outputs)
        _, ky, kx = _taps(layer)
        iy = oy[:, None] * layer.stride + ky[None, :]
        ix = ox[:, None] * layer.stride + kx[None, :]
        loads = in_base + WORD_BYTES * ((oc[:, None] * source.height + iy) * source.width + ix)
        taps = loads.shape[1]
        address = np.empty((n, taps + 1), dtype=np.int64)
        address[:, :taps] = loads
        address[:, taps] = out_address
        op = np.full(address.shape, LOAD, dtype=np.uint8)
        op[:, taps] = STORE
        value = np.zeros(address.shape, dtype=np.uint32)
        value[:, taps] = stored
        gap = np.full(address.shape, GAPS["pool"], dtype=np.uint16)
        return _pack(address, op, value, gap, np.ones(address.shape, dtype=bool))
    weights = layout.weights(layer.name)
    bias = layout.bias(layer.name)
    if layer.kind == "fc":
        oc = outputs
        reduction = layer.in_channels
        inputs = np.broadcast_to(in_base + WORD_BYTES * np.arange(reduction), (n, reduction))
        valid = np.ones((n, reduction), dtype=bool)
    else:
        oc, oy, ox = _positions(layer, net, outputs)
        ic, ky, kx = _taps(layer)
        reduction = ic.size
        group = oc // (layer.out_channels // layer.groups)
        iy = oy[:, None] * layer.stride - layer.padding + ky[None, :]
        ix = ox[:, None] * layer.stride - layer.padding + kx[None, :]
        valid = (iy >= 0) & (iy < source.height) & (ix >= 0) & (ix < source.width)
        channel = group[:, None] * (layer.in_channels // layer.groups) + ic[None, :]
        inputs = in_base + WORD_BYTES * ((channel * source.height + iy) * source.width + ix)
    width_row = 2 * reduction + 2
    address = np.empty((n, width_row), dtype=np.int64)
    address[:, 0] = bias.address(oc)
    address[:, 1:-1:2] = weights.base + WORD_BYTES * (oc[:, None] * reduction
                                                      + np.arange(reduction)[None, :])
    address[:, 2:-1:2] = inputs
    address[:, -1] = out_address
    keep = np.ones(address.shape, dtype=bool)
    keep[:, 1:-1:2] = valid
    keep[:, 2:-1:2] = valid
    op = np.full(address.shape, LOAD, dtype=np.uint8)
    op[:, -1] = STORE
    value = np.zeros(address.shape, dtype=np.uint32)
    value[:, -1] = stored
    gap = np.empty(width_row, dtype=np.uint16)
    gap[0] = GAPS["bias"]
    gap[1:-1:2] = GAPS["weight"]
    gap[2:-1:2] = GAPS["input"]
    gap[-1] = GAPS["store"]
    return _pack(address, op, value, np.broadcast_to(gap, address.shape), keep)


def relu_records(layer: Layer, net: Network, layout: Layout, pre: np.ndarray,
                 outputs: np.ndarray) -> np.ndarray:
    """Records of the in-place ReLU over ``outputs`` of ``layer`` (indices, in order)."""
    height, width = net.output_size(layer)
    first_word = layer.output_offset * height * width
    words = np.asarray(outputs, dtype=np.int64)
    address = np.repeat(layout.tensor(layer.output).address(first_word + words), 2)
    op = np.tile(np.array([LOAD, STORE], dtype=np.uint8), words.size)
    value = np.zeros(address.size, dtype=np.uint32)
    value[1::2] = _bits(np.maximum(pre.reshape(-1)[words], 0))
    gap = np.full(address.size, GAPS["relu"], dtype=np.uint16)
    return _pack(address, op, value, gap, np.ones(address.size, dtype=bool))
