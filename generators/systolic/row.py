"""One row of PEs, emitted once as a Verilog module and instantiated for every array row."""

from __future__ import annotations

import itertools

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, connect

from ..instance import SharedModule, emit_module
from .config import Dataflow, SystolicConfig
from .links import (
    ColumnBus,
    HorizontalLink,
    OutputStationaryColumnLink,
    WeightStationaryColumnLink,
    column_operand,
)
from .pe import OutputStationaryPE, SparseWeightStationaryPE, WeightStationaryPE

__all__ = ["SystolicRow"]


class SystolicRow(wiring.Component):
    """``cols`` PEs joined west to east; every row of the array is this same module.

    Members
    -------
    west : In(HorizontalLink)
        Into the row's first PE.
    north : In(ColumnBus), south : Out(ColumnBus)
        Every PE's vertical link; element ``j`` of each member belongs to PE ``j``.
    drain_start : In(cols)
        Output-stationary only: bit ``j`` is column ``j``'s drain start, passed to its PE.
    last_step : Out(cols)
        Output-stationary only: PE ``j`` takes a tile's last step this cycle. The bottom row's
        outputs start their columns' drains.
    fuse, advance, x, flow
        FuSe-capable arrays only: broadcast to every PE of the row (see the PE).
    psum_valid, psum_last : Out(cols)
        Weight-stationary only: the step control that leaves PE ``j`` with its partial sum;
        at the bottom row it marks a finished result.
    """

    def __init__(self, cfg: SystolicConfig):
        self._cfg = cfg
        super().__init__(self.signature_for(cfg))

    @staticmethod
    def signature_for(cfg: SystolicConfig) -> wiring.Signature:
        os_flow = cfg.dataflow is Dataflow.OUTPUT_STATIONARY
        column = OutputStationaryColumnLink(cfg) if os_flow else WeightStationaryColumnLink(cfg)
        members = {
            "west": In(HorizontalLink(cfg)),
            "north": In(ColumnBus(column, cfg.cols)),
            "south": Out(ColumnBus(column, cfg.cols)),
        }
        if os_flow:
            members["drain_start"] = In(cfg.cols)
            members["last_step"] = Out(cfg.cols)
        else:
            members["psum_valid"] = Out(cfg.cols)
            members["psum_last"] = Out(cfg.cols)
        if cfg.fuse:
            members.update({"fuse": In(1), "advance": In(1), "x": In(column_operand(cfg)),
                            "flow": In(1)})
        return wiring.Signature(members)

    @property
    def pe_module_name(self) -> str:
        return f"{self._cfg.name}_pe"

    @property
    def _pe_class(self) -> type[OutputStationaryPE | WeightStationaryPE]:
        if self._cfg.dataflow is Dataflow.OUTPUT_STATIONARY:
            return OutputStationaryPE
        if self._cfg.sparsity is not None:
            return SparseWeightStationaryPE
        return WeightStationaryPE

    def pe_verilog(self) -> str:
        return emit_module(self._pe_class(self._cfg), self.pe_module_name)

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        signature = self._pe_class.signature_for(cfg)
        pes = [SharedModule(signature, self.pe_module_name) for _ in range(cfg.cols)]
        link_members = list(self.signature.members["north"].signature.link.members)
        for j, pe in enumerate(pes):
            m.submodules[f"pe_{j}"] = pe
            for name in link_members:
                m.d.comb += [
                    getattr(pe.north, name).eq(getattr(self.north, name)[j]),
                    getattr(self.south, name)[j].eq(getattr(pe.south, name)),
                ]
            if cfg.fuse:
                m.d.comb += [pe.fuse.eq(self.fuse), pe.advance.eq(self.advance),
                             pe.x.eq(self.x), pe.flow.eq(self.flow)]
            if cfg.dataflow is Dataflow.OUTPUT_STATIONARY:
                last = pe.west.valid & pe.west.last
                m.d.comb += [
                    pe.drain_start.eq(self.drain_start[j]),
                    self.last_step[j].eq(last & self.advance if cfg.fuse else last),
                ]
            else:
                m.d.comb += [
                    self.psum_valid[j].eq(pe.east.valid),
                    self.psum_last[j].eq(pe.east.last),
                ]
        connect(m, wiring.flipped(self.west), pes[0].west)
        for left, right in itertools.pairwise(pes):
            connect(m, left.east, right.west)
        return m
