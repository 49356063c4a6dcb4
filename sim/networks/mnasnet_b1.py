"""MnasNet-B1 1.0-224 (Tan et al., "MnasNet", CVPR 2019): MnasNet without squeeze-and-excitation.

The paper draws MnasNet-A1 (Figure 7) and names the variant searched without SE "MnasNet-B1"
(Table 2: 74.5% top-1, 77 ms) without drawing it. Its layers come from the authors' reference
implementation (tensorflow/tpu, models/official/mnasnet/mnasnet_models.py, ``mnasnet_b1``),
which torchvision's ``mnasnet1_0`` also follows: stem 3x3/2 to 32 channels, a separable
3x3 layer to 16 (no expansion), then MBConv stages (expansion, kernel, channels, repeats,
stride): (3, 3, 24, 3, 2), (3, 5, 40, 3, 2), (6, 5, 80, 3, 2), (6, 3, 96, 2, 1),
(6, 5, 192, 4, 2), (6, 3, 320, 1, 1); then a 1x1 convolution to 1280, pooling and the FC.
"""

from __future__ import annotations

from ..layers import LayerSpec, inverted_residual

NAME = "mnasnet_b1"

# The MnasNet paper publishes no MAC count for B1 (its Table 1 has MnasNet-A1: 312M; the
# reference README has A1 1.0-224: 315.2M). The published figure for this exact network is
# torchvision's model card for mnasnet1_0 (the B1 layout): "GFLOPS 0.31", which torchvision
# computes as multiply-accumulates of convolutions and linear layers, rounded to 10M. We use
# 310M; the test tolerance (2%) covers the rounding (305M..315M).
PUBLISHED_MACS = 310_000_000
SOURCE = ("Tan et al. 2019 (arXiv:1807.11626) Table 2 names B1; layers from tensorflow/tpu "
          "mnasnet_models.py mnasnet_b1; MACs: torchvision MNASNet1_0_Weights, 0.31 GFLOPS")

_STAGES = [(3, 3, 24, 3, 2), (3, 5, 40, 3, 2), (6, 5, 80, 3, 2), (6, 3, 96, 2, 1),
           (6, 5, 192, 4, 2), (6, 3, 320, 1, 1)]


def layers() -> list[LayerSpec]:
    net = [LayerSpec("stem", "conv", 224, 224, 3, 32, kernel=3, stride=2, network=NAME)]
    net += inverted_residual("sep", size=112, in_channels=32, expanded=32, out_channels=16,
                             kernel=3, stride=1, network=NAME)
    size, channels, block = 112, 16, 0
    for expansion, kernel, out_channels, repeats, first_stride in _STAGES:
        for repeat in range(repeats):
            block += 1
            stride = first_stride if repeat == 0 else 1
            net += inverted_residual(f"block{block}", size=size, in_channels=channels,
                                     expanded=channels * expansion, out_channels=out_channels,
                                     kernel=kernel, stride=stride, network=NAME)
            size, channels = -(-size // stride), out_channels
    net.append(LayerSpec("head", "pointwise", size, size, channels, 1280, network=NAME))
    net.append(LayerSpec("classifier", "fc", 1, 1, 1280, 1000, network=NAME))
    return net
