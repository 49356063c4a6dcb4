"""Analytic cycle model of the systolic array and of the folded GEMM the driver runs on it.

Timing is counted in clock edges. A step is *accepted* at the edge where ``operands.valid``
and ``operands.ready`` are both high; a result row is *delivered* at the edge where
``results.valid`` and ``results.ready`` are both high. The model assumes a source that offers
each step as soon as the previous one is accepted (and, for weight-stationary partial sums,
one cycle after the result it depends on was delivered) and a sink that is always ready.

The hardware facts the model rests on (each is one register stage in the RTL):

* output-stationary: a tile's result row ``s`` (bottom row first) is written to the result
  FIFO ``rows + cols + 1 + s`` edges after the tile's last step; the last steps of two tiles
  are at least ``rows`` edges apart (the drain chain must empty first);
* weight-stationary: an activation's result row is written ``rows + cols`` edges after it;
  a weight step is accepted no earlier than ``cols - 1`` edges after the activation that
  committed the previous weights;
* each multiplier pipeline stage in the PEs (``pe_latency`` 2 or 3) adds one edge to both
  write latencies and changes nothing else;
* the FIFO delivers a row two edges after it was written;
* a FuSe-capable array switches between GEMM and FuSe steps only once the previous mode's
  steps have crossed the grid: a step whose mode differs from the previous step's is accepted
  at least ``cols`` edges after it;
* a step that produces results waits until FIFO rows plus rows still in flight leave room.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "FIFO_LATENCY",
    "ArrayTiming",
    "Schedule",
    "Step",
    "gemm_cycles",
    "gemm_schedule",
    "os_gemm_steps",
    "schedule",
    "ws_gemm_steps",
]

FIFO_LATENCY = 2


@dataclass(frozen=True)
class ArrayTiming:
    """The parameters that decide the array's timing."""

    rows: int
    cols: int
    dataflow: str  # "os" or "ws"
    result_depth: int
    group: int = 1  # reduction indices per array row per step: M for N:M sparse PEs
    pe_latency: int = 1  # 1 + the PEs' multiplier pipeline stages

    def __post_init__(self) -> None:
        if self.dataflow not in ("os", "ws"):
            raise ValueError(f"dataflow: must be os or ws, got {self.dataflow!r}")
        if self.group < 1 or (self.group > 1 and self.dataflow != "ws"):
            raise ValueError(f"group: must be 1, or > 1 with dataflow ws, got {self.group}")
        if self.pe_latency not in (1, 2, 3):
            raise ValueError(f"pe_latency: must be 1, 2 or 3, got {self.pe_latency}")
        if self.rows < 1 or self.cols < 1:
            raise ValueError(f"rows and cols must be >= 1, got {self.rows}x{self.cols}")
        if self.result_depth < max(3, self.results_per_step):
            raise ValueError(f"result_depth: must be >= {max(3, self.results_per_step)}, "
                             f"got {self.result_depth}")

    @property
    def k_per_tile(self) -> int:
        """Reduction indices one weight-stationary K tile covers."""
        return self.rows * self.group

    @property
    def write_latency(self) -> int:
        """Edges from a result-producing step to the FIFO write of its first result row."""
        return (self.rows + self.cols + (1 if self.dataflow == "os" else 0)
                + self.pe_latency - 1)

    @property
    def results_per_step(self) -> int:
        return self.rows if self.dataflow == "os" else 1


@dataclass(frozen=True)
class Step:
    """One operand transfer as the model sees it.

    ``kind`` is ``"reduce"`` (an OS step that is not the last of its tile), ``"last"`` (an OS
    tile's last step), ``"weights"`` or ``"activations"`` (WS). ``after`` is the index of a
    delivered result row the source needs before it can offer this step. ``fuse`` marks an
    output-stationary step in FuSe mode (see :mod:`.fuse_mapping`): it times like a GEMM step.
    """

    kind: str
    after: int | None = None
    fuse: bool = False


@dataclass(frozen=True)
class Schedule:
    accepted: tuple[int, ...]
    delivered: tuple[int, ...]

    @property
    def cycles(self) -> int:
        """Edges from the first accepted step to the last delivered result, inclusive."""
        if not self.delivered:
            return 0
        return self.delivered[-1] - self.accepted[0] + 1


def schedule(timing: ArrayTiming, steps: Iterable[Step]) -> Schedule:
    """Accept and delivery edges of every step and result row, with the first step at edge 0."""
    accepted: list[int] = []
    delivered: list[int] = []
    outstanding: list[int] = []  # delivery edges of rows reserved so far, sorted
    previous = -1
    last_tile_end: int | None = None
    last_commit: int | None = None
    commit_pending = False
    mode: bool | None = None
    need = timing.results_per_step
    room = timing.result_depth - need
    for step in steps:
        edge = previous + 1
        if step.after is not None:
            edge = max(edge, delivered[step.after] + 1)
        if mode is not None and step.fuse != mode:
            edge = max(edge, previous + timing.cols)
        mode = step.fuse
        if step.kind == "weights":
            if last_commit is not None:
                edge = max(edge, last_commit + timing.cols - 1)
            commit_pending = True
        elif step.kind in ("last", "activations"):
            if step.kind == "last" and last_tile_end is not None:
                edge = max(edge, last_tile_end + timing.rows)
            # Rows still undelivered before `edge` must leave `room` for this step's rows.
            still = len(outstanding) - bisect.bisect_left(outstanding, edge)
            if still > room:
                edge = max(edge, outstanding[len(outstanding) - room - 1] + 1)
            write = edge + timing.write_latency
            for row in range(need):
                outstanding.append(write + row + FIFO_LATENCY)
                delivered.append(write + row + FIFO_LATENCY)
            if step.kind == "last":
                last_tile_end = edge
            elif commit_pending:
                last_commit = edge
                commit_pending = False
        elif step.kind != "reduce":
            raise ValueError(f"unknown step kind {step.kind!r}")
        accepted.append(edge)
        previous = edge
    return Schedule(tuple(accepted), tuple(delivered))


def _tiles(extent: int, size: int) -> int:
    return math.ceil(extent / size)


def os_gemm_steps(rows: int, cols: int, m: int, k: int, n: int) -> list[Step]:
    """The driver's output-stationary order: for each (row tile, column tile), K steps."""
    tile = [Step("reduce")] * (k - 1) + [Step("last")]
    return tile * (_tiles(m, rows) * _tiles(n, cols))


def ws_gemm_steps(rows: int, cols: int, m: int, k: int, n: int, group: int = 1) -> list[Step]:
    """The driver's weight-stationary order: for each column tile, for each K tile (``rows *
    group`` reduction indices), load ``rows`` weight rows and stream all ``m`` rows of A; from
    the second K tile on, each activation carries the partial sums the previous K tile produced
    for it."""
    steps: list[Step] = []
    produced = 0
    for _ in range(_tiles(n, cols)):
        for kt in range(_tiles(k, rows * group)):
            steps += [Step("weights")] * rows
            first = produced
            for row in range(m):
                after = first - m + row if kt else None
                steps.append(Step("activations", after))
            produced += m
    return steps


def gemm_schedule(timing: ArrayTiming, m: int, k: int, n: int) -> Schedule:
    for name, value in (("M", m), ("K", k), ("N", n)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if timing.dataflow == "os":
        steps = os_gemm_steps(timing.rows, timing.cols, m, k, n)
    else:
        steps = ws_gemm_steps(timing.rows, timing.cols, m, k, n, timing.group)
    return schedule(timing, steps)


def gemm_cycles(timing: ArrayTiming, m: int, k: int, n: int) -> int:
    """Cycles of a whole folded GEMM on the array (see :func:`schedule` for the convention)."""
    return gemm_schedule(timing, m, k, n).cycles


def result_order(timing: ArrayTiming, m: int, k: int, n: int) -> Sequence[tuple[int, int, int]]:
    """For each delivered row: (row of C, first column of C, K tile), in delivery order.

    Output-stationary tiles deliver their bottom row first; rows beyond ``m`` are padding.
    """
    order: list[tuple[int, int, int]] = []
    if timing.dataflow == "os":
        for mt in range(_tiles(m, timing.rows)):
            for nt in range(_tiles(n, timing.cols)):
                for s in range(timing.rows):
                    order.append((mt * timing.rows + timing.rows - 1 - s, nt * timing.cols, 0))
    else:
        for nt in range(_tiles(n, timing.cols)):
            for kt in range(_tiles(k, timing.k_per_tile)):
                for row in range(m):
                    order.append((row, nt * timing.cols, kt))
    return order
