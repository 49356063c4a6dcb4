"""The result FIFO: Amaranth's buffered FIFO, with its storage steered to LUT RAM when shallow."""

from __future__ import annotations

from amaranth.lib import fifo

__all__ = ["DISTRIBUTED_MAX_DEPTH", "ResultFIFO"]

#: Deepest result FIFO kept in LUT RAM. Left to itself, Yosys puts a wide, shallow FIFO (a
#: 16x16 int4 array's keeps 52 entries of 321 bits) in ECP5 block RAM, whose read without the
#: output register (adding it would cost a cycle of latency) takes about 6 ns and capped the
#: array's Fmax. LUT RAM reads in about 1 ns; past 64 entries (four 16-entry RAMs per bit)
#: its read multiplexer deepens, so deeper FIFOs are left to the tool.
DISTRIBUTED_MAX_DEPTH = 64


class ResultFIFO(fifo.SyncFIFOBuffered):
    """``SyncFIFOBuffered`` (same ports, same cycle behaviour) whose memory carries
    ``ram_style = "distributed"`` up to :data:`DISTRIBUTED_MAX_DEPTH` entries; Yosys, Vivado
    and Quartus-style flows read the attribute from the emitted Verilog."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        if 1 < self.depth <= DISTRIBUTED_MAX_DEPTH:
            # The buffered FIFO keeps its entries (all but the output register) in a Memory
            # named "storage"; fail loudly if a new Amaranth release renames it.
            storage = m.submodules["storage"]
            storage.attrs["ram_style"] = "distributed"
        return m
