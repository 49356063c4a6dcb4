"""The systolic array: operand skew, a grid of PEs, result deskew and a result FIFO."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out, connect

from .config import Dataflow, SystolicConfig
from .delay_lines import DelayLines
from .links import (
    StepKind,
    acc_shape,
    input_shape,
    operand_layout,
    result_layout,
    weight_shape,
)
from .pe import OutputStationaryPE, WeightStationaryPE

__all__ = ["SystolicArray"]


class SystolicArray(wiring.Component):
    """A ``rows`` x ``cols`` grid of multiply-accumulate PEs behind two valid/ready streams.

    The caller sends unskewed operand steps; the array staggers them by row and column itself
    and realigns each row of results before it reaches ``results``. Steps are accepted one per
    cycle; a pause in ``operands`` becomes a bubble that flows through the grid, so the grid
    never stalls. ``results`` may be stalled for any time: a step that will produce results is
    only accepted once the result FIFO has room for all of them (``ready`` is held low for it
    until then), so nothing is dropped or repeated.

    Output-stationary timing: a tile is ``K`` steps, the last one flagged ``last``. Its ``rows``
    result rows leave bottom row first, ``rows + cols + 3`` cycles after the last step at the
    earliest, and a tile's last step is accepted at least ``rows`` cycles after the previous
    tile's. Weight-stationary timing: each activation step gives one result row
    ``rows + cols + 2`` cycles later; a weight load may start ``cols - 1`` cycles after the
    activation that committed the previous weights. ``accelgen.sim.cycles`` models all of this.

    ``operands.ready`` depends combinationally on ``operands.payload`` (``last`` or ``kind``),
    never on ``operands.valid``, so a source may not wait for ``ready`` before presenting a step.

    Members
    -------
    operands : In(stream.Signature(operand_layout(cfg)))
    results : Out(stream.Signature(result_layout(cfg)))
    """

    def __init__(self, cfg: SystolicConfig):
        self._cfg = cfg
        super().__init__({
            "operands": In(stream.Signature(operand_layout(cfg))),
            "results": Out(stream.Signature(result_layout(cfg))),
        })

    @property
    def config(self) -> SystolicConfig:
        return self._cfg

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        rows, cols = cfg.rows, cfg.cols
        os_flow = cfg.dataflow is Dataflow.OUTPUT_STATIONARY
        payload = self.operands.payload

        # Result FIFO and the credits that keep it from overflowing.
        fifo_layout = result_layout(cfg)
        m.submodules.result_fifo = result_fifo = fifo.SyncFIFOBuffered(
            width=fifo_layout.size, depth=cfg.result_depth)
        m.d.comb += [
            self.results.payload.eq(result_fifo.r_data),
            self.results.valid.eq(result_fifo.r_rdy),
            result_fifo.r_en.eq(self.results.ready),
        ]
        reserved = Signal(range(cfg.result_depth + 1))
        need = rows if os_flow else 1
        has_room = result_fifo.level + reserved + need <= cfg.result_depth

        accept = Signal()
        m.d.comb += accept.eq(self.operands.valid & self.operands.ready)
        produces = Signal()  # the accepted step reserves `need` result rows

        # Admission rules (see class docstring); everything else is always ready.
        if os_flow:
            cooldown = Signal(range(rows))
            m.d.comb += [
                self.operands.ready.eq(~payload.last | ((cooldown == 0) & has_room)),
                produces.eq(accept & payload.last),
            ]
            with m.If(produces):
                m.d.sync += cooldown.eq(rows - 1)
            with m.Elif(cooldown != 0):
                m.d.sync += cooldown.eq(cooldown - 1)
        else:
            is_weights = payload.kind == StepKind.WEIGHTS
            weight_cooldown = Signal(range(max(cols, 2)))
            next_weight_row = Signal(range(max(rows, 2)))
            commit_pending = Signal()
            m.d.comb += [
                self.operands.ready.eq(
                    (is_weights & (weight_cooldown <= 1)) | (~is_weights & has_room)),
                produces.eq(accept & ~is_weights),
            ]
            with m.If(accept & ~is_weights & commit_pending):
                m.d.sync += weight_cooldown.eq(cols - 1)
            with m.Elif(weight_cooldown != 0):
                m.d.sync += weight_cooldown.eq(weight_cooldown - 1)
            with m.If(accept & is_weights):
                m.d.sync += [
                    next_weight_row.eq(
                        (next_weight_row + 1) if rows > 1 else 0),
                    commit_pending.eq(1),
                ]
            with m.Elif(produces):
                m.d.sync += [next_weight_row.eq(0), commit_pending.eq(0)]

        written = Signal()
        with m.If(produces & ~written):
            m.d.sync += reserved.eq(reserved + need)
        with m.Elif(produces & written):
            m.d.sync += reserved.eq(reserved + need - 1)
        with m.Elif(written):
            m.d.sync += reserved.eq(reserved - 1)

        # Input register: the step accepted this cycle, or a bubble.
        lane = data.StructLayout({"a": input_shape(cfg), "valid": 1, "last": 1, "commit": 1})
        west = Signal(data.ArrayLayout(lane, rows))
        step_valid = Signal()
        step_last = Signal()
        step_commit = Signal()
        step_a = Signal.like(payload.a)
        m.d.sync += step_valid.eq(accept if os_flow else accept & ~is_weights)
        with m.If(accept):
            m.d.sync += [step_a.eq(payload.a), step_last.eq(payload.last)]
            if not os_flow:
                m.d.sync += step_commit.eq(commit_pending)
        for i in range(rows):
            m.d.comb += [
                west[i].a.eq(step_a[i]),
                west[i].valid.eq(step_valid),
                west[i].last.eq(step_last),
                west[i].commit.eq(step_commit),
            ]
        m.submodules.row_skew = row_skew = DelayLines(lane, range(rows))
        m.d.comb += row_skew.i.eq(west)

        # Operands entering each column's top, staggered by column.
        north_shape = weight_shape(cfg) if os_flow else acc_shape(cfg)
        north = Signal(data.ArrayLayout(north_shape, cols))
        with m.If(accept):
            m.d.sync += north.eq(payload.b if os_flow else payload.psum)
        m.submodules.column_skew = column_skew = DelayLines(north_shape, range(cols))
        m.d.comb += column_skew.i.eq(north)

        if not os_flow:
            weights = Signal.like(payload.weights)
            weight_valid = Signal()
            weight_row = Signal.like(next_weight_row)
            m.d.sync += weight_valid.eq(accept & is_weights)
            with m.If(accept & is_weights):
                m.d.sync += [weights.eq(payload.weights), weight_row.eq(next_weight_row)]

        # The grid.
        if os_flow:
            grid = [[OutputStationaryPE(cfg) for _ in range(cols)] for _ in range(rows)]
        else:
            grid = [[WeightStationaryPE(cfg, i) for _ in range(cols)] for i in range(rows)]
        for i in range(rows):
            for j in range(cols):
                m.submodules[f"pe_{i}_{j}"] = grid[i][j]
        for i in range(rows):
            src = row_skew.o[i]
            pe = grid[i][0]
            m.d.comb += [pe.west.a.eq(src.a), pe.west.valid.eq(src.valid),
                         pe.west.last.eq(src.last)]
            if not os_flow:
                m.d.comb += pe.west.commit.eq(src.commit)
            for j in range(1, cols):
                connect(m, grid[i][j - 1].east, grid[i][j].west)
        for j in range(cols):
            top = grid[0][j]
            if os_flow:
                m.d.comb += top.north.b.eq(column_skew.o[j])
            else:
                m.d.comb += [
                    top.north.psum.eq(column_skew.o[j]),
                    top.north.weight.eq(weights[j]),
                    top.north.weight_valid.eq(weight_valid),
                    top.north.weight_row.eq(weight_row),
                ]
            for i in range(1, rows):
                connect(m, grid[i - 1][j].south, grid[i][j].north)

        # Each column's results at the south edge, then realigned across columns.
        column_out = data.StructLayout({"c": acc_shape(cfg), "valid": 1, "last": 1})
        south = Signal(data.ArrayLayout(column_out, cols))
        for j in range(cols):
            bottom = grid[rows - 1][j]
            if os_flow:
                drain_start = Signal(name=f"drain_start_{j}")
                m.d.comb += drain_start.eq(bottom.west.valid & bottom.west.last)
                for i in range(rows):
                    m.d.comb += grid[i][j].drain_start.eq(drain_start)
                remaining = Signal(range(rows + 1), name=f"drain_remaining_{j}")
                with m.If(drain_start):
                    m.d.sync += remaining.eq(rows)
                with m.Elif(remaining != 0):
                    m.d.sync += remaining.eq(remaining - 1)
                m.d.sync += [
                    south[j].c.eq(bottom.south.drain),
                    south[j].valid.eq(remaining != 0),
                    south[j].last.eq(remaining == 1),
                ]
            else:
                m.d.comb += [
                    south[j].c.eq(bottom.south.psum),
                    south[j].valid.eq(bottom.east.valid),
                    south[j].last.eq(bottom.east.last),
                ]
        m.submodules.deskew = deskew = DelayLines(column_out, [cols - 1 - j for j in range(cols)])
        m.d.comb += deskew.i.eq(south)

        aligned = data.View(fifo_layout, result_fifo.w_data)
        for j in range(cols):
            m.d.comb += aligned.c[j].eq(deskew.o[j].c)
        m.d.comb += [
            aligned.last.eq(deskew.o[cols - 1].last),
            result_fifo.w_en.eq(deskew.o[cols - 1].valid),
            written.eq(deskew.o[cols - 1].valid),
        ]
        return m
