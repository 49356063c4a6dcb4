"""The ``accelgen`` command line.

Every error a user can cause (a bad parameter, an unreadable config file, an unwritable output
directory, a tool that fails) ends in one line naming what is wrong and exit status 2, before
any output file is written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from accelgen.generators.systolic import ConfigError, SystolicConfig

__all__ = ["main"]

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


# --- systolic parameters -----------------------------------------------------------------

_SYSTOLIC_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--rows", {"type": int, "help": "array rows (>= 1)"}),
    ("--cols", {"type": int, "help": "array columns (>= 1)"}),
    ("--dataflow", {"choices": ["os", "ws"], "help": "output- or weight-stationary (default os)"}),
    ("--input-width", {"type": int, "help": "A operand bits (default 8)"}),
    ("--weight-width", {"type": int, "help": "B operand bits (default 8)"}),
    ("--acc-width", {"type": int,
                     "help": "accumulator bits (default: never overflows for --max-k)"}),
    ("--max-k", {"type": int, "help": "largest reduction depth the accumulator must hold "
                                      "exactly (default 4096)"}),
    ("--overflow", {"choices": ["none", "wrap", "saturate"],
                    "help": "accumulator overflow rule; needed when --acc-width is narrower "
                            "than the safe width"}),
    ("--result-depth", {"type": int, "help": "result FIFO rows (default: full speed)"}),
    ("--pe", {"help": 'PE kind: "dense" (default) or N:M sparsity such as "2:4" (ws only)'}),
    ("--max-kernel", {"type": int, "help": "largest FuSe kernel drivers accept (default 7)"}),
    ("--requantize", {"choices": ["none", "half_even", "half_up"],
                      "help": "add requantized results: shift, round, saturate to "
                              "--input-width (default none)"}),
]


def _add_systolic_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("systolic-array parameters")
    group.add_argument("--config", type=Path,
                       help="TOML or JSON file of parameters (command-line options override it)")
    for flag, options in _SYSTOLIC_OPTIONS:
        group.add_argument(flag, default=None, **options)
    sign = group.add_mutually_exclusive_group()
    sign.add_argument("--signed", dest="signed", action="store_true", default=None,
                      help="two's complement operands (default)")
    sign.add_argument("--unsigned", dest="signed", action="store_false",
                      help="unsigned operands")
    group.add_argument("--fuse", dest="fuse", action="store_true", default=None,
                       help="add the FuSe mode: 1-D depthwise convolutions, one per row (os, "
                            "rows <= cols)")


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes()
    except OSError as error:
        raise UsageError(f"--config: cannot read {path}: {error.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text.decode())
    except (ValueError, UnicodeDecodeError) as error:
        kind = "JSON" if path.suffix == ".json" else "TOML"
        raise UsageError(f"--config: {path} is not valid {kind}: {error}") from None
    if not isinstance(data, dict):
        raise UsageError(f"--config: {path} must hold a table of parameters")
    return data.get("systolic", data)


def systolic_config(args: argparse.Namespace) -> SystolicConfig:
    values: dict[str, Any] = _read_config_file(args.config) if args.config else {}
    for flag, _ in _SYSTOLIC_OPTIONS:
        key = flag[2:].replace("-", "_")
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    if args.signed is not None:
        values["signed"] = args.signed
    if args.fuse is not None:
        values["fuse"] = args.fuse
    missing = [key for key in ("rows", "cols") if key not in values]
    if missing and not set(values) - set(SystolicConfig.__dataclass_fields__):
        raise UsageError(f"--{missing[0]}: required (or give it in --config)")
    return SystolicConfig.from_dict(values)  # names unknown keys first


def _writable_dir(path: Path) -> Path:
    """Create ``path`` if needed and prove we can write there, before any work is done."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"-o/--output: cannot create {path}: {error.strerror}") from None
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"-o/--output: {path} is not a writable directory")
    return path


# --- commands ----------------------------------------------------------------------------

def _cmd_generate(args: argparse.Namespace) -> int:
    from accelgen.generators.emit import generate_systolic, write_design

    cfg = systolic_config(args)
    out_dir = _writable_dir(args.output)
    v_path, j_path = write_design(generate_systolic(cfg), out_dir)
    print(f"wrote {v_path} and {j_path}")
    return 0


def _cmd_regress(args: argparse.Namespace) -> int:
    from accelgen.generators.emit import generate_systolic
    from accelgen.tb.cases import default_cases
    from accelgen.tb.fuse_cases import default_fuse_cases

    from .regress import run_regression

    cfg = systolic_config(args)
    if args.seeds < 1:
        raise UsageError(f"--seeds: must be >= 1, got {args.seeds}")
    if args.jobs < 1:
        raise UsageError(f"--jobs: must be >= 1, got {args.jobs}")
    out_dir = _writable_dir(args.output / cfg.name)
    cases: list = default_cases(cfg.rows, cfg.cols, cfg.max_k, group=cfg.group,
                                seeds=args.seeds, base_seed=args.seed)
    if cfg.fuse:
        for s in range(args.seeds):
            cases += default_fuse_cases(cfg.rows, cfg.cols, cfg.max_kernel,
                                        base_seed=args.seed + 1000 * (s + 1))
    result = run_regression(generate_systolic(cfg), cases, out_dir, jobs=args.jobs,
                            waves=args.waves)
    print(result.summary())
    for dump in result.waves:
        print(f"waves: {dump}")
    return 0 if result.ok else 1


def _cmd_lint(args: argparse.Namespace) -> int:
    from .lint import AMARANTH_WAIVERS, lint

    verilog = _existing_file(args.file)
    # The waivers cover what Amaranth's back end always writes; hand-written Verilog gets none.
    with verilog.open(errors="replace") as handle:
        from_amaranth = "Generated by Amaranth" in handle.readline()
    waivers = AMARANTH_WAIVERS if from_amaranth and not args.no_waivers else None
    report = lint(verilog, top=args.top, waivers=waivers)
    for warning in report.warnings:
        print(warning)
    print(f"{'clean' if report.clean else 'NOT clean'}: {args.file} "
          f"({len(report.warnings)} warnings)")
    return 0 if report.clean else 1


def _cmd_synth(args: argparse.Namespace) -> int:
    from .synth import synthesize

    verilog = _existing_file(args.file)
    top = args.top or _top_from_description(verilog)
    report_path = args.output or verilog.with_suffix(f".synth-{args.target}.json")
    _writable_dir(report_path.parent)
    workdir = _writable_dir(report_path.parent / f".{report_path.stem}")
    report = synthesize(verilog, top, args.target, workdir)
    report_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"{args.target}: {report['cells_total']} cells"
          + "".join(f", {k} {v}" for k, v in report.get("fpga", {}).items())
          + f"; report: {report_path}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    sizes, networks, variants = _flat(args.sizes), _flat(args.networks), _flat(args.variants)
    if args.kind != "fuse" and (networks is not None or variants is not None):
        raise UsageError("--networks and --variants: only for bench fuse")
    if args.kind == "fuse":
        from .bench_fuse import SIZES, check_request, run_fuse_benchmark

        try:
            request = check_request(SIZES if sizes is None else sizes, networks, variants)
        except ValueError as error:
            raise UsageError(str(error)) from None
        path = run_fuse_benchmark(_writable_dir(args.output), sizes=request[0],
                                  networks=request[1], variants=request[2],
                                  scalesim=not args.no_scalesim)
        print(f"wrote {path}")
        return 0
    out_dir = _writable_dir(args.output)
    if args.kind == "sparse":
        from .bench_sparse import run_sparse_benchmark

        path = run_sparse_benchmark(out_dir, ecp5_sizes=() if args.quick else None)
        print(f"wrote {path}")
        return 0
    from .bench_systolic import run_benchmark

    path = run_benchmark(out_dir, sizes=sizes or [2, 4, 8, 16], large=args.large,
                         quick=args.quick)
    print(f"wrote {path}")
    return 0


def _cmd_nm(args: argparse.Namespace) -> int:
    from .nm_files import (
        NMFileError,
        compress_file,
        decompress_file,
        load_compressed,
        parse_pattern,
    )

    source = _existing_file(args.file)
    try:
        if args.action == "compress":
            if args.output is None:
                raise UsageError("-o/--output: required for compress")
            _writable_dir(args.output.parent)
            done = compress_file(source, parse_pattern(args.pattern), args.output,
                                 prune=args.prune, weight_width=args.weight_width,
                                 signed=args.signed is not False)
            print(f"wrote {args.output}: {done.pattern}, K={done.k}, {done.columns} columns")
        elif args.action == "check":
            done = load_compressed(source, weight_width=args.weight_width,
                                   signed=args.signed is not False)
            print(f"valid {done.pattern}: K={done.k}, {done.columns} columns, "
                  f"{done.groups} groups")
        else:
            if args.output is None:
                raise UsageError("-o/--output: required for decompress")
            _writable_dir(args.output.parent)
            w = decompress_file(source, args.output)
            print(f"wrote {args.output}: {w.shape[0]} x {w.shape[1]}")
    except NMFileError as error:
        raise UsageError(str(error)) from None
    return 0


def _existing_file(path: Path) -> Path:
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    return path


def _top_from_description(verilog: Path) -> str:
    """The module name from the design's JSON beside it, else the file name."""
    description = verilog.with_suffix(".json")
    if description.is_file():
        try:
            return json.loads(description.read_text())["module"]
        except (ValueError, KeyError):
            pass
    return verilog.stem


def _int_list(text: str) -> list[int]:
    try:
        return [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers such as 32,64, got {text!r}") \
            from None


def _name_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _flat(lists: list[list[Any]] | None) -> list[Any] | None:
    """One list from repeated comma lists (``--sizes 32,64 128``); ``None`` when not given."""
    return None if lists is None else [item for items in lists for item in items]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="accelgen", description="Generate, verify and synthesize accelerator RTL.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    generate = commands.add_parser("generate", help="write Verilog and its JSON description")
    kinds = generate.add_subparsers(dest="kind", required=True, metavar="KIND")
    systolic = kinds.add_parser("systolic", help="a systolic GEMM array")
    _add_systolic_options(systolic)
    systolic.add_argument("-o", "--output", type=Path, default=Path("out"),
                          help="output directory (default ./out)")
    systolic.set_defaults(run=_cmd_generate)

    regress = commands.add_parser("regress", help="run the cocotb regression on a configuration")
    regress.add_argument("kind", nargs="?", default="systolic", choices=["systolic"])
    _add_systolic_options(regress)
    regress.add_argument("--seeds", type=int, default=1, help="seeds per case (default 1)")
    regress.add_argument("--seed", type=int, default=1, help="first seed (default 1)")
    regress.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                         help="simulator processes at once (default: CPU count)")
    regress.add_argument("--waves", action="store_true", help="dump waveforms")
    regress.add_argument("-o", "--output", type=Path, default=Path("out/regress"),
                         help="where the design, results.xml and waves go "
                              "(default ./out/regress)")
    regress.set_defaults(run=_cmd_regress)

    lint = commands.add_parser("lint", help="Verilator --lint-only -Wall with our waivers")
    lint.add_argument("file", type=Path)
    lint.add_argument("--top", help="top module (default: Verilator's choice)")
    lint.add_argument("--no-waivers", action="store_true",
                      help="ignore rtl/verilator_waivers.vlt even for Amaranth output")
    lint.set_defaults(run=_cmd_lint)

    synth = commands.add_parser("synth", help="Yosys synthesis and a JSON cell report")
    synth.add_argument("file", type=Path)
    synth.add_argument("--target", choices=["generic", "ice40", "ecp5"], default="generic")
    synth.add_argument("--top", help="top module (default: from the design's JSON)")
    synth.add_argument("-o", "--output", type=Path,
                       help="report path (default: FILE.synth-TARGET.json)")
    synth.set_defaults(run=_cmd_synth)

    nm = commands.add_parser("nm", help="N:M sparse weights: compress, check, decompress")
    nm.add_argument("action", choices=["compress", "check", "decompress"])
    nm.add_argument("file", type=Path, help="dense .npy (compress) or compressed .npz")
    nm.add_argument("--pattern", default="2:4", help="N:M for compress (default 2:4)")
    nm.add_argument("--prune", action="store_true",
                    help="magnitude-prune to the pattern first instead of rejecting")
    nm.add_argument("--weight-width", type=int, default=8, help="weight bits (default 8)")
    nm_sign = nm.add_mutually_exclusive_group()
    nm_sign.add_argument("--signed", dest="signed", action="store_true", default=None)
    nm_sign.add_argument("--unsigned", dest="signed", action="store_false")
    nm.add_argument("-o", "--output", type=Path, help="output file")
    nm.set_defaults(run=_cmd_nm)

    bench = commands.add_parser("bench", help="benchmarks that write JSON")
    bench.add_argument("kind", choices=["systolic", "sparse", "fuse"])
    bench.add_argument("--sizes", type=_int_list, nargs="+",
                       help="square array sizes, as 32 64 or 32,64 (default: systolic 2 4 8 "
                            "16, fuse 32 64 128 256)")
    bench.add_argument("--networks", type=_name_list, nargs="+",
                       help="fuse: networks (default all)")
    bench.add_argument("--variants", type=_name_list, nargs="+",
                       help="fuse: baseline, full, half, full50, half50 (default all; the "
                            "baseline is always measured)")
    bench.add_argument("--no-scalesim", action="store_true",
                       help="fuse: skip the SCALE-Sim cross-check")
    bench.add_argument("--large", type=int, nargs="*", default=[32, 64],
                       help="sizes for generation and build time only (default 32 64)")
    bench.add_argument("--quick", action="store_true", help="skip the Verilator builds")
    bench.add_argument("-o", "--output", type=Path, default=Path("benchmarks/results"))
    bench.set_defaults(run=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .toolchain import ToolError

    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, ConfigError) as error:
        print(f"accelgen: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ToolError as error:
        print(f"accelgen: tool failed: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
