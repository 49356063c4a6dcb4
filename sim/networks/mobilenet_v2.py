"""MobileNet-V2 1.0-224 (Sandler et al., "MobileNetV2", CVPR 2018, Table 2).

Inverted residual bottlenecks: 1x1 expansion by t, 3x3 depthwise, 1x1 linear projection. The
first bottleneck has t = 1 and, as in the reference implementation, no expansion layer.
"""

from __future__ import annotations

from ..layers import LayerSpec, inverted_residual

NAME = "mobilenet_v2"

# Table 4 of the paper: "MobileNetV2 ... 300M MAdds" (1.0-224), convolutions and the final
# 1x1 classifier (1.28M) included; no SE layers.
PUBLISHED_MACS = 300_000_000
SOURCE = "Sandler et al. 2018 (arXiv:1801.04381), Table 2 (layers), Table 4 (300M MAdds)"

# Table 2: expansion t, output channels c, repeats n, first stride s.
_BOTTLENECKS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]


def layers() -> list[LayerSpec]:
    net = [LayerSpec("stem", "conv", 224, 224, 3, 32, kernel=3, stride=2, network=NAME)]
    size, channels, block = 112, 32, 0
    for expansion, out_channels, repeats, first_stride in _BOTTLENECKS:
        for repeat in range(repeats):
            block += 1
            stride = first_stride if repeat == 0 else 1
            net += inverted_residual(f"block{block}", size=size, in_channels=channels,
                                     expanded=channels * expansion, out_channels=out_channels,
                                     kernel=3, stride=stride, network=NAME)
            size, channels = -(-size // stride), out_channels
    net.append(LayerSpec("head", "pointwise", size, size, channels, 1280, network=NAME))
    net.append(LayerSpec("classifier", "fc", 1, 1, 1280, 1000, network=NAME))
    return net
