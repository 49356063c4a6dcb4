"""Shapes of the four networks SparseCache is evaluated on, with published pruning densities.

Each network is a list of :class:`Layer` in execution order over named :class:`Tensor` s
(batch 1, channels x height x width). A layer reads one tensor and writes a channel range of
another (SqueezeNet's fire modules write both expand convolutions into one tensor, which is
the concatenation without a copy). ``relu=True`` means an in-place ReLU loop runs over the
layer's output right after it. Local response normalization (AlexNet), dropout and softmax are
left out: they are elementwise or absent at inference and SparseCache does not change them.

Published densities (fraction of weights kept, fraction of non-zero activations):

* LeNet-5 (the Caffe model: conv 20 and 50 5x5, max-pool, ip 500 + ReLU, ip 10): weight
  densities from Deep Compression (Han, Mao, Dally, ICLR 2016), Table 2: conv1 66%, conv2 12%,
  ip1 8%, ip2 19%. The SparseCache paper prunes LeNet with Scalpel (Yu et al., ISCA 2017),
  whose per-layer densities we could not verify from any source available here; Scalpel's
  SIMD-aware pruning (weights kept or removed in aligned groups) is the coarse-grained option
  of :mod:`.pruning` instead. LeNet's activations are real (:mod:`.lenet_digits`).
* AlexNet (Caffe ``bvlc_alexnet``, 227x227 input, grouped conv2/4/5): weight densities from
  Deep Compression, Table 4 (conv1 84%, conv2 38%, conv3 35%, conv4 37%, conv5 37%, fc6 9%,
  fc7 9%, fc8 25%); output activation densities ("Act%") from Han, Pool, Tran, Dally,
  "Learning both Weights and Connections", NIPS 2015, Table 2 (conv1 88%, conv2 52%,
  conv3 37%, conv4 40%, conv5 34%, fc1 36%, fc2 40%; fc8 has no ReLU).
* VGG-16 (224x224): weight densities from Deep Compression, Table 5, and activation
  densities from Han et al. NIPS 2015, Table 3 (the ``_VGG`` table below). In both papers the
  FLOP% column equals Weights% times the previous layer's Act%, which we checked for every
  layer: Act% is the density of the layer's ReLU output (before pooling).
* SqueezeNet v1.0 (Caffe, 227x227): weight densities of its Deep Compression run, Iandola et
  al., "SqueezeNet", arXiv:1602.07360, Table 1 (squeeze1x1 / expand1x1 / expand3x3: fire2-5
  100/100/33%, fire6 100/50/33%, fire7 50/100/33%, fire8 100/50/33%, fire9 50/100/30%,
  conv10 20%; conv1 100%); these add up to the table's 421,098 parameters within 0.2%. No
  per-layer activation density is published for SqueezeNet; we assume 50% after every ReLU
  (the mean of AlexNet's five convolution layers above) and say so in every report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["LAYER_KINDS", "NETWORKS", "Layer", "Network", "Tensor", "network"]

LAYER_KINDS = ("conv", "fc", "maxpool", "avgpool")


@dataclass(frozen=True)
class Tensor:
    """A ``channels x height x width`` float tensor (batch 1), stored channel-major."""

    name: str
    channels: int
    height: int = 1
    width: int = 1

    @property
    def size(self) -> int:
        return self.channels * self.height * self.width


@dataclass(frozen=True)
class Layer:
    """One layer: ``kind`` in ``LAYER_KINDS``, reading tensor ``input`` and writing channels
    ``output_offset .. output_offset + out_channels - 1`` of tensor ``output``.

    ``fc`` reads its input flattened (channel-major). ``weight_density`` is the published
    fraction of weights kept (``None`` for pooling); ``activation_density`` the published
    fraction of non-zero ReLU outputs (``None`` when not published or no ReLU).
    """

    name: str
    kind: str
    input: str
    output: str
    in_channels: int
    out_channels: int
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    groups: int = 1
    output_offset: int = 0
    relu: bool = False
    weight_density: float | None = None
    activation_density: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in LAYER_KINDS:
            raise ValueError(f"{self.name}: kind must be one of {', '.join(LAYER_KINDS)}, "
                             f"got {self.kind!r}")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{self.name}: channels must divide into {self.groups} groups")
        for name in ("weight_density", "activation_density"):
            value = getattr(self, name)
            if value is not None and not 0 < value <= 1:
                raise ValueError(f"{self.name}: {name} must be in (0, 1], got {value}")

    @property
    def has_weights(self) -> bool:
        return self.kind in ("conv", "fc")


@dataclass(frozen=True)
class Network:
    """Tensors by name (the first is the network input), layers in execution order, and the
    sources of every published figure used."""

    name: str
    tensors: dict[str, Tensor]
    layers: tuple[Layer, ...]
    sources: tuple[str, ...] = field(default=())
    trained: bool = False

    @property
    def input(self) -> Tensor:
        return next(iter(self.tensors.values()))

    def output_size(self, layer: Layer) -> tuple[int, int]:
        """Output height and width of ``layer`` (floor division, as every layer here is exact)."""
        source = self.tensors[layer.input]
        if layer.kind == "fc":
            return 1, 1
        height = (source.height + 2 * layer.padding - layer.kernel) // layer.stride + 1
        width = (source.width + 2 * layer.padding - layer.kernel) // layer.stride + 1
        return height, width

    def check(self) -> None:
        """Every layer's input and output tensors exist and fit its shape."""
        for layer in self.layers:
            where = f"{self.name}/{layer.name}"
            for name in (layer.input, layer.output):
                if name not in self.tensors:
                    raise ValueError(f"{where}: unknown tensor {name!r}")
            source, target = self.tensors[layer.input], self.tensors[layer.output]
            expected = source.size if layer.kind == "fc" else source.channels
            if layer.in_channels != expected:
                raise ValueError(f"{where}: in_channels {layer.in_channels}, input tensor "
                                 f"{layer.input} gives {expected}")
            if layer.kind in ("maxpool", "avgpool") and layer.in_channels != layer.out_channels:
                raise ValueError(f"{where}: pooling keeps the channel count")
            height, width = self.output_size(layer)
            if (target.height, target.width) != (height, width):
                raise ValueError(f"{where}: output is {height}x{width}, tensor {target.name} "
                                 f"is {target.height}x{target.width}")
            if layer.output_offset + layer.out_channels > target.channels:
                raise ValueError(f"{where}: channels {layer.output_offset}.."
                                 f"{layer.output_offset + layer.out_channels - 1} do not fit "
                                 f"tensor {target.name} ({target.channels} channels)")


def _builder(name: str, tensors: list[Tensor]):
    table = {t.name: t for t in tensors}
    layers: list[Layer] = []

    def add(tensor: Tensor) -> str:
        table[tensor.name] = tensor
        return tensor.name

    return table, layers, add


def _with_classifier(name: str, table: dict[str, Tensor], layers: list[Layer], add,
                     source: str, specs: tuple[tuple[str, int, float, float | None], ...],
                     sources: tuple[str, ...]) -> Network:
    """The network with fully connected layers ``(name, outputs, weights%, Act%)`` after
    tensor ``source``; a layer has a ReLU when its Act% is given."""
    features = table[source].size
    for layer, out, wd, ad in specs:
        layers.append(Layer(layer, "fc", source, add(Tensor(layer, out)), features, out,
                            relu=ad is not None, weight_density=wd, activation_density=ad))
        source, features = layer, out
    return Network(name, table, tuple(layers), sources)


def lenet5() -> Network:
    table, layers, add = _builder("lenet5", [Tensor("data", 1, 28, 28)])
    layers.append(Layer("conv1", "conv", "data", add(Tensor("conv1", 20, 24, 24)), 1, 20,
                        kernel=5, weight_density=0.66))
    layers.append(Layer("pool1", "maxpool", "conv1", add(Tensor("pool1", 20, 12, 12)), 20, 20,
                        kernel=2, stride=2))
    layers.append(Layer("conv2", "conv", "pool1", add(Tensor("conv2", 50, 8, 8)), 20, 50,
                        kernel=5, weight_density=0.12))
    layers.append(Layer("pool2", "maxpool", "conv2", add(Tensor("pool2", 50, 4, 4)), 50, 50,
                        kernel=2, stride=2))
    layers.append(Layer("ip1", "fc", "pool2", add(Tensor("ip1", 500)), 800, 500, relu=True,
                        weight_density=0.08))
    layers.append(Layer("ip2", "fc", "ip1", add(Tensor("ip2", 10)), 500, 10,
                        weight_density=0.19))
    return Network("lenet5", table, tuple(layers), (
        "shape: Caffe examples/mnist/lenet.prototxt",
        "weights: Han et al., Deep Compression, ICLR 2016, Table 2 (LeNet-5)",
        "values: trained here on scikit-learn's digits (accelgen.sim.workloads.lenet_digits)",
    ), trained=True)


def alexnet() -> Network:
    table, layers, add = _builder("alexnet", [Tensor("data", 3, 227, 227)])
    conv = [  # name, out, kernel, stride, pad, groups, weights%, act%, pool after
        ("conv1", 96, 11, 4, 0, 1, 0.84, 0.88, True),
        ("conv2", 256, 5, 1, 2, 2, 0.38, 0.52, True),
        ("conv3", 384, 3, 1, 1, 1, 0.35, 0.37, False),
        ("conv4", 384, 3, 1, 1, 2, 0.37, 0.40, False),
        ("conv5", 256, 3, 1, 1, 2, 0.37, 0.34, True),
    ]
    source, channels, size = "data", 3, 227
    for name, out, kernel, stride, pad, groups, wd, ad, pool in conv:
        size = (size + 2 * pad - kernel) // stride + 1
        layers.append(Layer(name, "conv", source, add(Tensor(name, out, size, size)), channels,
                            out, kernel=kernel, stride=stride, padding=pad, groups=groups,
                            relu=True, weight_density=wd, activation_density=ad))
        source, channels = name, out
        if pool:
            size = (size - 3) // 2 + 1
            pool_name = "pool" + name[-1]
            layers.append(Layer(pool_name, "maxpool", source,
                                add(Tensor(pool_name, out, size, size)), out, out, kernel=3,
                                stride=2))
            source = pool_name
    classifier = (("fc6", 4096, 0.09, 0.36), ("fc7", 4096, 0.09, 0.40), ("fc8", 1000, 0.25, None))
    return _with_classifier("alexnet", table, layers, add, source, classifier, (
        "shape: Caffe models/bvlc_alexnet/deploy.prototxt (LRN and dropout left out)",
        "weights: Han et al., Deep Compression, ICLR 2016, Table 4",
        "activations: Han et al., Learning both Weights and Connections, NIPS 2015, Table 2 "
        "(Act%)"))


# name, output channels, weights% (Deep Compression Table 5), Act% (NIPS 2015 Table 3);
# "pool" marks a 2x2/2 max-pool.
_VGG = [
    ("conv1_1", 64, 0.58, 0.53), ("conv1_2", 64, 0.22, 0.89), "pool",
    ("conv2_1", 128, 0.34, 0.80), ("conv2_2", 128, 0.36, 0.81), "pool",
    ("conv3_1", 256, 0.53, 0.68), ("conv3_2", 256, 0.24, 0.70), ("conv3_3", 256, 0.42, 0.64),
    "pool",
    ("conv4_1", 512, 0.32, 0.51), ("conv4_2", 512, 0.27, 0.45), ("conv4_3", 512, 0.34, 0.34),
    "pool",
    ("conv5_1", 512, 0.35, 0.32), ("conv5_2", 512, 0.29, 0.29), ("conv5_3", 512, 0.36, 0.19),
    "pool",
]


def vgg16() -> Network:
    table, layers, add = _builder("vgg16", [Tensor("data", 3, 224, 224)])
    source, channels, size, pools = "data", 3, 224, 0
    for entry in _VGG:
        if entry == "pool":
            pools += 1
            size //= 2
            name = f"pool{pools}"
            layers.append(Layer(name, "maxpool", source, add(Tensor(name, channels, size, size)),
                                channels, channels, kernel=2, stride=2))
        else:
            name, out, wd, ad = entry
            layers.append(Layer(name, "conv", source, add(Tensor(name, out, size, size)),
                                channels, out, kernel=3, padding=1, relu=True,
                                weight_density=wd, activation_density=ad))
            channels = out
        source = name
    classifier = (("fc6", 4096, 0.04, 0.38), ("fc7", 4096, 0.04, 0.42), ("fc8", 1000, 0.23, None))
    return _with_classifier("vgg16", table, layers, add, source, classifier, (
        "shape: Simonyan and Zisserman, ICLR 2015, configuration D",
        "weights: Han et al., Deep Compression, ICLR 2016, Table 5",
        "activations: Han et al., Learning both Weights and Connections, NIPS 2015, Table 3 "
        "(Act%)"))


SQUEEZENET_ACTIVATION_DENSITY = 0.5
"""Assumed (not published): the mean of AlexNet's published convolution Act% (88, 52, 37, 40,
34 -> 50%)."""

# fire module: squeeze, expand (each of 1x1 and 3x3), densities of s1x1, e1x1, e3x3.
_FIRES = {
    2: (16, 64, (1.0, 1.0, 0.33)), 3: (16, 64, (1.0, 1.0, 0.33)),
    4: (32, 128, (1.0, 1.0, 0.33)), 5: (32, 128, (1.0, 1.0, 0.33)),
    6: (48, 192, (1.0, 0.5, 0.33)), 7: (48, 192, (0.5, 1.0, 0.33)),
    8: (64, 256, (1.0, 0.5, 0.33)), 9: (64, 256, (0.5, 1.0, 0.30)),
}


def squeezenet() -> Network:
    act = SQUEEZENET_ACTIVATION_DENSITY
    table, layers, add = _builder("squeezenet", [Tensor("data", 3, 227, 227)])
    layers.append(Layer("conv1", "conv", "data", add(Tensor("conv1", 96, 111, 111)), 3, 96,
                        kernel=7, stride=2, relu=True, weight_density=1.0,
                        activation_density=act))
    layers.append(Layer("pool1", "maxpool", "conv1", add(Tensor("pool1", 96, 55, 55)), 96, 96,
                        kernel=3, stride=2))
    source, channels, size = "pool1", 96, 55
    for number in range(2, 10):
        squeeze, expand, (ds, d1, d3) = _FIRES[number]
        fire = f"fire{number}"
        s_name = add(Tensor(f"{fire}/squeeze1x1", squeeze, size, size))
        layers.append(Layer(s_name, "conv", source, s_name, channels, squeeze, relu=True,
                            weight_density=ds, activation_density=act))
        out = add(Tensor(f"{fire}/concat", 2 * expand, size, size))
        layers.append(Layer(f"{fire}/expand1x1", "conv", s_name, out, squeeze, expand,
                            relu=True, weight_density=d1, activation_density=act))
        layers.append(Layer(f"{fire}/expand3x3", "conv", s_name, out, squeeze, expand,
                            kernel=3, padding=1, output_offset=expand, relu=True,
                            weight_density=d3, activation_density=act))
        source, channels = out, 2 * expand
        if number in (4, 8):
            size = (size - 3) // 2 + 1
            name = f"pool{number}"
            layers.append(Layer(name, "maxpool", source, add(Tensor(name, channels, size, size)),
                                channels, channels, kernel=3, stride=2))
            source = name
    layers.append(Layer("conv10", "conv", source, add(Tensor("conv10", 1000, 13, 13)), 512,
                        1000, relu=True, weight_density=0.2, activation_density=act))
    layers.append(Layer("pool10", "avgpool", "conv10", add(Tensor("pool10", 1000, 1, 1)), 1000,
                        1000, kernel=13, stride=1))
    return Network("squeezenet", table, tuple(layers), (
        "shape: Caffe SqueezeNet v1.0 deploy.prototxt (DeepScale/SqueezeNet)",
        "weights: Iandola et al., SqueezeNet, arXiv:1602.07360, Table 1 (Deep Compression)",
        f"activations: not published; {act:.0%} after every ReLU assumed (the mean of "
        "AlexNet's convolution Act%)",
    ))


_BUILDERS = {"lenet5": lenet5, "alexnet": alexnet, "vgg16": vgg16, "squeezenet": squeezenet}
NETWORKS: tuple[str, ...] = tuple(_BUILDERS)


def network(name: str) -> Network:
    """The checked shape of network ``name`` (one of ``NETWORKS``)."""
    if name not in _BUILDERS:
        raise ValueError(f"network: unknown network {name!r}; known: {', '.join(NETWORKS)}")
    net = _BUILDERS[name]()
    net.check()
    return net
