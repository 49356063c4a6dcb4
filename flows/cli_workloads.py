"""``accelgen bench sparsecache`` and the trace commands: SparseCache on pruned-DNN traces.

``accelgen trace NETWORK -o FILE`` writes one inference's memory trace
(:mod:`accelgen.sim.workloads.trace_format`); ``accelgen trace-check FILE`` validates a trace
file and prints what it holds. Every bad input (unknown network or layer, bad sampling or
cache sizes, a malformed trace file) is one line and exit status 2, before anything is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .cli_common import UsageError, flat, int_list, name_list, writable_dir

__all__ = ["add_workload_commands"]


def _float_list(text: str) -> list[float]:
    try:
        return [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers such as 0.01,0.1, got {text!r}") \
            from None


def _trace_option(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NETWORK=FILE, got {text!r}")
    return name, Path(path)


def _sampling(args: argparse.Namespace):
    from accelgen.sim.workloads.sampling import SAMPLING_COUNTS, Sampling

    layers = flat(args.layers)
    layers = tuple(layers) if layers else None
    try:
        if args.full:
            return Sampling.full(layers)
        return Sampling(**{name: getattr(args, name) for name in SAMPLING_COUNTS},
                        layers=layers)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _add_sampling_options(parser: argparse.ArgumentParser, defaults: Any) -> None:
    from accelgen.sim.workloads.sampling import SAMPLING_COUNTS

    group = parser.add_argument_group("sampling (accelgen.sim.workloads.sampling)")
    group.add_argument("--full", action="store_true",
                       help="trace every access of the chosen layers (no sampling)")
    for name in SAMPLING_COUNTS:
        group.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int,
                           default=getattr(defaults, name),
                           help=f"(default {getattr(defaults, name)})")
    group.add_argument("--layers", type=name_list, nargs="+",
                       help="trace only these layers (default all)")


def _cmd_trace(args: argparse.Namespace) -> int:
    from accelgen.sim.workloads.networks import network
    from accelgen.sim.workloads.traces import generate_trace

    sampling = _sampling(args)
    try:
        network(args.network)
    except ValueError as error:
        raise UsageError(str(error)) from None
    writable_dir(args.output.parent)
    try:
        summary = generate_trace(args.output, args.network, seed=args.seed,
                                 granularity=args.granularity, group=args.group,
                                 sampling=sampling)
    except ValueError as error:  # raised before the file is renamed into place
        raise UsageError(str(error)) from None
    measured = sum(op["measured"] for op in summary.metadata["ops"])
    print(f"wrote {summary.path}: {summary.records} records ({measured} measured, of "
          f"{summary.metadata['full_accesses']} in the complete inference), "
          f"{summary.blocks} image blocks")
    return 0


def _cmd_trace_check(args: argparse.Namespace) -> int:
    from accelgen.sim.workloads.trace_format import TraceFormatError, TraceReader

    try:
        reader = TraceReader(args.file)
    except TraceFormatError as error:
        raise UsageError(str(error)) from None
    meta = reader.metadata
    measured = sum(op["measured"] for op in meta["ops"])
    print(f"valid trace of {meta.get('network', '?')} (seed {meta.get('seed', '?')}, "
          f"{meta.get('granularity', '?')} pruning): {reader.record_count} records, "
          f"{measured} measured, {len(meta['ops'])} loops, {reader.block_count} image blocks")
    return 0


def _cmd_bench_sparsecache(args: argparse.Namespace) -> int:
    from accelgen.sim.workloads.trace_format import TraceFormatError

    from .bench_sparsecache import THRESHOLDS, CacheSetup, check_request, run_sparsecache_benchmark

    sampling = _sampling(args)
    setup_values: dict[str, Any] = {"l1_kib": args.l1_kib, "big_l1_kib": args.big_l1_kib}
    null_bytes = flat(args.null_bytes)
    if null_bytes:
        setup_values["null_bytes"] = tuple(null_bytes)
        setup_values["main_null_bytes"] = 1024 if 1024 in null_bytes else null_bytes[0]
    setup = CacheSetup(**setup_values)
    thresholds = flat(args.thresholds)
    thresholds = THRESHOLDS if thresholds is None else tuple(thresholds)
    traces = dict(args.trace or [])
    options = {"setup": setup, "thresholds": thresholds, "coarse": not args.no_coarse,
               "traces": traces, "jobs": args.jobs}
    try:
        networks, _ = check_request(flat(args.networks), **options)
        if args.seed < 0:
            raise ValueError(f"--seed: must be >= 0, got {args.seed}")
    except (ValueError, TraceFormatError) as error:
        raise UsageError(str(error)) from None
    path = run_sparsecache_benchmark(writable_dir(args.output), networks, sampling=sampling,
                                     seed=args.seed, sampling_check=not args.no_sampling_check,
                                     **options)
    print(f"wrote {path}")
    return 0


def add_workload_commands(commands: Any, bench_kinds: Any) -> None:
    """Add the trace commands to ``accelgen`` and ``sparsecache`` to ``bench``."""
    from accelgen.sim.workloads.networks import NETWORKS
    from accelgen.sim.workloads.pruning import GRANULARITIES
    from accelgen.sim.workloads.sampling import Sampling

    from .bench_sparsecache import BENCH_SAMPLING

    trace = commands.add_parser("trace", help="write a pruned network's inference memory trace")
    trace.add_argument("network", help=f"one of {', '.join(NETWORKS)}")
    trace.add_argument("-o", "--output", type=Path, required=True, help="trace file to write")
    trace.add_argument("--seed", type=int, default=0, help="value and sampling seed (default 0)")
    trace.add_argument("--granularity", choices=GRANULARITIES, default="fine",
                       help="weight pruning: per weight (fine, default) or aligned groups "
                            "(coarse)")
    trace.add_argument("--group", type=int, default=8,
                       help="weights per group for coarse pruning (default 8, one 32 B line)")
    _add_sampling_options(trace, Sampling())
    trace.set_defaults(run=_cmd_trace)

    check = commands.add_parser("trace-check", help="validate a trace file and summarise it")
    check.add_argument("file", type=Path)
    check.set_defaults(run=_cmd_trace_check)

    bench = bench_kinds.add_parser(
        "sparsecache", help="SparseCache golden model on pruned-DNN traces, against the paper")
    bench.add_argument("-o", "--output", type=Path, default=Path("benchmarks/results"),
                       help="directory for sparsecache.json and plots "
                            "(default benchmarks/results)")
    bench.add_argument("--networks", type=name_list, nargs="+",
                       help=f"networks (default all: {', '.join(NETWORKS)})")
    bench.add_argument("--l1-kib", type=int, default=16, help="base L1 size (default 16)")
    bench.add_argument("--big-l1-kib", type=int, default=32,
                       help="the larger L1 compared against (default 32)")
    bench.add_argument("--null-bytes", type=int_list, nargs="+",
                       help="null-cache sizes in bytes (default 512 1024 2048)")
    bench.add_argument("--thresholds", type=_float_list, nargs="+",
                       help="approximate zero-detection thresholds (default 0.01 0.1)")
    bench.add_argument("--seed", type=int, default=0, help="trace seed (default 0)")
    bench.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    bench.add_argument("--no-coarse", action="store_true",
                       help="skip the coarse-grained pruning traces")
    bench.add_argument("--no-sampling-check", action="store_true",
                       help="skip LeNet-5's complete trace (the sampling error check)")
    bench.add_argument("--trace", type=_trace_option, action="append",
                       help="NETWORK=FILE: use this (fine-pruned) trace instead of generating "
                            "one (repeatable)")
    _add_sampling_options(bench, BENCH_SAMPLING)
    bench.set_defaults(run=_cmd_bench_sparsecache)
