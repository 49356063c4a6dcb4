"""The systolic array: operand skew, a grid of PEs, result deskew and a result FIFO."""

from __future__ import annotations

import contextlib
import itertools

from amaranth.hdl import Cat, Module, Signal, Value
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out, connect

from ..instance import SharedModule, emit_module
from .config import Dataflow, Rounding, SystolicConfig
from .delay_lines import DelayLines
from .links import (
    StepKind,
    acc_shape,
    column_operand,
    input_lane,
    operand_layout,
    result_layout,
)
from .requantizer import RowRequantizer
from .result_fifo import ResultFIFO
from .row import SystolicRow

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
    activation that committed the previous weights. Each multiplier stage
    (``multiplier_stages``) adds one cycle to both latencies. ``accelgen.sim.systolic_cycles``
    models all of this.

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

    @property
    def row_module_name(self) -> str:
        return f"{self._cfg.name}_row"

    def submodule_verilog(self) -> str:
        """The row module every array row instantiates and the PE module every row position
        instantiates, each emitted once (see :mod:`..instance`)."""
        row = SystolicRow(self._cfg)
        return emit_module(row, self.row_module_name) + "\n" + row.pe_verilog()

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        rows, cols = cfg.rows, cfg.cols
        os_flow = cfg.dataflow is Dataflow.OUTPUT_STATIONARY
        payload = self.operands.payload

        # Result FIFO and the credits that keep it from overflowing.
        fifo_layout = result_layout(cfg)
        m.submodules.result_fifo = result_fifo = ResultFIFO(
            width=fifo_layout.size, depth=cfg.result_depth)
        m.d.comb += [
            self.results.payload.eq(result_fifo.r_data),
            self.results.valid.eq(result_fifo.r_rdy),
            result_fifo.r_en.eq(self.results.ready),
        ]
        # Rows in the FIFO plus rows reserved by accepted steps still in the grid, kept as one
        # counter so that the admission check is a comparison with a constant: an adder in
        # front of it would sit on the path from the FIFO to every operand's acceptance.
        occupied = Signal(range(cfg.result_depth + 1))
        need = rows if os_flow else 1
        has_room = occupied <= cfg.result_depth - need

        accept = Signal()
        m.d.comb += accept.eq(self.operands.valid & self.operands.ready)
        produces = Signal()  # the accepted step reserves `need` result rows
        if cfg.fuse:
            # A step of the other mode waits until the previous mode's steps have crossed
            # every column: FuSe rows freeze on bubbles, GEMM rows must not.
            mode = Signal()  # of the last accepted step: 1 for FuSe
            quiet = Signal(range(cols + 1), init=cols)  # cycles since the last accept
            with m.If(accept):
                m.d.sync += [mode.eq(payload.fuse), quiet.eq(1)]
            with m.Elif(quiet != cols):
                m.d.sync += quiet.eq(quiet + 1)
            mode_ready = (payload.fuse == mode) | (quiet == cols)

        # Admission rules (see class docstring); everything else is always ready.
        if os_flow:
            cooldown = Signal(range(rows))
            tile_ready = ~payload.last | ((cooldown == 0) & has_room)
            m.d.comb += [
                self.operands.ready.eq(tile_ready & mode_ready if cfg.fuse else tile_ready),
                produces.eq(accept & payload.last),
            ]
            with m.If(produces):
                m.d.sync += cooldown.eq(rows - 1)
            with m.Elif(cooldown != 0):
                m.d.sync += cooldown.eq(cooldown - 1)
        else:
            is_weights = payload.kind == StepKind.WEIGHTS
            weight_cooldown = Signal(range(max(cols, 2)))
            next_weight_row = Signal(range(rows + 1))  # saturates: extra weight rows are dropped
            commit_pending = Signal()
            # With two columns or fewer the cooldown never exceeds 1: weights are always ready.
            weights_ready = (weight_cooldown <= 1) if cols > 2 else 1
            m.d.comb += [
                self.operands.ready.eq((is_weights & weights_ready) | (~is_weights & has_room)),
                produces.eq(accept & ~is_weights),
            ]
            with m.If(accept & ~is_weights & commit_pending):
                m.d.sync += weight_cooldown.eq(cols - 1)
            with m.Elif(weight_cooldown != 0):
                m.d.sync += weight_cooldown.eq(weight_cooldown - 1)
            with m.If(accept & is_weights):
                m.d.sync += [
                    next_weight_row.eq(
                        next_weight_row + (next_weight_row != rows)),
                    commit_pending.eq(1),
                ]
            with m.Elif(produces):
                m.d.sync += [next_weight_row.eq(0), commit_pending.eq(0)]

        # A written row moves from reserved to the FIFO: only a read frees a slot.
        read = self.results.valid & self.results.ready
        with m.If(produces & ~read):
            m.d.sync += occupied.eq(occupied + need)
        with m.Elif(produces & read):
            m.d.sync += occupied.eq(occupied + need - 1)
        with m.Elif(read):
            m.d.sync += occupied.eq(occupied - 1)

        # Input register: the step accepted this cycle, or a bubble. Operand registers need
        # no reset: only the control bits, which say whether the operands mean anything.
        # Operands and the bits that only matter with `valid` load whenever a step is offered,
        # accepted or not: their enable is then an input, not the admission logic, which would
        # otherwise drive the clock enable of every operand flip-flop (a path that grows with
        # rows + cols and limits the clock of large arrays).
        offered = self.operands.valid
        control_fields = {"valid": 1, "last": 1, "commit": 1}
        if cfg.fuse:
            control_fields["fuse"] = 1  # the last accepted step's mode, kept over bubbles
        control = data.StructLayout(control_fields)
        step = Signal(control)
        step_a = Signal.like(payload.a, reset_less=True)
        m.d.sync += step.valid.eq(accept if os_flow else accept & ~is_weights)
        with m.If(offered):
            m.d.sync += [step_a.eq(payload.a), step.last.eq(payload.last)]
            if not os_flow:
                m.d.sync += step.commit.eq(commit_pending)
        if cfg.fuse:
            with m.If(accept):
                m.d.sync += step.fuse.eq(payload.fuse)
        m.submodules.row_skew = row_skew = DelayLines(input_lane(cfg), range(rows),
                                                      reset_less=True)
        m.submodules.row_control_skew = row_control_skew = DelayLines(control, range(rows))
        m.d.comb += row_skew.i.eq(step_a)
        for i in range(rows):
            m.d.comb += row_control_skew.i[i].eq(step)

        # Operands entering each column's top, staggered by column.
        north_shape = column_operand(cfg) if os_flow else acc_shape(cfg)
        north = Signal(data.ArrayLayout(north_shape, cols), reset_less=True)
        with m.If(offered):
            m.d.sync += north.eq(payload.b if os_flow else payload.psum)
        # A weight-stationary partial sum meets its products after the PE's multiplier stage.
        psum_wait = 0 if os_flow else cfg.pe_latency - 1
        m.submodules.column_skew = column_skew = DelayLines(
            north_shape, [j + psum_wait for j in range(cols)], reset_less=True)
        m.d.comb += column_skew.i.eq(north)

        if not os_flow:
            weights = Signal.like(payload.weights, reset_less=True)
            weight_valid = Signal()
            weight_row = Signal.like(next_weight_row)
            m.d.sync += weight_valid.eq(accept & is_weights)
            with m.If(offered & is_weights):
                m.d.sync += [weights.eq(payload.weights), weight_row.eq(next_weight_row)]

        # The grid: `rows` uses of one row module.
        row_signature = SystolicRow.signature_for(cfg)
        grid = [SharedModule(row_signature, self.row_module_name) for _ in range(rows)]
        for i, row in enumerate(grid):
            m.submodules[f"row_{i}"] = row
            src = row_control_skew.o[i]
            m.d.comb += [row.west.a.eq(row_skew.o[i]), row.west.valid.eq(src.valid),
                         row.west.last.eq(src.last)]
            if cfg.fuse:
                # Row i's FuSe input rides column i's skew line, which delays it by i cycles
                # like the row's own operands.
                m.d.comb += [row.fuse.eq(src.fuse), row.advance.eq(src.valid | ~src.fuse),
                             row.x.eq(column_skew.o[i])]
            if not os_flow:
                m.d.comb += row.west.commit.eq(src.commit)
        for upper, lower in itertools.pairwise(grid):
            connect(m, upper.south, lower.north)
        top = grid[0].north
        for j in range(cols):
            if os_flow:
                m.d.comb += top.b[j].eq(column_skew.o[j])
            else:
                m.d.comb += [
                    top.psum[j].eq(column_skew.o[j]),
                    top.weight[j].eq(weights[j]),
                    top.weight_valid[j].eq(weight_valid),
                    top.weight_row[j].eq(weight_row),
                ]

        # Each column's results at the south edge, then realigned across columns. Only the
        # last column's valid and last bits are needed: it is the one that is not delayed.
        south = Signal(data.ArrayLayout(acc_shape(cfg), cols), reset_less=True)
        south_valid = Signal()
        south_last = Signal()
        bottom = grid[rows - 1]
        if cfg.fuse:
            # A FuSe chunk's last taps cross the bottom row one column per step, so the
            # columns start draining one *step* apart, not one cycle, when the stream pauses
            # while they cross. Holding the drain chains, deskew and result writes on those
            # cycles keeps every column in step; at any other time everything flows.
            flow = Signal()
            crossing = Signal(range(cols))  # columns the bottom row's wavefront has left
            bottom_control = row_control_skew.o[rows - 1]
            bottom_advance = bottom_control.valid | ~bottom_control.fuse
            with m.If(bottom.last_step[0]):
                m.d.sync += crossing.eq(cols - 1)
            with m.Elif((crossing != 0) & bottom_advance):
                m.d.sync += crossing.eq(crossing - 1)
            m.d.comb += flow.eq(bottom_advance | (crossing == 0))
            for row in grid:
                m.d.comb += row.flow.eq(flow)

        def output_stage():
            return m.If(flow) if cfg.fuse else contextlib.nullcontext()

        # The bottom row's step control, as old as the sums its PEs are adding this cycle.
        bottom_last_step = bottom.last_step if os_flow else None
        bottom_psum_valid = None if os_flow else bottom.psum_valid[cols - 1]
        bottom_psum_last = None if os_flow else bottom.psum_last[cols - 1]
        if cfg.pe_latency > 1:
            m.submodules.bottom_control = bottom_control = DelayLines(
                data.ArrayLayout(1, cols if os_flow else 2), [cfg.pe_latency - 1])
            if os_flow:
                m.d.comb += bottom_control.i[0].eq(bottom_last_step)
                bottom_last_step = bottom_control.o[0]
            else:
                m.d.comb += bottom_control.i[0].eq(Cat(bottom_psum_valid, bottom_psum_last))
                bottom_psum_valid = bottom_control.o[0][0]
                bottom_psum_last = bottom_control.o[0][1]

        if os_flow:
            for j in range(cols):
                drain_start = Signal(name=f"drain_start_{j}")
                m.d.comb += drain_start.eq(bottom_last_step[j])
                for row in grid:
                    m.d.comb += row.drain_start[j].eq(drain_start)
            # Every column drains `rows` results, the last column last of all.
            remaining = Signal(range(rows + 1))
            with output_stage():
                for j in range(cols):
                    m.d.sync += south[j].eq(bottom.south.drain[j])
                with m.If(bottom_last_step[cols - 1]):
                    m.d.sync += remaining.eq(rows)
                with m.Elif(remaining != 0):
                    m.d.sync += remaining.eq(remaining - 1)
                m.d.sync += [south_valid.eq(remaining != 0), south_last.eq(remaining == 1)]
                if cfg.requantize is not Rounding.NONE:
                    south_row = Signal(range(rows))  # the array row whose result is leaving
                    m.d.sync += south_row.eq(remaining - 1)
        else:
            m.d.comb += [
                south.eq(bottom.south.psum),
                south_valid.eq(bottom_psum_valid),
                south_last.eq(bottom_psum_last),
            ]
        m.submodules.deskew = deskew = DelayLines(
            acc_shape(cfg), [cols - 1 - j for j in range(cols)], reset_less=True,
            enable=cfg.fuse)
        m.d.comb += deskew.i.eq(south)
        write = south_valid
        if cfg.fuse:
            m.d.comb += deskew.en.eq(flow)
            write = south_valid & flow

        aligned = data.View(fifo_layout, result_fifo.w_data)
        m.d.comb += [
            aligned.c.eq(deskew.o),
            aligned.last.eq(south_last),
            result_fifo.w_en.eq(write),
        ]

        if cfg.requantize is not Rounding.NONE:
            # Shift amounts wait in a queue from admission to the write of their results. A
            # tile is queued while any of its rows is reserved, so credits bound the queue.
            shifts = payload.shift
            tiles = (cfg.result_depth - 1) // need + 1
            m.submodules.shift_queue = shift_queue = fifo.SyncFIFO(
                width=Value.cast(shifts).shape().width, depth=tiles)
            m.d.comb += [shift_queue.w_data.eq(shifts), shift_queue.w_en.eq(produces)]
            m.submodules.requantizer = requantizer = RowRequantizer(cfg)
            m.d.comb += [requantizer.c.eq(deskew.o), aligned.q.eq(requantizer.q)]
            if os_flow:
                queued = data.View(shifts.shape(), shift_queue.r_data)
                m.d.comb += [requantizer.shift.eq(queued[south_row]),
                             shift_queue.r_en.eq(write & south_last)]
            else:
                m.d.comb += [requantizer.shift.eq(shift_queue.r_data),
                             shift_queue.r_en.eq(write)]
        return m
