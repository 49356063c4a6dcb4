"""Runs C = A @ B of any shape on a generated systolic array by folding it over the array.

Output-stationary: for every (row tile, column tile) of C, K steps each carry one column of
the A tile and one row of the B tile; the tile's rows of C come back bottom row first.
Weight-stationary: for every column tile and every K tile, ``rows`` weight rows are loaded,
then every row of A streams through; from the second K tile on, each activation carries the
partial sums its row got from the previous K tile, so the array itself accumulates over K.
Padding (zeros) fills partial tiles and is dropped from the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from accelgen.sim.systolic_cycles import ArrayTiming, gemm_cycles, result_order

from .payload import PayloadCodec

__all__ = ["GemmRun", "PlannedStep", "SystolicHarness"]

Payload = dict[str, Any]


@dataclass(frozen=True)
class PlannedStep:
    """A step to send; ``build`` gets the result rows delivered so far (for partial sums)."""

    build: Callable[[list[Payload]], Payload]
    after: int | None = None


@dataclass
class GemmRun:
    c: np.ndarray
    accepted: list[int] = field(default_factory=list)
    delivered: list[int] = field(default_factory=list)
    q: np.ndarray | None = None  # requantized results, on arrays that requantize

    @property
    def cycles(self) -> int:
        return self.delivered[-1] - self.accepted[0] + 1


def _pad(values: np.ndarray, length: int) -> list[int]:
    out = [0] * length
    out[: len(values)] = [int(v) for v in values]
    return out


class SystolicHarness:
    """Clock, reset and the operand/result streams of one generated array under cocotb."""

    def __init__(self, dut: Any, description: dict[str, Any], *, period_ns: int = 10):
        self.dut = dut
        self.params = description["parameters"]
        self.rows = self.params["rows"]
        self.cols = self.params["cols"]
        self.dataflow = self.params["dataflow"]
        pe = self.params.get("pe", "dense")
        self.sparsity = None if pe == "dense" else tuple(int(x) for x in pe.split(":"))
        self.group = self.sparsity[1] if self.sparsity else 1
        self.timing = ArrayTiming(self.rows, self.cols, self.dataflow, self.params["result_depth"],
                                  self.group,
                                  pe_latency=1 + self.params.get("multiplier_stages", 0))
        self.fuse = bool(self.params.get("fuse", False))
        self.requantizes = self.params.get("requantize", "none") != "none"
        self.operands = PayloadCodec(description["streams"]["operands"]["payload"])
        self.results = PayloadCodec(description["streams"]["results"]["payload"])
        self._period_ns = period_ns
        self._clock_started = False

    async def reset(self, cycles: int = 2) -> None:
        if not self._clock_started:
            Clock(self.dut.clk, self._period_ns, unit="ns").start()
            self._clock_started = True
        self.dut.operands__valid.value = 0
        self.dut.results__ready.value = 0
        self.dut.rst.value = 1
        for _ in range(cycles):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    def check_shifts(self, shifts: np.ndarray | None, count: int) -> np.ndarray:
        """Per-result-row shift amounts as ints (zeros when ``None``), checked against the
        array: only a requantizing array takes them, and each must fit the shift field."""
        if shifts is None:
            return np.zeros(count, dtype=object)
        if not self.requantizes:
            raise ValueError("this array does not requantize: shifts cannot be applied")
        shifts = np.asarray(shifts, dtype=object).reshape(-1)
        if shifts.shape != (count,):
            raise ValueError(f"expected {count} shift amounts, got {shifts.shape[0]}")
        limit = self.params["acc_width"]
        bad = [int(s) for s in shifts if not 0 <= int(s) < limit]
        if bad:
            raise ValueError(f"shift {bad[0]} is outside 0..{limit - 1} (acc_width {limit})")
        return shifts

    def plan(self, a: np.ndarray, b: np.ndarray,
             shifts: np.ndarray | None = None) -> list[PlannedStep]:
        m, k = a.shape
        n = b.shape[1]
        rows, cols = self.rows, self.cols
        shifts = self.check_shifts(shifts, m)
        steps: list[PlannedStep] = []
        if self.dataflow == "os":
            for mt in range(math.ceil(m / rows)):
                tile_shifts = _pad(shifts[mt * rows:(mt + 1) * rows], rows)
                for nt in range(math.ceil(n / cols)):
                    a_tile = a[mt * rows:(mt + 1) * rows]
                    b_tile = b[:, nt * cols:(nt + 1) * cols]
                    for step in range(k):
                        payload = {"a": _pad(a_tile[:, step], rows),
                                   "b": _pad(b_tile[step], cols),
                                   "last": int(step == k - 1)}
                        if self.requantizes and step == k - 1:
                            payload["shift"] = tile_shifts
                        steps.append(PlannedStep(lambda _d, p=payload: p))
            return steps
        return self._plan_weight_stationary(a, self._dense_weight_rows(b), k, n, shifts)

    def _dense_weight_rows(self, b: np.ndarray) -> Callable[[int, int], list[Any]]:
        """Row ``index`` of the (padded) weight matrix, restricted to column tile ``nt``."""
        def row(index: int, nt: int) -> list[Any]:
            if index >= b.shape[0]:
                return [0] * self.cols
            return _pad(b[index, nt * self.cols:(nt + 1) * self.cols], self.cols)
        return row

    def _sparse_weight_rows(self, compressed: Any) -> Callable[[int, int], list[Any]]:
        """Group ``index`` of an N:M matrix as each column's (value, index) pairs."""
        kept = self.sparsity[0]
        empty = [{"value": 0, "index": slot} for slot in range(kept)]

        def row(index: int, nt: int) -> list[Any]:
            out = []
            for col in range(nt * self.cols, (nt + 1) * self.cols):
                if index >= compressed.groups or col >= compressed.columns:
                    out.append(empty)
                    continue
                out.append([{"value": int(compressed.values[index, s, col]),
                             "index": int(compressed.indices[index, s, col])}
                            for s in range(kept)])
            return out
        return row

    def _plan_weight_stationary(self, a: np.ndarray, weight_row: Callable[[int, int], list[Any]],
                                k: int, n: int, shifts: np.ndarray) -> list[PlannedStep]:
        rows, cols, group = self.rows, self.cols, self.group
        m = a.shape[0]
        steps: list[PlannedStep] = []
        produced = 0
        for nt in range(math.ceil(n / cols)):
            for kt in range(math.ceil(k / (rows * group))):
                for r in range(rows):
                    payload = {"weights": weight_row(kt * rows + r, nt), "kind": "WEIGHTS"}
                    steps.append(PlannedStep(lambda _d, p=payload: p))
                first = produced
                for row in range(m):
                    lanes = []
                    for r in range(rows):
                        start = (kt * rows + r) * group
                        values = _pad(a[row, start:start + group], group)
                        lanes.append(values if self.sparsity else values[0])
                    base = {"a": lanes, "kind": "ACTIVATIONS", "last": int(row == m - 1)}
                    if self.requantizes:
                        base["shift"] = int(shifts[row])
                    if kt == 0:
                        steps.append(PlannedStep(lambda _d, p=base: {**p, "psum": [0] * cols}))
                    else:
                        source = first - m + row
                        steps.append(PlannedStep(
                            lambda d, p=base, s=source: {**p, "psum": d[s]["c"]}, after=source))
                produced += m
        return steps

    async def stream(self, steps: list[PlannedStep], expected_results: int, *,
                     rng: np.random.Generator | None = None, source_gap: float = 0.0,
                     sink_stall: float = 0.0, timeout: int = 1_000_000
                     ) -> tuple[list[Payload], list[int], list[int]]:
        """Send ``steps`` and collect ``expected_results`` rows, one clock cycle per loop.

        Inputs for the coming edge are driven right after an edge; transfers are decided from
        settled values in the read-only phase, so a result delivered at edge e can feed a
        step accepted at edge e + 1.
        """
        dut = self.dut
        delivered: list[Payload] = []
        accepted_at: list[int] = []
        delivered_at: list[int] = []
        index = 0
        edge = 0
        while index < len(steps) or len(delivered) < expected_results:
            if edge > timeout:
                raise TimeoutError(f"{len(steps) - index} steps unsent and "
                                   f"{expected_results - len(delivered)} results missing "
                                   f"after {timeout} cycles")
            offer = index < len(steps)
            if offer and steps[index].after is not None:
                offer = steps[index].after < len(delivered)
            if offer and rng is not None and source_gap and rng.random() < source_gap:
                offer = False
            if offer:
                dut.operands__payload.value = self.operands.pack(steps[index].build(delivered))
            dut.operands__valid.value = int(offer)
            sink_ready = not (rng is not None and sink_stall and rng.random() < sink_stall)
            dut.results__ready.value = int(sink_ready)
            await ReadOnly()
            if offer and dut.operands__ready.value:
                accepted_at.append(edge)
                index += 1
            if sink_ready and dut.results__valid.value:
                delivered.append(self.results.unpack(int(dut.results__payload.value)))
                delivered_at.append(edge)
            await RisingEdge(dut.clk)
            edge += 1
        dut.operands__valid.value = 0
        return delivered, accepted_at, delivered_at

    async def sparse_gemm(self, a: np.ndarray, compressed: Any, *,
                          shifts: np.ndarray | None = None, **stream_options: Any) -> GemmRun:
        """C = A @ W on N:M sparse PEs, with W given compressed (``accelgen.sim.nm_format``)."""
        if self.sparsity is None:
            raise ValueError("this array has dense PEs: use gemm()")
        pattern = (compressed.pattern.n, compressed.pattern.m)
        if pattern != self.sparsity:
            raise ValueError(f"weights are {pattern[0]}:{pattern[1]} but the PEs are "
                             f"{self.sparsity[0]}:{self.sparsity[1]}")
        a = np.asarray(a)
        if a.shape[1] != compressed.k:
            raise ValueError(f"A has K={a.shape[1]} but the weights have K={compressed.k}")
        shifts = self.check_shifts(shifts, a.shape[0])
        steps = self._plan_weight_stationary(a, self._sparse_weight_rows(compressed),
                                             compressed.k, compressed.columns, shifts)
        return await self._run(a.shape[0], compressed.k, compressed.columns, steps,
                               stream_options)

    async def gemm(self, a: np.ndarray, b: np.ndarray, *, shifts: np.ndarray | None = None,
                   **stream_options: Any) -> GemmRun:
        """C = A @ B on the hardware, with the edges of every transfer; ``shifts`` gives each
        row of C its requantization shift (requantizing arrays only)."""
        if self.sparsity is not None:
            raise ValueError("this array has N:M sparse PEs: use sparse_gemm()")
        a = np.asarray(a)
        b = np.asarray(b)
        m, k = a.shape
        if b.shape[0] != k:
            raise ValueError(f"shapes {a.shape} and {b.shape} cannot be multiplied")
        return await self._run(m, k, b.shape[1], self.plan(a, b, shifts), stream_options)

    async def _run(self, m: int, k: int, n: int, steps: list[PlannedStep],
                   stream_options: dict[str, Any]) -> GemmRun:
        if k > self.params["max_k"] and self.params["overflow"] == "none":
            raise ValueError(f"K={k} exceeds max_k={self.params['max_k']}, which the "
                             "accumulator width was sized for (use overflow=wrap|saturate)")
        order = result_order(self.timing, m, k, n)
        # Lost results must fail fast, not after a million idle cycles; stalls stretch a run
        # by far less than this margin over the stall-free model.
        stream_options.setdefault("timeout", 20 * gemm_cycles(self.timing, m, k, n) + 1000)
        rows_out, accepted, delivered_at = await self.stream(steps, len(order), **stream_options)
        c = np.zeros((m, n), dtype=object)
        q = np.zeros((m, n), dtype=object) if self.requantizes else None
        last_k_tile = math.ceil(k / self.timing.k_per_tile) - 1 if self.dataflow == "ws" else 0
        for (row, col0, k_tile), payload in zip(order, rows_out, strict=True):
            if row >= m or k_tile != last_k_tile:
                continue
            width = min(self.cols, n - col0)
            c[row, col0:col0 + width] = payload["c"][:width]
            if q is not None:
                q[row, col0:col0 + width] = payload["q"][:width]
        return GemmRun(c, accepted, delivered_at, q)
