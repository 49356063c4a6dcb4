"""``accelgen generate sparsecache``, ``regress sparsecache`` and ``bench sparsecache-area``.

The cache is given as a designer states it: L1 size in KiB (or ``--sets``), ways, line bytes,
and the null cache in entries or in bytes. A null-cache entry holds a value and a care mask of
the line-address width plus a valid bit, so B bytes hold ``floor(8 B / (2 key_width + 1))``
entries; the design's JSON states this mapping. Every bad parameter (sets or line size not a
power of two, a key wider than the line address, no null-cache entries, ...) is one line
naming the option, exit status 2, before anything is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from .cli_common import UsageError, flat, name_list, writable_dir

__all__ = ["add_sparsecache_commands", "sparsecache_from_args"]

# Configuration fields and the options that set them, for error messages.
_FLAGS = {"address_bits": "--address-bits", "ways": "--ways", "line_bytes": "--line-bytes",
          "word_format": "--word-format", "null_entries": "--null-entries",
          "key_width": "--key-width", "threshold": "--threshold",
          "replacement": "--replacement", "write_policy": "--write-policy"}


def _add_cache_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("SparseCache parameters")
    size = group.add_mutually_exclusive_group()
    size.add_argument("--l1-kib", type=float, default=None,
                      help="L1 data size in KiB (default 16); sets = size / (ways * line bytes)")
    size.add_argument("--sets", type=int, help="L1 sets (power of two), instead of --l1-kib")
    group.add_argument("--ways", type=int, default=4, help="L1 ways (default 4)")
    group.add_argument("--line-bytes", type=int, default=32,
                       help="line size in bytes, a power of two (default 32)")
    null = group.add_mutually_exclusive_group()
    null.add_argument("--null-entries", type=int, help="null-cache TCAM entries")
    null.add_argument("--null-bytes", type=int,
                      help="null-cache size in bytes, turned into entries of value + care mask "
                           "+ valid bit (default 1024)")
    group.add_argument("--address-bits", type=int, default=32, help="byte address bits "
                                                                    "(default 32)")
    group.add_argument("--key-width", type=int,
                       help="TCAM key bits; must equal the line-address width (default: it)")
    group.add_argument("--word-format", default="int32",
                       help="int8, int16, int32, fp16 or fp32 (default int32)")
    group.add_argument("--threshold", type=float, default=0,
                       help="near-zero magnitude for the approximate detector (default 0: "
                            "exact)")
    group.add_argument("--replacement", default="coverage_lru",
                       help="coverage_lru or lru (default coverage_lru)")
    group.add_argument("--write-policy", default="write_back",
                       help="write_back or write_through (default write_back)")


def _check_line_bytes(args: argparse.Namespace) -> None:
    if args.line_bytes < 1 or args.line_bytes & (args.line_bytes - 1):
        raise UsageError(f"--line-bytes: must be a power of two, got {args.line_bytes}")


def _sets(args: argparse.Namespace) -> int:
    if args.sets is not None:
        return args.sets
    kib = 16.0 if args.l1_kib is None else args.l1_kib
    _check_line_bytes(args)
    if args.ways < 1:
        raise UsageError(f"--ways: must be >= 1, got {args.ways}")
    set_bytes = args.ways * args.line_bytes
    size = kib * 1024
    if not size > 0 or size != int(size) or int(size) % set_bytes:
        raise UsageError(f"--l1-kib: {kib:g} KiB is not a whole number of {args.ways}-way sets "
                         f"of {args.line_bytes}-byte lines ({set_bytes} bytes each)")
    sets = int(size) // set_bytes
    if sets & (sets - 1):
        raise UsageError(f"--l1-kib: {kib:g} KiB of {args.ways}-way sets of {args.line_bytes}-byte "
                         f"lines gives {sets} sets, which is not a power of two")
    return sets


def _null_entries(args: argparse.Namespace) -> int:
    if args.null_entries is not None:
        return args.null_entries
    null_bytes = 1024 if args.null_bytes is None else args.null_bytes
    _check_line_bytes(args)
    key_width = args.address_bits - (args.line_bytes.bit_length() - 1)
    bits = 2 * key_width + 1
    entries = 8 * null_bytes // bits if key_width >= 1 else 0
    if entries < 1:
        raise UsageError(f"--null-bytes: {null_bytes} bytes hold no entry of {bits} bits "
                         f"(value and care mask of {key_width} bits, a valid bit); give at "
                         f"least {-(-bits // 8)}")
    return entries


def sparsecache_from_args(args: argparse.Namespace) -> Any:
    """The :class:`SparseCacheConfig` the options describe, or :class:`UsageError` naming the
    option that breaks a rule."""
    from accelgen.generators.sparsecache.cache_config import SparseCacheConfig
    from accelgen.generators.sparsecache.config import ConfigError

    threshold: int | float = args.threshold
    if float(threshold).is_integer():
        threshold = int(threshold)
    values = {"sets": _sets(args), "ways": args.ways, "line_bytes": args.line_bytes,
              "address_bits": args.address_bits, "word_format": args.word_format,
              "null_entries": _null_entries(args), "key_width": args.key_width,
              "threshold": threshold, "replacement": args.replacement,
              "write_policy": args.write_policy}
    try:
        return SparseCacheConfig(**values)
    except ConfigError as error:
        parameter, _, rule = str(error).partition(": ")
        if parameter == "sets":
            origin = "--sets" if args.sets is not None else "the L1 size (--l1-kib)"
            raise UsageError(f"{origin}: {rule}") from None
        if parameter == "null_entries" and args.null_entries is None:
            raise UsageError(f"--null-bytes: gives {values['null_entries']} entries; "
                             f"null_entries {rule}") from None
        raise UsageError(f"{_FLAGS.get(parameter, parameter)}: {rule}") from None


def _design(cfg: Any, args: argparse.Namespace) -> Any:
    """The generated design, its JSON also stating the size the user asked for."""
    from accelgen.generators.sparsecache.top import generate_sparsecache

    design = generate_sparsecache(cfg)
    requested = {"l1_kib": args.l1_kib, "sets": args.sets, "null_entries": args.null_entries,
                 "null_bytes": args.null_bytes}
    description = {**design.description,
                   "requested": {k: v for k, v in requested.items() if v is not None}}
    return replace(design, description=description)


def _cmd_generate(args: argparse.Namespace) -> int:
    from accelgen.generators.emit import write_design

    cfg = sparsecache_from_args(args)
    design = _design(cfg, args)
    v_path, j_path = write_design(design, writable_dir(args.output))
    sizing = design.description["null_cache"]
    print(f"wrote {v_path} and {j_path}: {cfg.sets} sets x {cfg.ways} ways x "
          f"{cfg.line_bytes} B, {cfg.null_entries} null-cache entries of "
          f"{sizing['bits_per_entry']} bits ({sizing['bytes']:g} bytes)")
    return 0


# --- regression ------------------------------------------------------------------------------

def regression_cases(kinds: list[str], seeds: int, first_seed: int, length: int,
                     stall: float) -> list[dict[str, Any]]:
    """Cases for :mod:`accelgen.tb.sparsecache_tests`: every kind with every seed, and with
    ``stall`` > 0 every kind once more under random back-pressure (first seed)."""
    cases = [{"kind": kind, "seed": first_seed + s, "length": length}
             for kind in kinds for s in range(seeds)]
    if stall > 0:
        cases += [{"kind": kind, "seed": first_seed, "length": length, "stall": stall}
                  for kind in kinds]
    return cases


def _cmd_regress(args: argparse.Namespace) -> int:
    from accelgen.generators.emit import write_design
    from accelgen.sim.sparsecache.stress_traces import CASE_KINDS

    from .simulate import build_simulator, run_cocotb

    cfg = sparsecache_from_args(args)
    kinds = flat(args.kinds) or list(CASE_KINDS)
    unknown = [kind for kind in kinds if kind not in CASE_KINDS]
    checks = [(bool(unknown), f"--kinds: choose from {', '.join(CASE_KINDS)}, got "
                              f"{unknown[0] if unknown else ''!r}"),
              (args.seeds < 1, f"--seeds: must be >= 1, got {args.seeds}"),
              (args.length < 1, f"--length: must be >= 1, got {args.length}"),
              (args.latency < 1, f"--latency: must be >= 1, got {args.latency}"),
              (not 0 <= args.stall < 1, f"--stall: must be from 0 to below 1, got {args.stall}")]
    for failed, message in checks:
        if failed:
            raise UsageError(message)
    out_dir = writable_dir(args.output / cfg.name)
    design = _design(cfg, args)
    v_path, j_path = write_design(design, out_dir)
    cases = regression_cases(kinds, args.seeds, args.seed, args.length, args.stall)
    print(f"{cfg.name}: {len(cases)} cases, memory latency {args.latency}; building ...",
          file=sys.stderr, flush=True)
    build = build_simulator(v_path, design.name, waves=args.waves)
    env = {"ACCELGEN_DESIGN": str(j_path), "ACCELGEN_CASES": json.dumps(cases),
           "ACCELGEN_MEMORY_LATENCY": str(args.latency)}
    result = run_cocotb(build, design.name, "accelgen.tb.sparsecache_tests", env=env,
                        waves=args.waves, test_dir=out_dir / "run")
    ok = result.passed and len(result.passed_tests) == len(cases)
    print(f"{'PASS' if ok else 'FAIL'} {cfg.name}: {len(result.passed_tests)}/{len(cases)} "
          f"cases passed (golden model access by access, soundness after every access); "
          f"JUnit XML: {result.results_xml}")
    for name in result.failed_tests:
        print(f"failed: {name}")
    if result.error:
        print(f"error: {result.error}")
    print(f"log: {result.log}")
    if result.waves:
        print(f"waves: {result.waves}")
    return 0 if ok else 1


# --- area ------------------------------------------------------------------------------------

def _cmd_bench_area(args: argparse.Namespace) -> int:
    from .bench_sparsecache_area import CONFIGS, TARGETS, run_sparsecache_area, sparsecache_config
    from .synth_jobs import check_run_options

    names = flat(args.configs) or list(CONFIGS)
    unknown = [name for name in names if name not in CONFIGS]
    if unknown:
        raise UsageError(f"--configs: choose from {', '.join(CONFIGS)}, got {unknown[0]!r}")
    configs = {name: sparsecache_config(**CONFIGS[name]) for name in names}
    timeout_s = args.timeout * 60.0
    try:
        targets = check_run_options(flat(args.targets) or list(TARGETS), TARGETS, args.jobs,
                                    timeout_s, ("--targets", "--jobs", "--timeout"))
    except ValueError as error:
        raise UsageError(str(error)) from None
    path = run_sparsecache_area(writable_dir(args.output), configs, targets=targets,
                                jobs=args.jobs, timeout_s=timeout_s)
    print(f"wrote {path}")
    return 0


def add_sparsecache_commands(generate_kinds: Any, regress_kinds: Any, bench_kinds: Any) -> None:
    """Add the SparseCache subcommands to ``generate``, ``regress`` and ``bench``."""
    generate = generate_kinds.add_parser(
        "sparsecache", help="a SparseCache: L1 data cache with a TCAM null cache")
    _add_cache_options(generate)
    generate.add_argument("-o", "--output", type=Path, default=Path("out"),
                          help="output directory (default ./out)")
    generate.set_defaults(run=_cmd_generate)

    regress = regress_kinds.add_parser(
        "sparsecache", help="SparseCache against its golden model on random and adversarial "
                            "traces, soundness checked after every access")
    _add_cache_options(regress)
    regress.add_argument("--kinds", type=name_list, nargs="+",
                         help="trace kinds (default all: random, merge_split, fill_evict, "
                              "strided, zero_stores, no_room, busy_merger)")
    regress.add_argument("--seeds", type=int, default=2, help="seeds per kind (default 2)")
    regress.add_argument("--seed", type=int, default=1, help="first seed (default 1)")
    regress.add_argument("--length", type=int, default=300,
                         help="accesses per trace (default 300)")
    regress.add_argument("--latency", type=int, default=100,
                         help="memory latency in cycles (default 100)")
    regress.add_argument("--stall", type=float, default=0.3,
                         help="fraction of cycles the core and memory stall in the "
                              "back-pressure cases (default 0.3; 0: no such cases)")
    regress.add_argument("--waves", action="store_true", help="dump waveforms")
    regress.add_argument("-o", "--output", type=Path, default=Path("out/regress"),
                         help="where the design and results go (default ./out/regress)")
    regress.set_defaults(run=_cmd_regress)

    area = bench_kinds.add_parser(
        "sparsecache-area", help="Yosys area of the null cache's blocks against the L1's logic")
    area.add_argument("--configs", type=name_list, nargs="+",
                      help="paper (16 KiB 4-way, 32 B lines, 1 KiB null cache), small "
                           "(default both)")
    area.add_argument("--targets", type=name_list, nargs="+",
                      help="generic, ecp5 (default both)")
    area.add_argument("--jobs", type=int, default=1, help="Yosys runs at once (default 1)")
    area.add_argument("--timeout", type=float, default=20.0,
                      help="minutes each synthesis (generic or ECP5) may take (default 20)")
    area.add_argument("-o", "--output", type=Path, default=Path("benchmarks/results"),
                      help="directory for the JSON (default benchmarks/results)")
    area.set_defaults(run=_cmd_bench_area)
