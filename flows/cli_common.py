"""What every ``accelgen`` subcommand shares: the usage error, output checks, systolic options.

Command families live in their own modules (``cli_flows``, ``cli_sparsecache``, ...) and register
their parsers from :func:`accelgen.flows.cli.main`'s parser; they raise :class:`UsageError` for
anything the user got wrong, which the entry point turns into one line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import tomllib
from pathlib import Path
from typing import Any

from accelgen.generators.systolic import SystolicConfig

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


# --- systolic parameters -----------------------------------------------------------------

SYSTOLIC_OPTIONS: list[tuple[str, dict[str, Any]]] = [
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
    ("--multiplier-stages", {"type": int, "choices": [0, 1, 2],
                             "help": "register stages around each PE's multiplier: 1 a product "
                                     "register, 2 operand registers too; each adds a cycle "
                                     "of latency and shortens the clock path (default 0; "
                                     "not with --fuse)"}),
]


def add_systolic_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("systolic-array parameters")
    group.add_argument("--config", type=Path,
                       help="TOML or JSON file of parameters (command-line options override it)")
    for flag, options in SYSTOLIC_OPTIONS:
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
    for flag, _ in SYSTOLIC_OPTIONS:
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


def writable_dir(path: Path) -> Path:
    """Create ``path`` if needed and prove we can write there, before any work is done."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"-o/--output: cannot create {path}: {error.strerror}") from None
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"-o/--output: {path} is not a writable directory")
    return path


def existing_file(path: Path) -> Path:
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    return path


def top_from_description(verilog: Path) -> str:
    """The module name from the design's JSON beside it, else the file name."""
    description = verilog.with_suffix(".json")
    if description.is_file():
        try:
            return json.loads(description.read_text())["module"]
        except (ValueError, KeyError):
            pass
    return verilog.stem


def int_list(text: str) -> list[int]:
    try:
        return [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers such as 32,64, got {text!r}") \
            from None


def name_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def flat(lists: list[list[Any]] | None) -> list[Any] | None:
    """One list from repeated comma lists (``--sizes 32,64 128``); ``None`` when not given."""
    return None if lists is None else [item for items in lists for item in items]


def systolic_given(args: argparse.Namespace) -> bool:
    keys = [flag[2:].replace("-", "_") for flag, _ in SYSTOLIC_OPTIONS]
    return (args.config is not None or args.signed is not None or args.fuse is not None
            or any(getattr(args, key) is not None for key in keys))


def report_and_workdir(args: argparse.Namespace, verilog: Path, suffix: str) -> tuple[Path, Path]:
    """The report file (``-o`` or ``FILE.<suffix>.json``) and a work directory beside it."""
    report = args.output or verilog.with_suffix(f".{suffix}.json")
    writable_dir(report.parent)
    return report, writable_dir(report.parent / f".{report.stem}")


def add_bench(bench_kinds: Any, name: str, help_text: str, run: Any) -> argparse.ArgumentParser:
    """One ``accelgen bench NAME`` subcommand with the ``-o`` every benchmark takes."""
    bench = bench_kinds.add_parser(name, help=help_text)
    bench.add_argument("-o", "--output", type=Path, default=Path("benchmarks/results"),
                       help="directory for the JSON and plots (default benchmarks/results)")
    bench.set_defaults(run=run)
    return bench
