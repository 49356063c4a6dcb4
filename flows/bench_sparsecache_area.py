"""``sparsecache_area.json``: what SparseCache's null cache costs next to the L1's own logic.

Every block is generated on its own from its Amaranth component and synthesized with
:func:`accelgen.flows.synth.synthesize` (generic gates; ECP5 LUT4/FF/CCU2C):

=====================  ===================================================================
block                  what is synthesized
=====================  ===================================================================
tcam                   the TCAM: entries x (value, care, valid) in flip-flops, match logic
                       and the lowest-match priority encoder
zero_detector          the zero detector and approximator (ZDA) on a whole line
word_detector          the exact zero test of one stored word (a covered line absorbs zeros)
address_merger         the address merger (AM): partner search and merge datapath
null_cache_controller  the null cache minus its TCAM and merger: recency ranks, replacement
                       (coverage-aware LRU or LRU), insert and exact split
l1_logic               the L1's tag compare, LRU update, victim choice and way multiplexers
cache_controller       the top-level controller: request, memory and fill/insert sequencing
=====================  ===================================================================

Blocks inside blocks (the TCAM and merger in the null cache; the L1, null cache and detectors
in the top) are turned into black boxes before synthesis, and so are memories
(:class:`~amaranth.lib.memory.Memory`: the L1's data and tag/metadata arrays), which are
reported in bits instead (``arrays_bits``): an SRAM macro is not a gate count. The TCAM holds
its entries in flip-flops, so they are part of its area; their bit count is reported too.
A black box counts as one cell in Yosys' statistics; those cells are taken out of ``cells``
(``black_boxes`` lists them).

``null_entries`` follows the generated design's JSON (``null_cache_bits_per_entry`` = value
and care mask of ``key_width`` bits plus a valid bit): a null cache of B bytes holds
``floor(8 B / (2 key_width + 1))`` entries.

Every block's generic run is repeated with ABC's default script minus ``&dch -f``
(``generic_no_dch``): the same ``synth -flatten`` flow and cell counting, less optimization. The
address merger needs it. Its partner search (per entry: same care mask, values one cared bit
apart; then a lowest-match priority chain and a multiplexer selecting the partner's value) is
cheap to map but costly for ``&dch``'s choice computation, whose time grows faster than the
square of the entries (Yosys CPU 7 s, 22 s, 75 s, 319 s at 16, 32, 64, 148 entries of 27 bits,
against 4 s, 8 s, 17 s, 39 s without ``&dch``). ``address_merger_scaling`` measures the merger at
:data:`MERGER_SCALING` entries (those below the configuration's) with every flow, so the two
scripts can be compared where both finish.

Every run, generic or ECP5, is stopped after ``timeout_s`` and recorded as not measured, with
the CPU time it used; a failed ECP5 run is recorded with Yosys' error; a failed generic run
raises :class:`ToolError` before anything is written. Outcomes are cached (``cache_dir``, by
default ``<accelgen cache>/sparsecache-area``), so an interrupted run resumes. The JSON is
written atomically at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amaranth.back import verilog

from accelgen.flows.atomic import write_atomically
from accelgen.generators.sparsecache.address_merger import AddressMerger
from accelgen.generators.sparsecache.cache_config import SparseCacheConfig
from accelgen.generators.sparsecache.config import TcamConfig
from accelgen.generators.sparsecache.l1_cache import L1Cache
from accelgen.generators.sparsecache.null_cache import NullCache
from accelgen.generators.sparsecache.tcam import generate_tcam
from accelgen.generators.sparsecache.top import generate_sparsecache
from accelgen.generators.sparsecache.zero_detector import generate_zero_detector

from .bench_systolic import machine_context
from .synth_jobs import SynthJob, check_run_options, new_workdir, not_measured, run_jobs
from .toolchain import cache_root, run_yosys

__all__ = ["BLOCKS", "CONFIGS", "MERGER_SCALING", "NULL_CACHE_PARTS", "TARGETS",
           "null_entries_for_bytes", "run_sparsecache_area", "sparsecache_config"]

TARGETS: tuple[str, ...] = ("generic", "ecp5")
NO_DCH = "generic_no_dch"
"""The record of the generic flow with :data:`NO_DCH_SCRIPT`; run whenever generic is."""
NO_DCH_SCRIPT = "+strash;&get,-n;&fraig,-x;&put;scorr;dc2;dretime;strash;&get,-n;&nf,{D};&put"
"""Yosys' default ABC script for gate mapping (``help abc``) without ``&dch -f``."""
MERGER_SCALING: tuple[int, ...] = (16, 32, 64)
"""Merger sizes measured below a configuration's own ``null_entries``."""
DEFAULT_TIMEOUT_S = 20 * 60.0
MEMORY_CELL = "accelgen_memory_array"
WIDE_MUXES = ("PFUMX", "L6MUX21")
"""ECP5 slice multiplexers that join LUT4 outputs into wider functions (no LUTs of their own)."""

BLOCKS: tuple[str, ...] = ("tcam", "zero_detector", "word_detector", "address_merger",
                           "null_cache_controller", "l1_logic", "cache_controller")
NULL_CACHE_PARTS: tuple[str, ...] = BLOCKS[:5]
"""The blocks SparseCache adds to a plain cache."""


def null_entries_for_bytes(null_bytes: int, address_bits: int, line_bytes: int) -> int:
    """Entries of a ``null_bytes``-byte null cache: each holds a value and a care mask of the
    line-address width plus a valid bit (as the generated JSON states)."""
    key_width = address_bits - (line_bytes.bit_length() - 1)
    return (8 * null_bytes) // (2 * key_width + 1)


def sparsecache_config(l1_kib: int, ways: int, line_bytes: int, null_bytes: int,
                       **rest: Any) -> SparseCacheConfig:
    """A :class:`SparseCacheConfig` from sizes in bytes, as the paper states them."""
    address_bits = rest.get("address_bits", SparseCacheConfig.address_bits)
    sets = l1_kib * 1024 // (ways * line_bytes)
    return SparseCacheConfig(sets=sets, ways=ways, line_bytes=line_bytes,
                             null_entries=null_entries_for_bytes(null_bytes, address_bits,
                                                                 line_bytes), **rest)


CONFIGS: dict[str, dict[str, int]] = {
    "paper": {"l1_kib": 16, "ways": 4, "line_bytes": 32, "null_bytes": 1024},
    "small": {"l1_kib": 4, "ways": 4, "line_bytes": 32, "null_bytes": 256},
}
"""The paper's design point (16 KB 4-way L1, 32 B lines, 1 KB null cache) and a smaller one;
everything else is the generator's default (32-bit addresses, int32 words, coverage-aware LRU,
write-back)."""

NOTES = {
    "area": "Yosys: generic = synth -flatten (internal gate library, every gate or flip-flop "
            "one cell); ecp5 = synth_ecp5, lut = free-standing LUT4s, carry = CCU2C (two LUT4s "
            "each), wide_mux = PFUMX + L6MUX21 (slice multiplexers joining LUT4s, not in lut)",
    "black_boxes": "sub-blocks and memories are black boxes, synthesized or counted "
                   "elsewhere; their cells are not in `cells`",
    "arrays_bits": "memories (L1 data, L1 tags with valid/dirty bits and LRU order) in bits, "
                   "as Yosys counts them; the TCAM's entries are flip-flops inside its area",
    "null_cache": "tcam + zero_detector + word_detector + address_merger + "
                  "null_cache_controller: what SparseCache adds",
    "ratios": "null-cache logic over the L1's tag and control logic (l1_logic), and over "
              "l1_logic + cache_controller (a plain cache needs a controller too, though ours "
              "also sequences null-cache inserts and removals)",
    "seconds": "wall time of each Yosys run on a possibly shared machine; yosys_cpu_s is CPU; "
               "a record with cached=true was reused from an earlier run of the same inputs",
    NO_DCH: "synth -flatten with ABC's default script minus &dch -f (choice computation), "
            "same gate library and cell counting as generic; the merger's partner search "
            "makes &dch's time grow faster than entries^2",
    "address_merger_scaling": "the merger alone at fewer entries (same key width), every "
                              "flow, to compare the scripts where both finish",
    "timeout": "every run (generic or ECP5) is stopped after the time limit and recorded as "
               "not measured with the CPU time it used",
}


def _progress(message: str) -> None:
    print(f"bench sparsecache-area: {message}", file=sys.stderr, flush=True)


def check_request(configs: dict[str, SparseCacheConfig], targets: Sequence[str], jobs: int,
                  timeout_s: float) -> list[str]:
    """Targets in :data:`TARGETS` order, or a ``ValueError`` naming the bad argument."""
    if not configs or not all(isinstance(cfg, SparseCacheConfig) for cfg in configs.values()):
        raise ValueError("configs: give at least one SparseCacheConfig, by name")
    return check_run_options(targets, TARGETS, jobs, timeout_s)


# --- one block, prepared for synthesis ----------------------------------------------------

_MEMORY_STUB = f"""
(* blackbox *)
module {MEMORY_CELL} (RD_CLK, RD_EN, RD_ARST, RD_SRST, RD_ADDR, RD_DATA, WR_CLK, WR_EN,
    WR_ADDR, WR_DATA);
  parameter MEMID = "";
  parameter SIZE = 4;
  parameter OFFSET = 0;
  parameter ABITS = 2;
  parameter WIDTH = 8;
  parameter INIT = 1'bx;
  parameter RD_PORTS = 1;
  parameter RD_CLK_ENABLE = 1'b1;
  parameter RD_CLK_POLARITY = 1'b1;
  parameter RD_TRANSPARENCY_MASK = 1'b0;
  parameter RD_COLLISION_X_MASK = 1'b0;
  parameter RD_WIDE_CONTINUATION = 1'b0;
  parameter RD_CE_OVER_SRST = 1'b0;
  parameter RD_ARST_VALUE = 1'b0;
  parameter RD_SRST_VALUE = 1'b0;
  parameter RD_INIT_VALUE = 1'b0;
  parameter WR_PORTS = 1;
  parameter WR_CLK_ENABLE = 1'b1;
  parameter WR_CLK_POLARITY = 1'b1;
  parameter WR_PRIORITY_MASK = 1'b0;
  parameter WR_WIDE_CONTINUATION = 1'b0;
  input [RD_PORTS-1:0] RD_CLK, RD_EN, RD_ARST, RD_SRST;
  input [RD_PORTS*ABITS-1:0] RD_ADDR;
  output [RD_PORTS*WIDTH-1:0] RD_DATA;
  input [WR_PORTS-1:0] WR_CLK;
  input [WR_PORTS*WIDTH-1:0] WR_EN, WR_DATA;
  input [WR_PORTS*ABITS-1:0] WR_ADDR;
endmodule
"""
"""A black box with the ports and parameters of Yosys' ``$mem_v2`` cell."""


@dataclass(frozen=True)
class _Block:
    name: str
    module: str
    verilog: str
    inner: tuple[str, ...] = ()
    """Sub-modules (by their name inside ``verilog``) to turn into black boxes."""


def _blocks(cfg: SparseCacheConfig) -> list[_Block]:
    tcam = generate_tcam(cfg.tcam)
    zero = generate_zero_detector(cfg.zero_detector)
    word = generate_zero_detector(cfg.word_detector)
    size = f"{cfg.null_entries}x{cfg.line_address_bits}"
    merger = f"sparsecache_address_merger_{size}"
    null = f"sparsecache_null_cache_{size}_{cfg.replacement}"
    l1 = f"sparsecache_l1_{cfg.sets}x{cfg.ways}x{cfg.line_bytes}_a{cfg.address_bits}"
    top = generate_sparsecache(cfg)
    return [
        _Block("tcam", tcam.name, tcam.verilog),
        _Block("zero_detector", zero.name, zero.verilog),
        _Block("word_detector", word.name, word.verilog),
        _Block("address_merger", merger,
               verilog.convert(AddressMerger(cfg.tcam), name=merger, emit_src=False)),
        _Block("null_cache_controller", null,
               verilog.convert(NullCache(cfg.tcam, cfg.replacement), name=null, emit_src=False),
               (f"{null}.tcam", f"{null}.merger")),
        _Block("l1_logic", l1, verilog.convert(L1Cache(cfg), name=l1, emit_src=False)),
        _Block("cache_controller", top.name, top.verilog,
               tuple(f"{top.name}.{part}"
                     for part in ("l1", "null_cache", "zero_detector", "word_detector"))),
    ]


def _merger_blocks(cfg: SparseCacheConfig) -> list[_Block]:
    """The merger alone at each :data:`MERGER_SCALING` size below ``cfg``'s entries."""
    blocks = []
    for entries in MERGER_SCALING:
        if entries < cfg.null_entries:
            tcam = TcamConfig(entries=entries, key_width=cfg.line_address_bits)
            name = f"sparsecache_address_merger_{entries}x{tcam.key_width}"
            blocks.append(_Block(f"address_merger_{entries}", name,
                                 verilog.convert(AddressMerger(tcam), name=name,
                                                 emit_src=False)))
    return blocks


def _prepare(block: _Block, work: Path) -> tuple[Path, int]:
    """Write ``block``'s Verilog with its sub-blocks and memories as black boxes; return the
    file and the memory bits Yosys counted."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "block.v").write_text(block.verilog)
    lines = ['read_verilog "block.v"', f"hierarchy -top {block.module}", "proc -norom"]
    if block.inner:
        lines += [f"blackbox {' '.join(block.inner)}", f"hierarchy -top {block.module}"]
    lines += ["tee -q -o memories.json stat -json", "opt", "memory -nomap",
              f"chtype -map $mem_v2 {MEMORY_CELL}", "opt_clean",
              "write_verilog -noattr prepared.v", "write_verilog -blackboxes black_boxes.v", ""]
    (work / "prepare.ys").write_text("\n".join(lines))
    run_yosys(["-s", "prepare.ys"], cwd=work, log=work / "prepare.log")
    stats = json.loads((work / "memories.json").read_text())
    memory_bits = int(stats["design"].get("num_memory_bits", 0))
    text = (work / "prepared.v").read_text()
    if block.inner:
        text += (work / "black_boxes.v").read_text()
    if MEMORY_CELL in text:
        text += _MEMORY_STUB
    prepared = work / f"{block.module}.v"
    prepared.write_text(text)
    return prepared, memory_bits


def _record(target: str, outcome: dict[str, Any]) -> dict[str, Any]:
    """One target's area; black-box cells are counted apart, not in ``cells``."""
    if "report" not in outcome:
        return not_measured(outcome)
    report = outcome["report"]
    boxes = {cell: count for cell, count in report["cells"].items()
             if not cell.startswith("$") and (cell == MEMORY_CELL or "." in cell)}
    record: dict[str, Any] = {
        "measured": True, "cells": report["cells_total"] - sum(boxes.values()),
        "black_boxes": boxes, "seconds": outcome["seconds"],
        "yosys_cpu_s": outcome["yosys_cpu_s"]}
    if outcome.get("cached"):
        record["cached"] = True
    if target in ("generic", NO_DCH):
        record["flip_flops"] = report["flip_flops"]
    else:
        fpga = report["fpga"]
        record.update({"lut": fpga["lut"], "ff": fpga["ff"], "carry": fpga["carry"],
                       "lut_with_carry": fpga["lut"] + 2 * fpga["carry"],
                       "wide_mux": sum(report["cells"].get(cell, 0) for cell in WIDE_MUXES)})
    return record


# --- summary --------------------------------------------------------------------------------

METRICS: dict[str, tuple[str, str]] = {
    "generic_cells": ("generic", "cells"),
    "generic_flip_flops": ("generic", "flip_flops"),
    "generic_no_dch_cells": (NO_DCH, "cells"),
    "ecp5_lut": ("ecp5", "lut"),
    "ecp5_lut_with_carry": ("ecp5", "lut_with_carry"),
    "ecp5_ff": ("ecp5", "ff"),
}


def _metric(blocks: dict[str, Any], names: Sequence[str], metric: str) -> int | None:
    target, field = METRICS[metric]
    total = 0
    for name in names:
        record = blocks[name]["area"].get(target)
        if not record or not record["measured"]:
            return None
        total += record[field]
    return total


def summarize(blocks: dict[str, Any], arrays_bits: dict[str, int]) -> dict[str, Any]:
    """Null-cache logic against the L1's logic, per metric, and storage in bits."""
    table: dict[str, Any] = {}
    for metric in METRICS:
        null = _metric(blocks, NULL_CACHE_PARTS, metric)
        l1 = _metric(blocks, ("l1_logic",), metric)
        l1_and_controller = _metric(blocks, ("l1_logic", "cache_controller"), metric)
        table[metric] = {
            "null_cache": null, "l1_logic": l1, "l1_logic_and_controller": l1_and_controller,
            "null_cache_over_l1_logic": null / l1 if null is not None and l1 else None,
            "null_cache_over_l1_logic_and_controller":
                null / l1_and_controller if null is not None and l1_and_controller else None,
        }
    l1_bits = arrays_bits["l1_data"] + arrays_bits["l1_metadata"]
    table["storage_bits"] = {
        "null_cache": arrays_bits["tcam_flip_flops"], "l1": l1_bits,
        "null_cache_over_l1": arrays_bits["tcam_flip_flops"] / l1_bits}
    return table


def _arrays_bits(cfg: SparseCacheConfig, memory_bits: dict[str, int]) -> dict[str, int]:
    data_bits = max(2, cfg.sets) * cfg.ways * cfg.line_bits
    return {"l1_data": data_bits, "l1_metadata": memory_bits["l1_logic"] - data_bits,
            "tcam_flip_flops": cfg.null_cache_bits}


def _describe(name: str, cfg: SparseCacheConfig) -> dict[str, Any]:
    tcam = cfg.tcam
    described: dict[str, Any] = {"name": name, "module": cfg.name, "parameters": cfg.to_dict(),
                                 "l1_bytes": cfg.sets * cfg.ways * cfg.line_bytes,
                                 "key_width": tcam.key_width,
                                 "null_cache_bits_per_entry": 2 * tcam.key_width + 1,
                                 "null_cache_bytes": cfg.null_cache_bits / 8}
    if name in CONFIGS:
        described["requested"] = CONFIGS[name]
    return described


def _job_order(job: SynthJob) -> tuple[int, int, int]:
    """Cheap runs first, the full-size merger last and its default-script generic run last of
    all (it takes longest), so a time limit or an interruption costs the fewest results."""
    block = job.key[1]
    flow = 0 if job.abc_script else 1 if job.target == "ecp5" else 2
    if block == "address_merger":
        return 4, 0, flow
    if block.startswith("address_merger_"):
        return 3, int(block.rsplit("_", 1)[1]), flow
    return (2 if block in ("tcam", "null_cache_controller") else 1), 0, flow


def _why(record: dict[str, Any]) -> str:
    """The short cause of a run that was not measured: its last line."""
    lines = [line.strip() for line in record["reason"].splitlines() if line.strip()]
    return lines[-1][:200] if lines else "unknown"


def _partial(report_configs: list[dict[str, Any]]) -> str:
    """What is and is not measured, in one sentence per configuration."""
    sentences = []
    for config in report_configs:
        missing = [f"{name} {flow} ({_why(record)})" for name, block in config["blocks"].items()
                   for flow, record in block["area"].items() if not record["measured"]]
        scaling = [f"address_merger at {entry['entries']} {flow} ({_why(record)})"
                   for entry in config["address_merger_scaling"][:-1]
                   for flow, record in entry["area"].items() if not record["measured"]]
        text = (f"{config['name']}: every block measured in every flow" if not missing else
                f"{config['name']}: measured except {', '.join(missing)}; summary sums that "
                "need a missing block are null")
        sentences.append(text + ("" if not scaling else
                                 "; scaling runs not measured: " + ", ".join(scaling)))
    return "; ".join(sentences)


def run_sparsecache_area(out_dir: Path, configs: dict[str, SparseCacheConfig] | None = None,
                         *, targets: Sequence[str] = TARGETS, jobs: int = 2,
                         timeout_s: float = DEFAULT_TIMEOUT_S,
                         cache_dir: Path | None = None) -> Path:
    """Synthesize every block of every configuration and write ``sparsecache_area.json`` into
    ``out_dir``; return its path.

    ``configs`` maps a name to a configuration (default: :data:`CONFIGS`, the paper's design
    point and a smaller one). ``timeout_s`` limits every run; ``cache_dir`` (default
    ``<accelgen cache>/sparsecache-area``) keeps outcomes for the next run. Raises
    ``ValueError`` for a bad request and :class:`ToolError` for a failed preparation or generic
    synthesis, both before anything is written.
    """
    if configs is None:
        configs = {name: sparsecache_config(**sizes) for name, sizes in CONFIGS.items()}
    targets = check_request(configs, targets, jobs, timeout_s)
    flows = ([NO_DCH] if "generic" in targets else []) + targets
    cache_dir = cache_dir if cache_dir is not None else cache_root() / "sparsecache-area"
    started = time.perf_counter()
    machine = machine_context()
    load_start = os.getloadavg()
    work = new_workdir(out_dir, ".sparsecache-area-", _progress)

    prepared: dict[tuple[str, str], tuple[_Block, Path, int]] = {}
    for name, cfg in configs.items():
        for block in _blocks(cfg) + _merger_blocks(cfg):
            path, bits = _prepare(block, work / name / block.name)
            prepared[name, block.name] = (block, path, bits)
    all_jobs = [SynthJob((name, block.name), f"{name} {block.name} {flow}",
                         "generic" if flow == NO_DCH else flow, path, block.module,
                         work / name / block.name / f"synth-{flow}",
                         NO_DCH_SCRIPT if flow == NO_DCH else None)
                for (name, _), (block, path, _) in prepared.items() for flow in flows]
    all_jobs.sort(key=_job_order)
    outcomes = run_jobs(all_jobs, jobs, timeout_s, _progress, limit_generic=True,
                        cache_dir=cache_dir)

    def areas(name: str, block_name: str) -> dict[str, Any]:
        records = {}
        for job in all_jobs:
            if job.key == (name, block_name):
                flow = NO_DCH if job.abc_script else job.target
                records[flow] = _record(flow, outcomes[job])
        return {flow: records[flow] for flow in flows}

    report_configs = []
    for name, cfg in configs.items():
        blocks: dict[str, Any] = {}
        memory_bits: dict[str, int] = {}
        for block_name in BLOCKS:
            block, _, bits = prepared[name, block_name]
            memory_bits[block_name] = bits
            blocks[block_name] = {"module": block.module, "black_box_modules": list(block.inner),
                                  "area": areas(name, block_name)}
        scaling = [{"entries": int(block.name.rsplit("_", 1)[1]), "module": block.module,
                    "area": areas(name, block.name)} for block in _merger_blocks(cfg)]
        scaling.append({"entries": cfg.null_entries, "module": blocks["address_merger"]["module"],
                        "area": blocks["address_merger"]["area"]})
        arrays = _arrays_bits(cfg, memory_bits)
        report_configs.append({**_describe(name, cfg), "blocks": blocks,
                               "address_merger_scaling": scaling, "arrays_bits": arrays,
                               "summary": summarize(blocks, arrays)})

    notes = {**NOTES, "partial": _partial(report_configs)}
    report = {"benchmark": "sparsecache_area", "targets": targets, "flows": flows,
              "timeout_s": timeout_s, "notes": notes, "configs": report_configs,
              "machine": machine, "load_average": {"start": load_start, "end": os.getloadavg()},
              "total_s": time.perf_counter() - started}
    path = out_dir / "sparsecache_area.json"
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps(report, indent=2) + "\n"))
    shutil.rmtree(work, ignore_errors=True)
    return path
