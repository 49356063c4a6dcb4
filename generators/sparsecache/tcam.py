"""Ternary CAM in registers: the null cache's tag store of (value, care) line-address patterns.

Each entry matches a key when it is valid and the key agrees with its value on every cared bit
(``(key ^ value) & care == 0``). Lookup is combinational over the registered entries; writes
and invalidations land at the next clock edge.
"""

from __future__ import annotations

from amaranth import C, Cat, Module, Mux, Value
from amaranth.back import verilog
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..emit import GeneratedDesign
from ..metadata import describe_component, describe_layout, generator_version
from .config import TcamConfig

__all__ = ["InvalidatePort", "LookupPort", "Tcam", "WritePort", "entry_layout", "generate_tcam"]


def entry_layout(key_width: int) -> data.StructLayout:
    """One stored entry: ``value`` and ``care`` (``key_width`` bits each) and ``valid``.

    X positions (care bit 0) of ``value`` are always zero.
    """
    return data.StructLayout({"value": key_width, "care": key_width, "valid": 1})


class _PortSignature(wiring.Signature):
    """Common parameters, comparison and printing of the TCAM's port signatures."""

    def __init__(self, *, entries: int, key_width: int):
        self._config = TcamConfig(entries=entries, key_width=key_width)
        super().__init__(self._members(self._config))

    @staticmethod
    def _members(config: TcamConfig) -> dict[str, wiring.Member]:
        raise NotImplementedError

    @property
    def entries(self) -> int:
        return self._config.entries

    @property
    def key_width(self) -> int:
        return self._config.key_width

    @property
    def index_width(self) -> int:
        return self._config.index_width

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._config == other._config

    def __repr__(self) -> str:
        return (f"{type(self).__qualname__}(entries={self.entries}, "
                f"key_width={self.key_width})")


class _Port:
    """An interface object whose attributes are its signature's members."""

    def __init__(self, signature: wiring.Signature, *, path: tuple | None = None,
                 src_loc_at: int = 0):
        if not isinstance(signature, type(self).Signature):
            raise TypeError(f"expected a {type(self).__name__}.Signature, got {signature!r}")
        self._signature = signature
        self.__dict__.update(signature.members.create(path=path, src_loc_at=1 + src_loc_at))

    @property
    def signature(self) -> wiring.Signature:
        return self._signature


class LookupPort(_Port):
    """Combinational search of every entry for one key."""

    class Signature(_PortSignature):
        """Signature of a lookup port.

        Members
        -------
        key: ``In(key_width)``
            The line address searched for.
        matches: ``Out(entries)``
            Bit ``i`` is set when entry ``i`` is valid and covers ``key``.
        hit: ``Out(1)``
            Some entry matches.
        index: ``Out(index_width)``
            The lowest matching entry; 0 when nothing matches.
        """

        @staticmethod
        def _members(config: TcamConfig) -> dict[str, wiring.Member]:
            return {
                "key": In(config.key_width),
                "matches": Out(config.entries),
                "hit": Out(1),
                "index": Out(config.index_width),
            }

        def create(self, *, path: tuple | None = None, src_loc_at: int = 0) -> LookupPort:
            return LookupPort(self, path=path, src_loc_at=1 + src_loc_at)


class WritePort(_Port):
    """Stores ``(value & care, care)`` at ``index`` and marks it valid, at the next edge."""

    class Signature(_PortSignature):
        """Signature of a write port.

        Members
        -------
        en: ``In(1)``
            Write this cycle.
        index: ``In(index_width)``
            Entry to write; an index ``>= entries`` writes nothing.
        value: ``In(key_width)``
            Pattern bits; the bits where ``care`` is 0 are ignored (stored as 0).
        care: ``In(key_width)``
            1 where the key must equal ``value``, 0 for X (don't care).
        """

        @staticmethod
        def _members(config: TcamConfig) -> dict[str, wiring.Member]:
            return {
                "en": In(1),
                "index": In(config.index_width),
                "value": In(config.key_width),
                "care": In(config.key_width),
            }

        def create(self, *, path: tuple | None = None, src_loc_at: int = 0) -> WritePort:
            return WritePort(self, path=path, src_loc_at=1 + src_loc_at)


class InvalidatePort(_Port):
    """Clears the valid bit of ``index`` at the next edge (value and care keep their bits)."""

    class Signature(_PortSignature):
        """Signature of an invalidate port.

        Members
        -------
        en: ``In(1)``
            Invalidate this cycle.
        index: ``In(index_width)``
            Entry to invalidate; an index ``>= entries`` does nothing.
        """

        @staticmethod
        def _members(config: TcamConfig) -> dict[str, wiring.Member]:
            return {"en": In(1), "index": In(config.index_width)}

        def create(self, *, path: tuple | None = None, src_loc_at: int = 0) -> InvalidatePort:
            return InvalidatePort(self, path=path, src_loc_at=1 + src_loc_at)


def _lowest_set(bits: list[Value]) -> tuple[Value, Value]:
    """(any bit set, index of the lowest set bit) as a balanced tree, log2(len) levels deep.

    ``len(bits)`` must be a power of two >= 2; the index is ``log2(len)`` bits wide.
    """
    if len(bits) == 2:
        return bits[0] | bits[1], ~bits[0]
    half = len(bits) // 2
    low_any, low_index = _lowest_set(bits[:half])
    high_any, high_index = _lowest_set(bits[half:])
    # The top index bit says "no match in the low half".
    return low_any | high_any, Cat(Mux(low_any, low_index, high_index), ~low_any)


class Tcam(wiring.Component):
    """A ``entries`` x ``key_width`` ternary CAM with one lookup, one write and one invalidate port.

    Timing: ``lookup`` is combinational and sees the entries as registered at the last clock
    edge (a write or invalidation shows from the next cycle on, there is no bypass). When
    ``write`` and ``invalidate`` name the same entry in one cycle, the write wins: the entry
    holds the written pattern and is valid. Reset invalidates every entry.

    Parameters
    ----------
    config : :class:`TcamConfig`

    Members
    -------
    lookup : ``Out(LookupPort.Signature(...))``
    write : ``Out(WritePort.Signature(...))``
    invalidate : ``Out(InvalidatePort.Signature(...))``
    entries : ``Out(ArrayLayout(entry_layout(key_width), entries))``
        Every entry's registered (value, care, valid), for blocks that search all entries in
        parallel (the address merger looks for merge partners).
    """

    def __init__(self, config: TcamConfig):
        if not isinstance(config, TcamConfig):
            self._MustUse__silence = True  # a refused component is not an unused one
            raise TypeError(f"config: must be a TcamConfig, got {config!r}")
        self._config = config
        sizes = {"entries": config.entries, "key_width": config.key_width}
        super().__init__({
            "lookup": Out(LookupPort.Signature(**sizes)),
            "write": Out(WritePort.Signature(**sizes)),
            "invalidate": Out(InvalidatePort.Signature(**sizes)),
            "entries": Out(data.ArrayLayout(entry_layout(config.key_width), config.entries)),
        })

    @property
    def config(self) -> TcamConfig:
        return self._config

    @property
    def entry_layout(self) -> data.StructLayout:
        return entry_layout(self._config.key_width)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        matches = []
        for i in range(self._config.entries):
            entry = self.entries[i]
            with m.If(self.write.en & (self.write.index == i)):
                m.d.sync += [
                    entry.value.eq(self.write.value & self.write.care),
                    entry.care.eq(self.write.care),
                    entry.valid.eq(1),
                ]
            with m.Elif(self.invalidate.en & (self.invalidate.index == i)):
                m.d.sync += entry.valid.eq(0)
            matches.append(entry.valid & (((self.lookup.key ^ entry.value) & entry.care) == 0))
        padded = matches + [C(0, 1)] * ((1 << self._config.index_width) - len(matches))
        hit, index = _lowest_set(padded)
        m.d.comb += [
            self.lookup.matches.eq(Cat(matches)),
            self.lookup.hit.eq(hit),
            self.lookup.index.eq(Mux(hit, index, 0)),
        ]
        return m


def generate_tcam(config: TcamConfig) -> GeneratedDesign:
    """Verilog of a :class:`Tcam` named ``config.name``, with its JSON description."""
    tcam = Tcam(config)
    text = verilog.convert(tcam, name=config.name, emit_src=False)
    description = {
        "generator": "accelgen",
        "generator_version": generator_version(),
        "kind": "sparsecache_tcam",
        "module": config.name,
        "parameters": config.to_dict(),
        "entry_layout": describe_layout(tcam.entry_layout),
        "same_index_write_invalidate": "write",
        **describe_component(tcam),
    }
    return GeneratedDesign(config.name, text, description)
