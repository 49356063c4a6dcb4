"""MobileNet-V1 1.0-224 (Howard et al., "MobileNets", arXiv:1704.04861, Table 1).

A 3x3 stride-2 convolution, then 13 depthwise-separable layers (3x3 depthwise + 1x1
pointwise), global average pooling and a 1000-way FC.

Open point in the paper: Table 1 lists the last depthwise layer as "Conv dw / s2" on a 7x7
input, yet its output (and the next layer's input) is 7x7; every implementation uses stride 1
there, and so do we.
"""

from __future__ import annotations

from ..layers import LayerSpec

NAME = "mobilenet_v1"

# Table 2 of the paper: "MobileNet 1.0-224 ... 569 Million Mult-Adds". The count covers the
# convolutions and the FC (1.0M); there are no SE layers.
PUBLISHED_MACS = 569_000_000
SOURCE = "Howard et al. 2017 (arXiv:1704.04861), Table 1 (layers), Table 2 (569M Mult-Adds)"

# (depthwise stride, pointwise output channels), in order; from Table 1.
_SEPARABLE = [(1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
              (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024)]


def layers() -> list[LayerSpec]:
    net = [LayerSpec("conv1", "conv", 224, 224, 3, 32, kernel=3, stride=2, network=NAME)]
    size, channels = 112, 32
    for index, (stride, out_channels) in enumerate(_SEPARABLE, start=1):
        net.append(LayerSpec(f"sep{index}_dw", "depthwise", size, size, channels, channels,
                             kernel=3, stride=stride, groups=channels, network=NAME))
        size = -(-size // stride)
        net.append(LayerSpec(f"sep{index}_pw", "pointwise", size, size, channels, out_channels,
                             network=NAME))
        channels = out_channels
    net.append(LayerSpec("fc", "fc", 1, 1, channels, 1000, network=NAME))
    return net
