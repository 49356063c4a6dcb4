"""Drives a generated SparseCache under cocotb and checks it against the golden model.

The harness plays the core (one access at a time, with the case's gaps) and the memory (a
:class:`LineMemory` answering every request exactly ``memory_latency`` cycles after accepting
it; the model's latency unless told otherwise). The golden model runs the same accesses on its
own copy of the memory beforehand. Per access it checks: outcome, response word, accept and
response cycle (exactly), the null cache's slots and ranks in the cycle after the response, the
sticky L1/null ``conflict`` flag, the soundness invariant on the harness's memory (every line a
valid slot covers is (near-)zero there), and the loaded word against a shadow memory of the
program's stores. At the end the two memories must be equal and the total cycle counts too.

Cycles are counted as in the model: cycle 0 is the first cycle after reset in which the cache
can accept a request; inputs for a cycle are driven right after its rising edge and transfers
are decided from settled values in the read-only phase.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from accelgen.sim.sparsecache.hierarchy import AccessRecord, Op, SparseCacheModel
from accelgen.sim.sparsecache.memory import LineMemory
from accelgen.sim.sparsecache.null_cache import NullCacheState
from accelgen.sim.sparsecache.params import SparseCacheParams
from accelgen.sim.sparsecache.stress_traces import StressCase
from accelgen.sim.sparsecache.ternary import TernaryEntry
from accelgen.sim.sparsecache.zero_detector import detect

from .payload import PayloadCodec

__all__ = ["SparseCacheHarness", "model_params"]

_DTYPES = {"int8": "<i1", "int16": "<i2", "int32": "<i4", "fp16": "<f2", "fp32": "<f4"}


def model_params(description: dict[str, Any], memory_latency: int) -> SparseCacheParams:
    """The golden model's parameters for a design's JSON description."""
    return SparseCacheParams(**description["parameters"], memory_latency=memory_latency)


def params_from_environment(description: dict[str, Any]) -> tuple[SparseCacheParams, int]:
    """The model's parameters and the simulated memory's latency for a testbench run.

    The latency is ``ACCELGEN_MEMORY_LATENCY`` (default 100). The model takes the design's
    parameters at that latency, changed by the JSON ``ACCELGEN_MODEL_OVERRIDES``, which tests use
    to show that a wrong model (even a wrong latency) is caught; the memory keeps the real one.
    """
    latency = int(os.environ.get("ACCELGEN_MEMORY_LATENCY", "100"))
    params = model_params(description, latency)
    overrides = json.loads(os.environ.get("ACCELGEN_MODEL_OVERRIDES", "{}"))
    return (dataclasses.replace(params, **overrides) if overrides else params), latency


@dataclass
class RunReport:
    accesses: int = 0
    cycles: int = 0
    problems: list[str] = field(default_factory=list)


class SparseCacheHarness:
    """Clock, reset, core and memory of one generated SparseCache."""

    def __init__(self, dut: Any, description: dict[str, Any], params: SparseCacheParams, *,
                 memory_latency: int | None = None, period_ns: int = 10):
        self.dut = dut
        self.params = params
        self.memory_latency = (params.memory_latency if memory_latency is None
                               else memory_latency)
        streams = description["streams"]
        self.requests = PayloadCodec(streams["requests"]["payload"])
        self.responses = PayloadCodec(streams["responses"]["payload"])
        self.memory_requests = PayloadCodec(streams["memory_requests"]["payload"])
        self.memory_responses = PayloadCodec(streams["memory_responses"]["payload"])
        self.key_width = description["derived"]["key_width"]
        entry = {f["name"]: f for f in description["debug_entry_layout"]["fields"]}
        self._entry_fields = entry
        self._entry_width = description["debug_entry_layout"]["width"]
        ports = {p["name"]: p for p in description["ports"]}
        self._entries = params.null_entries
        self._rank_width = ports["debug__ranks"]["width"] // self._entries
        self._period_ns = period_ns
        self._clock_started = False

    async def reset(self) -> None:
        """Reset, wait for the L1's invalidation sweep, and stop right after the edge that
        starts cycle 0."""
        dut = self.dut
        if not self._clock_started:
            Clock(dut.clk, self._period_ns, unit="ns").start()
            self._clock_started = True
        dut.requests__valid.value = 0
        dut.responses__ready.value = 1
        dut.memory_requests__ready.value = 1
        dut.memory_responses__valid.value = 0
        dut.rst.value = 1
        for _ in range(2):
            await RisingEdge(dut.clk)
        dut.rst.value = 0
        for _ in range(10 * self.params.sets + 10):
            await RisingEdge(dut.clk)
            await ReadOnly()
            if dut.requests__ready.value:
                await RisingEdge(dut.clk)
                return
        raise TimeoutError("requests.ready never rose after reset")

    def _null_state(self) -> NullCacheState:
        bits = int(self.dut.debug__entries.value)
        ranks_bits = int(self.dut.debug__ranks.value)
        value_f, care_f, valid_f = (self._entry_fields[n] for n in ("value", "care", "valid"))
        entries, ranks = [], []
        for i in range(self._entries):
            word = bits >> (i * self._entry_width)
            field_value = (word >> value_f["offset"]) & ((1 << value_f["width"]) - 1)
            care = (word >> care_f["offset"]) & ((1 << care_f["width"]) - 1)
            valid = (word >> valid_f["offset"]) & 1
            entries.append(TernaryEntry(field_value, care) if valid else None)
            ranks.append((ranks_bits >> (i * self._rank_width)) & ((1 << self._rank_width) - 1))
        return NullCacheState(tuple(entries), tuple(ranks))

    def _covered_lines(self, state: NullCacheState) -> set[int]:
        lines = set()
        for entry in state.entries:
            if entry is None:
                continue
            free = [b for b in range(self.key_width) if not (entry.care >> b) & 1]
            for combo in range(1 << len(free)):
                line = entry.value
                for position, bit in enumerate(free):
                    line |= ((combo >> position) & 1) << bit
                lines.add(line)
        return lines

    def _value(self, bits: int) -> float:
        raw = bits.to_bytes(self.params.word_bytes, "little")
        return float(np.frombuffer(raw, dtype=_DTYPES[self.params.word_format])[0])

    def _check_load(self, shadow_bits: int, got_bits: int) -> str | None:
        p = self.params
        want, got = self._value(shadow_bits), self._value(got_bits)
        if p.approximate:
            ok = abs(got - want) <= float(p.threshold)
        elif p.word_format.startswith("int"):
            ok = got_bits == shadow_bits
        else:
            ok = got == want
        return None if ok else f"loaded {got} but the program stored {want}"

    async def run(self, case: StressCase, *, stall: float = 0.0,
                  max_problems: int = 10) -> RunReport:
        """Run ``case`` from cycle 0 (right after :meth:`reset`) and collect every mismatch.

        ``stall`` > 0 holds ``responses.ready`` and ``memory_requests.ready`` low at random
        (that fraction of cycles, seeded by the case). The model does not predict that
        timing, so only what must hold regardless is checked: loaded words against the
        shadow memory, soundness, and no L1/null-cache conflict.
        """
        p = self.params
        dut = self.dut
        rng = np.random.default_rng(case.seed + 7919)
        exact = stall == 0
        model = SparseCacheModel(p, LineMemory(p.line_bytes, p.line_address_bits, case.image))
        expected: list[AccessRecord] = [
            model.access(a.op, a.address, a.value, gap=a.gap) for a in case.accesses]
        memory = LineMemory(p.line_bytes, p.line_address_bits, case.image)
        shadow: dict[int, int] = {}
        report = RunReport()
        word_shift = p.word_bytes.bit_length() - 1

        def problem(text: str) -> None:
            if len(report.problems) < max_problems:
                report.problems.append(text)

        index = 0
        offer_from = case.accesses[0].gap if case.accesses else 0
        in_flight = False
        accepted_at = 0
        check_state: AccessRecord | None = None
        record_index = 0
        memory_due: list[tuple[int, int]] = []  # (cycle, line data as int)
        cycle = 0
        limit = (expected[-1].respond + 50) * (1 if exact else 20) if expected else 0
        while index < len(case.accesses) or check_state is not None:
            if cycle > limit + 1000:
                problem(f"timeout at cycle {cycle} waiting for access {index}")
                break
            offer = not in_flight and index < len(case.accesses) and cycle >= offer_from
            if offer:
                access = case.accesses[index]
                dut.requests__payload.value = self.requests.pack(
                    {"op": "STORE" if access.op is Op.STORE else "LOAD",
                     "addr": access.address >> word_shift, "data": access.value})
            dut.requests__valid.value = int(offer)
            answering = bool(memory_due) and memory_due[0][0] == cycle
            if answering:
                dut.memory_responses__payload.value = self.memory_responses.pack(
                    {"data": memory_due[0][1]})
            dut.memory_responses__valid.value = int(answering)
            if not exact:
                dut.responses__ready.value = int(rng.random() >= stall)
                dut.memory_requests__ready.value = int(rng.random() >= stall)
            await ReadOnly()

            if check_state is not None:
                record = check_state
                check_state = None
                state = self._null_state()
                where = f"access {record_index} ({record.op.value} {record.address:#x})"
                if exact and state != record.state:
                    problem(f"{where}: null cache\n  rtl   {state.describe(self.key_width)}\n"
                            f"  model {record.state.describe(self.key_width)}")
                if dut.debug__conflict.value:
                    problem(f"{where}: a lookup hit both the L1 and the null cache")
                for line in sorted(self._covered_lines(state)):
                    all_zero, near_zero = detect(memory.read_line(line), p.word_format,
                                                 p.threshold)
                    if not (near_zero if p.approximate else all_zero):
                        problem(f"{where}: line {line:#x} is covered but not zero in memory")
            if offer and dut.requests__ready.value:
                in_flight = True
                accepted_at = cycle
            if dut.memory_requests__valid.value and dut.memory_requests__ready.value:
                request = self.memory_requests.unpack(int(dut.memory_requests__payload.value))
                if request["write"]:
                    memory.write_line(request["addr"],
                                      request["data"].to_bytes(p.line_bytes, "little"))
                    answer = 0
                else:
                    answer = int.from_bytes(memory.read_line(request["addr"]), "little")
                memory_due.append((cycle + self.memory_latency, answer))
            if answering and dut.memory_responses__ready.value:
                memory_due.pop(0)
            elif answering:
                problem(f"cycle {cycle}: the memory response was not taken")
            if dut.responses__valid.value and dut.responses__ready.value:
                response = self.responses.unpack(int(dut.responses__payload.value))
                if not in_flight:
                    problem(f"cycle {cycle}: a response without a request")
                access, record = case.accesses[index], expected[index]
                where = f"access {index} ({access.op.value} {access.address:#x})"
                got = (response["outcome"], response["data"], accepted_at, cycle)
                want = (record.outcome.name, record.response, record.accept, record.respond)
                if exact and got != want:
                    problem(f"{where}: rtl (outcome, data, accept, respond) = {got}, "
                            f"model {want}")
                if access.op is Op.STORE:
                    shadow[access.address] = access.value
                else:
                    if access.address not in shadow:
                        line = LineMemory(p.line_bytes, p.line_address_bits, case.image)
                        data = line.read_line(access.address >> p.offset_bits)
                        offset = access.address & (p.line_bytes - 1)
                        shadow[access.address] = int.from_bytes(
                            data[offset:offset + p.word_bytes], "little")
                    wrong = self._check_load(shadow[access.address], response["data"])
                    if wrong:
                        problem(f"{where}: {wrong}")
                check_state = record
                record_index = index
                in_flight = False
                index += 1
                report.accesses = index
                report.cycles = cycle + 1
                if index < len(case.accesses):
                    offer_from = cycle + 1 + case.accesses[index].gap
            await RisingEdge(dut.clk)
            cycle += 1
        dut.requests__valid.value = 0
        dut.responses__ready.value = 1
        dut.memory_requests__ready.value = 1
        if not exact:
            return report
        if report.cycles != model.cycles:
            problem(f"total cycles: rtl {report.cycles}, model {model.cycles}")
        lines = set(memory.nonzero_lines()) | set(model.memory.nonzero_lines())
        for line in sorted(lines):
            if memory.read_line(line) != model.memory.read_line(line):
                problem(f"memory line {line:#x}: rtl wrote {memory.read_line(line).hex()}, "
                        f"model {model.memory.read_line(line).hex()}")
                break
        return report
