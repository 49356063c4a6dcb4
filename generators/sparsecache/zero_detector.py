"""Zero detector (ZDA): flags a cache line whose words are all zero, or all nearly zero.

SparseCache sends a line to the null cache instead of the data cache when this says it is zero.
Purely combinational, so it adds no cycle to the fill path.
"""

from __future__ import annotations

from amaranth import Cat, Module, ShapeLike, signed
from amaranth.back import verilog
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..emit import GeneratedDesign
from ..metadata import describe_component, describe_layout, generator_version
from .config import WordFormat, ZeroDetectorConfig

__all__ = ["ZeroDetector", "generate_zero_detector", "word_layout"]


def word_layout(word_format: WordFormat) -> ShapeLike:
    """One word: ``signed(bits)`` for integers; IEEE fields ``fraction``, ``exponent``, ``sign``
    (least significant first) for floats."""
    bits = word_format.bits
    if not word_format.is_float:
        return signed(bits)
    fraction = word_format.mantissa_bits
    return data.StructLayout({"fraction": fraction, "exponent": bits - 1 - fraction, "sign": 1})


class ZeroDetector(wiring.Component):
    """``all_zero`` and ``near_zero`` of one line, combinationally (no clock, no latency).

    ``all_zero``: every word is zero (``-0.0`` counts). ``near_zero``: every word's magnitude
    is at most the threshold fixed at generation; floats compare their magnitude bits (sign
    cleared) with :attr:`ZeroDetectorConfig.threshold_bits`, so NaN and infinity never pass.
    With threshold 0 the two outputs are equal. See :mod:`accelgen.sim.sparsecache.zero_detector`
    for the reference rule.

    Parameters
    ----------
    config : :class:`ZeroDetectorConfig`

    Members
    -------
    line : ``In(ArrayLayout(word_layout(word_format), words))``
        The line, word 0 in the least significant bits (byte ``b`` of the line is bits
        ``8*b .. 8*b+7``, words little-endian).
    all_zero : ``Out(1)``
    near_zero : ``Out(1)``
    """

    def __init__(self, config: ZeroDetectorConfig):
        if not isinstance(config, ZeroDetectorConfig):
            self._MustUse__silence = True  # a refused component is not an unused one
            raise TypeError(f"config: must be a ZeroDetectorConfig, got {config!r}")
        self._config = config
        super().__init__({
            "line": In(data.ArrayLayout(word_layout(config.word_format), config.words)),
            "all_zero": Out(1),
            "near_zero": Out(1),
        })

    @property
    def config(self) -> ZeroDetectorConfig:
        return self._config

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self._config
        limit = cfg.threshold_bits
        zero, near = [], []
        for i in range(cfg.words):
            word = self.line[i]
            if cfg.word_format.is_float:
                magnitude = Cat(word.fraction, word.exponent)
                zero.append(magnitude == 0)
                near.append(magnitude <= limit)
            else:
                zero.append(word == 0)
                near.append((word >= -limit) & (word <= limit))
        m.d.comb += [
            self.all_zero.eq(Cat(zero).all()),
            self.near_zero.eq(Cat(near).all()),
        ]
        return m


def generate_zero_detector(config: ZeroDetectorConfig) -> GeneratedDesign:
    """Verilog of a :class:`ZeroDetector` named ``config.name``, with its JSON description.

    The module has no clock or reset ports.
    """
    detector = ZeroDetector(config)
    text = verilog.convert(detector, name=config.name, emit_src=False)
    ports = [port for port in describe_component(detector)["ports"]
             if port["name"] not in ("clk", "rst")]
    description = {
        "generator": "accelgen",
        "generator_version": generator_version(),
        "kind": "sparsecache_zero_detector",
        "module": config.name,
        "parameters": config.to_dict(),
        "line_layout": describe_layout(detector.signature.members["line"].shape),
        "ports": ports,
    }
    return GeneratedDesign(config.name, text, description)
