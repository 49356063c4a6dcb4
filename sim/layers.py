"""Layer tables: the convolution layers of a network, as a cycle model or MAC count needs them.

A network is a ``list[LayerSpec]`` in execution order. Each entry is one convolution-like
layer (standard, depthwise, pointwise, fully connected, or a squeeze-and-excitation FC) with its
input size; pooling, activations, batch norm and residual additions carry no multiply-
accumulates and are not listed. ``check_chain`` checks that consecutive layers fit together:

- a layer consumes the output of the last non-SE layer before it (channels and size);
- ``fc`` and ``se_fc`` layers read a 1x1 input: a global average pool precedes them when the
  previous output is larger;
- ``se_fc`` layers come in pairs (squeeze C -> S, excite S -> C) and leave the tensor unchanged;
- a layer with ``concat=True`` runs in parallel with the previous layer on the same input
  (each reads all channels) or on the next slice of it (the input channels add up), and its
  output channels are concatenated: this is how FuSe's row and column filters are written.

``load_scalesim_csv`` reads a user's own network from SCALE-Sim's topology format.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from .depthwise import PADDINGS, conv_output_size

__all__ = [
    "KINDS",
    "LayerSpec",
    "check_chain",
    "inverted_residual",
    "load_scalesim_csv",
    "macs",
    "parse_scalesim_csv",
    "total_macs",
]

KINDS = ("conv", "depthwise", "pointwise", "fc", "se_fc")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class LayerSpec:
    """One layer: its kind, input size (``height`` x ``width`` x ``in_channels``) and filter.

    ``kernel`` is (height, width); an int means a square kernel. ``stride`` applies to both
    axes. ``network`` only prefixes error messages ("mobilenet_v2/block3_dw: ...").
    """

    name: str
    kind: str
    height: int
    width: int
    in_channels: int
    out_channels: int
    kernel: tuple[int, int] | int = 1
    stride: int = 1
    groups: int = 1
    padding: str = "same"
    concat: bool = False
    network: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"{self.network}: layer name must be a non-empty string, "
                             f"got {self.name!r}")
        if self.kind not in KINDS:
            self._fail("kind", f"must be one of {', '.join(KINDS)}", self.kind)
        for field in ("height", "width", "in_channels", "out_channels", "stride", "groups"):
            value = getattr(self, field)
            if not _is_int(value) or value < 1:
                self._fail(field, "must be an integer >= 1", value)
        if self.padding not in PADDINGS:
            self._fail("padding", f"must be one of {', '.join(PADDINGS)}", self.padding)
        kernel = self.kernel if isinstance(self.kernel, tuple) else (self.kernel, self.kernel)
        if len(kernel) != 2:
            self._fail("kernel", "must be an int or a (height, width) pair", self.kernel)
        for k in kernel:
            odd = self.padding == "same"
            if not _is_int(k) or k < 1 or (odd and k % 2 == 0):
                self._fail("kernel", "must be odd and >= 1" if odd else "must be >= 1", k)
        object.__setattr__(self, "kernel", kernel)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            self._fail("groups", f"must divide in_channels {self.in_channels} and "
                       f"out_channels {self.out_channels}", self.groups)
        if self.kind == "depthwise" and not (
                self.groups == self.in_channels == self.out_channels):
            self._fail("groups", f"of a depthwise layer must equal in_channels "
                       f"{self.in_channels} and out_channels {self.out_channels}", self.groups)
        if self.kind in ("pointwise", "fc", "se_fc") and kernel != (1, 1):
            self._fail("kernel", f"of a {self.kind} layer must be 1", self.kernel)
        if self.kind in ("fc", "se_fc"):
            if (self.height, self.width) != (1, 1):
                self._fail("height", f"and width of a {self.kind} layer must be 1",
                           (self.height, self.width))
            if self.stride != 1 or self.groups != 1:
                self._fail("stride", f"and groups of a {self.kind} layer must be 1",
                           (self.stride, self.groups))
        try:
            conv_output_size(self.height, kernel[0], self.stride, self.padding)
            conv_output_size(self.width, kernel[1], self.stride, self.padding)
        except ValueError as error:
            raise ValueError(f"{self.where}: kernel {error}") from None

    @property
    def where(self) -> str:
        return f"{self.network}/{self.name}" if self.network else self.name

    def _fail(self, field: str, rule: str, value: object) -> None:
        raise ValueError(f"{self.where}: {field} {rule}, got {value!r}")

    @property
    def out_height(self) -> int:
        return conv_output_size(self.height, self.kernel[0], self.stride, self.padding)

    @property
    def out_width(self) -> int:
        return conv_output_size(self.width, self.kernel[1], self.stride, self.padding)


def macs(layer: LayerSpec) -> int:
    """Multiply-accumulates of one layer: every output element sums K_h*K_w*C_in/groups."""
    kernel_h, kernel_w = layer.kernel
    return (layer.out_height * layer.out_width * layer.out_channels
            * (layer.in_channels // layer.groups) * kernel_h * kernel_w)


def total_macs(layers: list[LayerSpec], *, include_se: bool = True) -> int:
    return sum(macs(layer) for layer in layers if include_se or layer.kind != "se_fc")


def check_chain(layers: list[LayerSpec], network: str = "") -> None:
    """Raise ``ValueError`` naming the first layer whose input does not fit what precedes it."""
    tensor: tuple[int, int, int] | None = None  # (channels, height, width) of the main path
    consumed: tuple[int, int, int] | None = None  # what the current (parallel) group read
    group: list[LayerSpec] = []
    squeeze: LayerSpec | None = None

    def where(layer: LayerSpec) -> str:
        return f"{network}/{layer.name}" if network else layer.where

    def close_group() -> None:
        if len(group) > 1 and consumed is not None:
            ins = [layer.in_channels for layer in group]
            if not all(c == consumed[0] for c in ins) and sum(ins) != consumed[0]:
                raise ValueError(f"{where(group[-1])}: in_channels of the concatenated layers "
                                 f"{ins} must each equal, or add up to, {consumed[0]}")

    for index, layer in enumerate(layers):
        if layer.kind == "se_fc":
            if tensor is None:
                raise ValueError(f"{where(layer)}: an SE layer cannot come first")
            source = squeeze.out_channels if squeeze else tensor[0]
            if layer.in_channels != source:
                raise ValueError(f"{where(layer)}: in_channels must be {source}, "
                                 f"got {layer.in_channels}")
            if squeeze is not None and layer.out_channels != tensor[0]:
                raise ValueError(f"{where(layer)}: out_channels must be {tensor[0]} to scale "
                                 f"the tensor it excites, got {layer.out_channels}")
            squeeze = None if squeeze else layer
            continue
        if squeeze is not None:
            raise ValueError(f"{where(squeeze)}: an SE squeeze layer needs an excite layer")
        out = (layer.out_channels, layer.out_height, layer.out_width)
        if layer.concat:
            if not group or tensor is None:
                raise ValueError(f"{where(layer)}: concat must follow the layer it runs with")
            first = group[0]
            if (layer.height, layer.width, layer.stride) != (first.height, first.width,
                                                            first.stride):
                raise ValueError(f"{where(layer)}: height, width and stride must match "
                                 f"{first.name}, which it runs in parallel with")
            if out[1:] != tensor[1:]:
                raise ValueError(f"{where(layer)}: output size {out[1:]} must match "
                                 f"{first.name}'s {tensor[1:]} to be concatenated")
            group.append(layer)
            tensor = (tensor[0] + out[0], *tensor[1:])
            continue
        close_group()
        if tensor is not None:
            pooled = layer.kind == "fc"
            expect = (tensor[0], 1, 1) if pooled else tensor
            got = (layer.in_channels, layer.height, layer.width)
            starts_group = index + 1 < len(layers) and layers[index + 1].concat
            for field, want, have in zip(("in_channels", "height", "width"), expect, got,
                                         strict=True):
                if want != have and not (field == "in_channels" and starts_group):
                    raise ValueError(f"{where(layer)}: {field} must be {want} to chain with "
                                     f"the previous layer, got {have}")
        consumed, group, tensor = tensor, [layer], out
    if squeeze is not None:
        raise ValueError(f"{where(squeeze)}: an SE squeeze layer needs an excite layer")
    close_group()


def inverted_residual(prefix: str, *, size: int, in_channels: int, expanded: int,
                      out_channels: int, kernel: int, stride: int, se_channels: int | None = None,
                      network: str = "") -> list[LayerSpec]:
    """Layers of a mobile inverted bottleneck (MobileNet-V2/V3, MnasNet MBConv).

    1x1 expansion (omitted when ``expanded == in_channels``, as in every reference
    implementation), KxK depthwise, optional squeeze-and-excitation pair, 1x1 projection.
    The residual addition has no MACs.
    """
    out = -(-size // stride)
    layers = []
    if expanded != in_channels:
        layers.append(LayerSpec(f"{prefix}_expand", "pointwise", size, size, in_channels,
                                expanded, network=network))
    layers.append(LayerSpec(f"{prefix}_dw", "depthwise", size, size, expanded, expanded,
                            kernel=kernel, stride=stride, groups=expanded, network=network))
    if se_channels is not None:
        layers.append(LayerSpec(f"{prefix}_se_reduce", "se_fc", 1, 1, expanded, se_channels,
                                network=network))
        layers.append(LayerSpec(f"{prefix}_se_expand", "se_fc", 1, 1, se_channels, expanded,
                                network=network))
    layers.append(LayerSpec(f"{prefix}_project", "pointwise", out, out, expanded, out_channels,
                            network=network))
    return layers


_CSV_COLUMNS = ("IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
                "Num Filter", "Strides", "Stride width")


def load_scalesim_csv(path: str | Path, network: str | None = None) -> list[LayerSpec]:
    """Layers from a SCALE-Sim topology file; ``network`` defaults to the file's stem."""
    path = Path(path)
    return parse_scalesim_csv(path.read_text(), path.stem if network is None else network)


def parse_scalesim_csv(text: str, network: str = "csv") -> list[LayerSpec]:
    """Layers from the text of a SCALE-Sim convolution topology file.

    Columns: Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels,
    Num Filter, Strides, and optionally a ninth, separate width stride (SCALE-Sim v2), which
    must then equal the height stride. As in SCALE-Sim, the first row is a header, the IFMAP is
    taken as given (pad it yourself to model ``same``) and the output size is SCALE-Sim's,
    ``ceil((IFMAP - Filter) / Strides) + 1`` (padding ``valid_ceil``), so MAC counts match
    SCALE-Sim's. Text after ``#`` is a comment and trailing commas are ignored.

    The format has no groups column, so a depthwise layer cannot be written in it. SCALE-Sim
    v2's only workaround is a layer name containing ``DP``, which it runs as one single-channel
    convolution per channel; such rows load here as ``depthwise`` layers (Num Filter must be
    1). Every other row is ``pointwise`` for a 1x1 filter, else ``conv``. Rows are not checked
    for chaining: SCALE-Sim simulates each row on its own.
    """
    layers: list[LayerSpec] = []
    header_seen = False
    for number, line in enumerate(text.splitlines(), start=1):
        cells = [cell.strip() for cell in next(csv.reader([line.split("#", 1)[0]]), [])]
        while cells and cells[-1] == "":
            cells.pop()
        if not cells:
            continue
        if not header_seen:
            header_seen = True
            continue
        where = f"{network} CSV row {number}"
        if len(cells) not in (8, 9):
            raise ValueError(f"{where}: expected 8 or 9 columns (Layer name, "
                             f"{', '.join(_CSV_COLUMNS[:7])}), got {len(cells)}")
        values = {}
        for column, cell in zip(_CSV_COLUMNS, cells[1:], strict=False):
            try:
                values[column] = int(cell)
            except ValueError:
                raise ValueError(f"{where}, column '{column}': expected an integer, "
                                 f"got {cell!r}") from None
            if values[column] < 1:
                raise ValueError(f"{where}, column '{column}': must be >= 1, "
                                 f"got {values[column]}")
        stride = values["Strides"]
        if values.get("Stride width", stride) != stride:
            raise ValueError(f"{where}, column 'Stride width': must equal Strides {stride} "
                             f"(one stride for both axes), got {values['Stride width']}")
        for axis in ("Height", "Width"):
            if values[f"Filter {axis}"] > values[f"IFMAP {axis}"]:
                raise ValueError(f"{where}, column 'Filter {axis}': must be <= IFMAP {axis} "
                                 f"{values[f'IFMAP {axis}']}, got {values[f'Filter {axis}']}")
        name, channels, filters = cells[0], values["Channels"], values["Num Filter"]
        kernel = (values["Filter Height"], values["Filter Width"])
        depthwise = "DP" in name
        if depthwise and filters != 1:
            raise ValueError(f"{where}, column 'Num Filter': a DP (depthwise) row must have 1, "
                             f"got {filters}")
        kind = "depthwise" if depthwise else "pointwise" if kernel == (1, 1) else "conv"
        try:
            layers.append(LayerSpec(name, kind, values["IFMAP Height"], values["IFMAP Width"],
                                    channels, channels if depthwise else filters, kernel=kernel,
                                    stride=stride, groups=channels if depthwise else 1,
                                    padding="valid_ceil", network=network))
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
    return layers
