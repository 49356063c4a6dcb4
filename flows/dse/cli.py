"""``accelgen dse``: explore, and ``accelgen dse export TRIAL``: hand one design point over.

Every error a user can cause (an unknown objective, a bad constraint or space file, an
unreachable storage or scheduler) prints one line and exits with status 2 before the study
starts; a tool failing on one trial only marks that trial failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from accelgen.generators.systolic import ConfigError

from ..toolchain import ToolError
from .names import SAMPLERS, DseError

__all__ = ["add_dse_bench", "add_dse_parser", "export_trial", "main"]

EXIT_USAGE = 2


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def add_dse_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``dse`` (and ``dse export``) to the ``accelgen`` subcommands."""
    dse = subparsers.add_parser(
        "dse", help="design-space exploration: Pareto front of latency, area, power, fmax",
        description="Explore array shapes, operand widths, dataflow, FuSe and N:M with Optuna; "
                    "score every point with the cycle and area models, confirm the Pareto "
                    "front with synthesis and place and route.")
    dse.add_argument("--workload", help="network (mobilenet_v2, ...) or SCALE-Sim topology .csv")
    dse.add_argument("--trials", type=int, default=50,
                     help="scored trials to reach, counting earlier runs of the study "
                          "(default 50)")
    dse.add_argument("--objectives", type=_names, default=["latency", "area"],
                     help="comma-separated: latency, area, power, energy, fmax "
                          "(default latency,area)")
    dse.add_argument("--constraint", action="append", default=[], metavar="METRIC<=X",
                     help="e.g. area<=200000 or fmax>=80; repeatable")
    dse.add_argument("--study", help="study name (default: the workload's name)")
    dse.add_argument("--storage", help="Optuna RDB URL (default sqlite:///OUT/dse.db); "
                                       "PostgreSQL to share a study between hosts")
    dse.add_argument("--scheduler", default="local",
                     help="Dask scheduler address (tcp://host:8786); local or local:N: a Dask "
                          "LocalCluster of N processes (default local: one per core, or "
                          "--jobs); threads: --jobs threads in this process")
    dse.add_argument("--sampler", choices=SAMPLERS, default="nsga2", help="default nsga2")
    dse.add_argument("--space", type=Path, help="search space TOML (default: built in)")
    dse.add_argument("--seed", type=int, default=0, help="sampler seed (default 0)")
    dse.add_argument("-o", "--output", type=Path, default=Path("out/dse"),
                     help="report, plots and the default SQLite study (default ./out/dse)")
    dse.add_argument("--confirm", type=int, default=3, metavar="K",
                     help="Pareto points to confirm with synthesis and place and route "
                          "(default 3; 0 skips)")
    dse.add_argument("--confirm-max-pes", type=int, default=256, metavar="N",
                     help="confirm only designs of at most N PEs (default 256: flat synthesis "
                          "of larger arrays takes hours); 0: no limit")
    dse.add_argument("--confirm-timeout", type=float, default=3600.0, metavar="S",
                     help="nextpnr time limit per confirmed design (default 3600 s)")
    dse.add_argument("--jobs", type=int, help="trials scored at once (default: the cluster's "
                                              "threads; 1 with --scheduler threads)")
    dse.add_argument("--liberty", type=Path, help="Liberty file for areas (default: accelgen's "
                                                  "NAND2-equivalent library)")
    dse.add_argument("--target", choices=["ecp5", "ice40"], default="ecp5",
                     help="FPGA family for fmax (default ecp5)")
    dse.add_argument("--scorer", metavar="MODULE:FUNCTION",
                     help="your own model-fidelity scoring function instead of accelgen's "
                          "models (same signature as accelgen.flows.dse.evaluate.score_point)")
    dse.add_argument("--no-baselines", action="store_true",
                     help="do not score and plot the reference designs")
    dse.add_argument("--quiet", action="store_true", help="no progress bar")
    dse.set_defaults(run=_cmd_dse)
    actions = dse.add_subparsers(dest="dse_action", metavar="ACTION")
    export = actions.add_parser("export", help="write a trial's Verilog, JSON, FuseSoC core, "
                                               "file list, SDC and OpenLane config")
    export.add_argument("trial", type=int, help="trial number (see the report)")
    export.add_argument("-o", "--output", type=Path, required=True, dest="export_dir")
    export.add_argument("--study", dest="export_study", help="study name (default: the only "
                                                             "one in the storage)")
    export.add_argument("--storage", dest="export_storage",
                        help="Optuna RDB URL (default sqlite:///RUN_DIR/dse.db)")
    export.add_argument("--run-dir", type=Path, default=Path("out/dse"),
                        help="the run's -o directory (default ./out/dse)")
    export.set_defaults(run=_cmd_export)
    return dse


def add_dse_bench(bench_kinds: Any) -> argparse.ArgumentParser:
    """Add ``dse`` to ``accelgen bench`` (see :mod:`.bench`)."""
    bench = bench_kinds.add_parser(
        "dse", help="DSE: trials per minute (model and real synthesis), Dask 1 vs 2 workers, "
                    "hypervolume against trials for NSGA-II, TPE and random")
    bench.add_argument("-o", "--output", type=Path, default=Path("benchmarks/results"),
                       help="directory for dse.json and dse_hypervolume.png "
                            "(default benchmarks/results)")
    bench.add_argument("--workload", default="mobilenet_v2",
                       help="network or SCALE-Sim .csv (default mobilenet_v2)")
    bench.add_argument("--trials", type=int, default=100,
                       help="model-fidelity trials per sampler and seed (default 100)")
    bench.add_argument("--seeds", type=int, default=3, help="seeds per sampler (default 3)")
    bench.add_argument("--samplers", type=_names, default=list(SAMPLERS),
                       help="comma-separated (default nsga2,tpe,random)")
    bench.add_argument("--synthesis-trials", type=int, default=6, metavar="N",
                       help="trials scored with real synthesis and place and route, on 1 and "
                            "on 2 Dask workers (default 6; 0 skips)")
    bench.set_defaults(run=_cmd_bench)
    return bench


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_dse_benchmark

    try:
        if args.trials < 1 or args.seeds < 1 or args.synthesis_trials < 0:
            raise DseError("--trials and --seeds must be >= 1, --synthesis-trials >= 0")
        unknown = [name for name in args.samplers if name not in SAMPLERS]
        if unknown or not args.samplers:
            raise DseError(f"--samplers: must name some of {', '.join(SAMPLERS)}, got "
                           f"{','.join(args.samplers)}")
        path = run_dse_benchmark(args.output, workload=args.workload, trials=args.trials,
                                 seeds=range(args.seeds), samplers=args.samplers,
                                 synthesis_trials=args.synthesis_trials)
    except (ConfigError, ToolError) as error:
        print(f"accelgen: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(path)
    return 0


@contextlib.contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[int, int, dict[str, Any]], None] | None]:
    """A rich progress bar with ETA on a terminal; otherwise a line per tenth of the run, per
    failure, and at least once a minute."""
    if quiet:
        yield None
        return
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns = (TextColumn("dse"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.description}"))
        with Progress(*columns, console=Console(stderr=True)) as bar:
            task = bar.add_task("", total=None)

            def update(done: int, total: int, info: dict[str, Any]) -> None:
                note = info.get("name") or ""
                if info.get("error"):
                    note += f" failed: {info['error'][:60]}"
                bar.update(task, completed=done, total=total, description=note)

            yield update
        return
    start = time.monotonic()
    shown = [-1, start]  # last tenth printed, when

    def line(done: int, total: int, info: dict[str, Any]) -> None:
        tenth = done * 10 // max(total, 1)
        now = time.monotonic()
        if tenth != shown[0] or info.get("error") or now - shown[1] > 60:
            shown[:] = [tenth, now]
            elapsed = now - start
            note = f" ({info['name']} failed: {info['error']})" if info.get("error") else ""
            print(f"dse: {done}/{total} trials, {elapsed:.0f} s{note}", file=sys.stderr,
                  flush=True)

    yield line


def _cmd_dse(args: argparse.Namespace) -> int:
    import optuna

    from .run import BASELINES, run_dse

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own progress instead
    try:
        if not args.workload:
            raise DseError("--workload: required (a network name or a SCALE-Sim .csv file)")
        if args.liberty is not None and not args.liberty.is_file():
            raise DseError(f"--liberty: {args.liberty} does not exist")
        if args.confirm < 0:
            raise DseError(f"--confirm: must be >= 0, got {args.confirm}")
        if args.jobs is not None and args.jobs < 1:
            raise DseError(f"--jobs: must be >= 1, got {args.jobs}")
        with _progress(args.quiet) as progress:
            result = run_dse(args.workload, args.trials, args.objectives, args.constraint,
                             study_name=args.study, storage=args.storage,
                             scheduler=args.scheduler, sampler=args.sampler, space=args.space,
                             seed=args.seed, out_dir=args.output, confirm=args.confirm,
                             jobs=args.jobs, liberty=args.liberty, target=args.target,
                             confirm_timeout_s=args.confirm_timeout,
                             confirm_max_pes=args.confirm_max_pes or None,
                             baselines=() if args.no_baselines else BASELINES,
                             progress=progress, scorer=args.scorer)
    except (ConfigError, ToolError) as error:
        print(f"accelgen: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    report = result.report
    counts = report["counts"]
    print(f"dse {report['study']}: {counts['complete']} scored, {counts['rejected']} rejected, "
          f"{counts['failed']} failed; Pareto front of {len(report['pareto'])}; "
          f"report {result.paths['report']}")
    for path in result.paths.values():
        if path.suffix == ".png":
            print(f"  plot {path}")
    return 0


def export_trial(trial_number: int, out_dir: Path, *, study_name: str | None = None,
                 storage: str | None = None, run_dir: Path = Path("out/dse")) -> list[Path]:
    """Write trial ``trial_number``'s design and its hand-off files (see
    :func:`accelgen.flows.exports.export_design`) to ``out_dir``; returns the files."""
    import optuna

    from accelgen.generators.emit import generate_systolic, write_design
    from accelgen.generators.sparsecache.cache_config import SparseCacheConfig
    from accelgen.generators.sparsecache.top import generate_sparsecache
    from accelgen.generators.systolic import SystolicConfig

    from ..exports import DEFAULT_PERIOD_NS, export_design
    from .engine import default_storage, open_storage

    url = storage or default_storage(run_dir)
    if storage is None and not (run_dir / "dse.db").is_file():
        raise DseError(f"--run-dir: no study database {run_dir / 'dse.db'}; give --storage")
    rdb = open_storage(url)
    studies = [s.study_name for s in optuna.get_all_study_summaries(rdb)]
    if study_name is None:
        if len(studies) != 1:
            raise DseError(f"--study: the storage holds {len(studies)} studies "
                           f"({', '.join(studies)}); name one")
        study_name = studies[0]
    if study_name not in studies:
        raise DseError(f"--study: no study {study_name!r} (known: {', '.join(studies)})")
    study = optuna.load_study(study_name=study_name, storage=rdb)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    trial = trials.get(trial_number)
    if trial is None:
        raise DseError(f"trial: study {study_name} has no trial {trial_number}")
    if trial.state is not optuna.trial.TrialState.COMPLETE or "config" not in trial.user_attrs:
        reason = trial.user_attrs.get("rejected") or trial.user_attrs.get("error") or ""
        raise DseError(f"trial: {trial_number} is {trial.state.name.lower()}, not a scored "
                       f"design{': ' + reason if reason else ''}")
    config = trial.user_attrs["config"]
    cfg = SystolicConfig(**config["systolic"])
    confirmed = study.user_attrs.get(f"confirmed:{trial.user_attrs['hash']}") or {}
    fmax = (confirmed.get("figures", {}).get("fmax_mhz")
            or trial.user_attrs.get("figures", {}).get("fmax_mhz"))
    period = round(1000.0 / fmax, 3) if fmax else DEFAULT_PERIOD_NS
    identity = study.user_attrs.get("identity", {})
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DseError(f"-o: cannot create {out_dir}: {error.strerror}") from None
    v_path, _ = write_design(generate_systolic(cfg), out_dir)
    exported = export_design(v_path, out_dir, period_ns=period,
                             arch=identity.get("target", "ecp5")).files()
    if "sparsecache" in config:
        cache_dir = out_dir / "sparsecache"
        c_path, _ = write_design(generate_sparsecache(SparseCacheConfig(**config["sparsecache"])),
                                 cache_dir)
        exported += export_design(c_path, cache_dir, period_ns=period).files()
    point = out_dir / "dse_point.json"
    point.write_text(json.dumps({
        "study": study_name, "trial": trial_number, "point": trial.user_attrs.get("point"),
        "config": config, "figures": trial.user_attrs.get("figures"),
        "fidelity": trial.user_attrs.get("fidelity"), "confirmed": confirmed or None,
        "sdc_period_ns": period}, indent=1) + "\n")
    return [*exported, point]


def _cmd_export(args: argparse.Namespace) -> int:
    try:
        files = export_trial(args.trial, args.export_dir, study_name=args.export_study,
                             storage=args.export_storage, run_dir=args.run_dir)
    except (ConfigError, ToolError, ValueError) as error:
        print(f"accelgen: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    for path in files:
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m accelgen.flows.dse dse ...`` (or ``bench dse ...``): the same commands as
    ``accelgen``'s."""
    parser = argparse.ArgumentParser(prog="accelgen")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_dse_parser(commands)
    bench = commands.add_parser("bench", help="benchmarks")
    add_dse_bench(bench.add_subparsers(dest="kind", required=True, metavar="KIND"))
    args = parser.parse_args(argv)
    return args.run(args)
