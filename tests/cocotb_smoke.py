"""A registered adder written in Amaranth, and tiny cocotb tests for it.

The flow tests build :func:`registered_adder_verilog` and run the tests below inside the
simulator; ``SMOKE_EXPECTED_OFFSET`` comes from the runner's environment, as testbench
parameters do.
"""

from __future__ import annotations

import os

import cocotb
from cocotb.clock import Clock
from cocotb.handle import HierarchyObject
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge


def registered_adder_verilog(name: str = "registered_adder") -> str:
    """Verilog of ``total <= a + b`` with 8-bit inputs and a 9-bit registered output."""
    from amaranth import Module, unsigned
    from amaranth.back import verilog
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    class RegisteredAdder(wiring.Component):
        # A signature dict rather than annotations: `from __future__ import annotations` turns
        # annotations into strings, which Amaranth does not read.
        def __init__(self) -> None:
            ports = {"a": In(unsigned(8)), "b": In(unsigned(8)), "total": Out(unsigned(9))}
            super().__init__(ports)

        def elaborate(self, platform: object) -> Module:
            m = Module()
            m.d.sync += self.total.eq(self.a + self.b)
            return m

    return verilog.convert(RegisteredAdder(), name=name, emit_src=False)


async def _sum_after_one_cycle(dut: HierarchyObject, a: int, b: int) -> int:
    await FallingEdge(dut.clk)
    dut.a.value = a
    dut.b.value = b
    await RisingEdge(dut.clk)
    await ReadOnly()
    return int(dut.total.value)


@cocotb.test()
async def adds(dut: HierarchyObject) -> None:
    """The registered sum appears one clock edge after the operands."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 0
    offset = int(os.environ.get("SMOKE_EXPECTED_OFFSET", "0"))
    for a, b in [(1, 2), (200, 100), (255, 255)]:
        assert await _sum_after_one_cycle(dut, a, b) == a + b + offset


@cocotb.test()
async def expects_wrong_sum(dut: HierarchyObject) -> None:
    """Always fails, to show that failures reach the caller."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 0
    assert await _sum_after_one_cycle(dut, 1, 1) == 3
