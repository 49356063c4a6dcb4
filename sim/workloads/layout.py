"""Where a network's data lives in memory: one float32 region per tensor, weight and bias array.

Regions are laid out in first-use order from ``BASE`` (1 MiB), each starting on a 4 KiB
boundary: the network input, then per layer its weights, its biases and (when first written)
its output tensor. Tensors are channel-major (``c, y, x``), weights ``out x reduction`` with
a convolution's reduction ordered ``in_channel, ky, kx`` (Caffe's order), biases one word per
output. So any line of up to 64 bytes lies in one region, and lines of 32 bytes hold 8
consecutive words of one array. Addresses are byte addresses below ``2**32``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from .networks import Network

__all__ = ["ALIGN", "BASE", "WORD_BYTES", "Layout", "Region"]

BASE = 1 << 20
ALIGN = 4096
WORD_BYTES = 4


@dataclass(frozen=True)
class Region:
    """``words`` float32 words from byte address ``base``; ``kind`` is ``tensor``,
    ``weights`` or ``bias``; ``name`` the tensor's or the layer's name."""

    kind: str
    name: str
    base: int
    words: int

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def end(self) -> int:
        return self.base + WORD_BYTES * self.words

    def address(self, word: int) -> int:
        return self.base + WORD_BYTES * word

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "name": self.name, "base": self.base, "words": self.words}


class Layout:
    """The regions of one network, by key (``"tensor:conv1"``, ``"weights:conv1"``, ...)."""

    def __init__(self, net: Network):
        self.regions: dict[str, Region] = {}
        self._next = BASE

        def place(kind: str, name: str, words: int) -> None:
            if f"{kind}:{name}" in self.regions:
                return
            region = Region(kind, name, self._next, words)
            self.regions[region.key] = region
            self._next = -(-region.end // ALIGN) * ALIGN

        place("tensor", net.input.name, net.input.size)
        for layer in net.layers:
            if layer.has_weights:
                reduction = (layer.in_channels // layer.groups) * layer.kernel ** 2
                place("weights", layer.name, layer.out_channels * reduction)
                place("bias", layer.name, layer.out_channels)
            place("tensor", layer.output, net.tensors[layer.output].size)
        if self._next > 1 << 32:
            raise ValueError(f"{net.name}: needs {self._next} bytes, more than a 32-bit "
                             "address space")
        self._bases = sorted((r.base, r.key) for r in self.regions.values())

    @property
    def end(self) -> int:
        return self._next

    def tensor(self, name: str) -> Region:
        return self.regions[f"tensor:{name}"]

    def weights(self, layer: str) -> Region:
        return self.regions[f"weights:{layer}"]

    def bias(self, layer: str) -> Region:
        return self.regions[f"bias:{layer}"]

    def region_at(self, address: int) -> Region | None:
        """The region holding byte ``address``, or ``None``."""
        index = bisect.bisect_right(self._bases, (address, "\uffff")) - 1
        if index < 0:
            return None
        region = self.regions[self._bases[index][1]]
        return region if address < region.end else None

    def to_list(self) -> list[dict[str, object]]:
        return [self.regions[key].to_dict() for _, key in self._bases]
