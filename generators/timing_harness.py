"""A timing harness: a design with hundreds of ports placed on an FPGA through three pins.

A generated array has more ports than any package has pins, and a port wired to a pin would
put the pad and its routing on every input and output path. The harness keeps every path of the
core register-to-register and adds none longer than the core's own:

* every core input (reset included) is driven straight from one flip-flop of a shift register
  loaded from ``serial_in``, with no logic between that flip-flop and the core;
* every core output is captured straight into a flip-flop, again with no logic in between, so a
  combinational input-to-output path of the core ends at a register exactly as it would in a
  system;
* the captured bits are folded to ``serial_out`` by a tree of ``fan_in``-input XORs with a
  register after every level: one 4-input LUT between two flip-flops, shorter than any core
  path worth timing. XOR keeps every output bit observable, so synthesis cannot remove logic.

The core's clock is the harness clock; nothing in the harness has a reset, so the only
top-level ports are ``clk``, ``serial_in`` and ``serial_out``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from amaranth.back import verilog
from amaranth.hdl import Cat, ClockDomain, ClockSignal, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Port", "TimingHarness", "harness_verilog"]


@dataclass(frozen=True)
class Port:
    """One port of the core: ``direction`` is ``"input"`` or ``"output"``."""

    name: str
    direction: str
    width: int

    def __post_init__(self) -> None:
        if self.direction not in ("input", "output"):
            raise ValueError(f"direction: must be input or output, got {self.direction!r} "
                             f"(port {self.name})")
        if not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"width: must be an integer >= 1, got {self.width!r} "
                             f"(port {self.name})")


class TimingHarness(wiring.Component):
    """Instantiates Verilog module ``core`` and connects all its ports to three pins.

    Parameters
    ----------
    core : str
        Module name of the design under test.
    ports : sequence of Port
        All of the core's ports, clock included.
    clock : str
        The core's clock input; it is driven by the harness clock, not by the shift register.
    fan_in : int
        Inputs per XOR of the output tree (4 fills one LUT4).

    Members
    -------
    clk : In(1)
        Clocks the harness and the core.
    serial_in : In(1)
        Shifts into the input register chain every cycle.
    serial_out : Out(1)
        Registered XOR of every core output bit, ``depth`` cycles late.
    """

    def __init__(self, core: str, ports: Sequence[Port], *, clock: str = "clk", fan_in: int = 4):
        self._MustUse__silence = True  # until it is complete: a refused harness is not unused
        if fan_in < 2:
            raise ValueError(f"fan_in: must be >= 2, got {fan_in}")
        clocks = [p for p in ports if p.name == clock]
        if len(clocks) != 1 or clocks[0].direction != "input" or clocks[0].width != 1:
            raise ValueError(f"clock: {core} has no 1-bit input named {clock!r}")
        if not any(p.direction == "output" for p in ports):
            raise ValueError(f"ports: {core} has no output, nothing would be kept")
        self._core = core
        self._ports = tuple(ports)
        self._clock = clock
        self._fan_in = fan_in
        super().__init__({"clk": In(1), "serial_in": In(1), "serial_out": Out(1)})
        self._MustUse__silence = False

    @property
    def input_bits(self) -> int:
        """Flip-flops in the input shift register."""
        return sum(p.width for p in self._ports if p.direction == "input" and p.name != self._clock)

    @property
    def output_bits(self) -> int:
        """Core output bits, each captured by one flip-flop."""
        return sum(p.width for p in self._ports if p.direction == "output")

    @property
    def xor_levels(self) -> int:
        """Registered XOR levels after the capture register."""
        levels, width = 0, self.output_bits
        while width > 1:
            width = -(-width // self._fan_in)
            levels += 1
        return levels

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = domain = ClockDomain("sync", reset_less=True)
        m.d.comb += domain.clk.eq(self.clk)
        connections: dict[str, object] = {f"i_{self._clock}": ClockSignal()}

        chain = Signal(max(self.input_bits, 1), name="input_chain", reset_less=True)
        m.d.sync += chain.eq(Cat(self.serial_in, chain[:-1]))
        offset = 0
        for port in self._ports:
            if port.direction == "input" and port.name != self._clock:
                connections[f"i_{port.name}"] = chain[offset:offset + port.width]
                offset += port.width

        outputs = []
        for port in self._ports:
            if port.direction == "output":
                wire = Signal(port.width, name=f"core_{port.name}")
                connections[f"o_{port.name}"] = wire
                outputs.append(wire)
        m.submodules.core = Instance(self._core, **connections)

        level = Signal(self.output_bits, name="captured", reset_less=True)
        m.d.sync += level.eq(Cat(*outputs))
        for depth in range(self.xor_levels):
            groups = [level[k:k + self._fan_in] for k in range(0, len(level), self._fan_in)]
            folded = Signal(len(groups), name=f"xor_level{depth}", reset_less=True)
            m.d.sync += folded.eq(Cat(group.xor() for group in groups))
            level = folded
        m.d.comb += self.serial_out.eq(level)
        return m


def harness_verilog(harness: TimingHarness, name: str) -> str:
    """Verilog of ``harness`` as module ``name`` (ports ``clk``, ``serial_in``, ``serial_out``)."""
    return verilog.convert(harness, name=name, emit_src=False)
