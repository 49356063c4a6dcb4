"""MobileNet-V3-Small 1.0-224 (Howard et al., "Searching for MobileNetV3", ICCV 2019, Table 2).

Open point in the paper: Table 2 marks SE on the last 1x1 convolution (96 -> 576), but the
reference implementation and every port apply SE only inside bottlenecks; we follow them.
"""

from __future__ import annotations

from ..layers import LayerSpec
from .mobilenet_v3_large import v3_layers

NAME = "mobilenet_v3_small"

# Table 3 of the paper: "V3-Small 1.0 ... 56M MAdds". Our table gives 56.5M with the SE FC
# layers (0.46M) and 56.05M without: +0.9% / +0.1%; the test counts SE like for V3-Large.
PUBLISHED_MACS = 56_000_000
SOURCE = "Howard et al. 2019 (arXiv:1905.02244), Table 2 (layers), Table 3 (56M MAdds)"

# Table 2: kernel, expansion size, output channels, SE, stride; input 112x112x16.
_BNECKS = [(3, 16, 16, True, 2), (3, 72, 24, False, 2), (3, 88, 24, False, 1),
           (5, 96, 40, True, 2), (5, 240, 40, True, 1), (5, 240, 40, True, 1),
           (5, 120, 48, True, 1), (5, 144, 48, True, 1), (5, 288, 96, True, 2),
           (5, 576, 96, True, 1), (5, 576, 96, True, 1)]


def layers() -> list[LayerSpec]:
    return v3_layers(NAME, _BNECKS, head=576, hidden=1024)
