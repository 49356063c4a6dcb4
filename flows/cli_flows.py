"""``accelgen pnr``, ``area``, ``power`` and ``export`` (the FPGA/ASIC flows on a Verilog file), and
``bench pnr`` and ``bench area-model``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .cli_common import (
    UsageError,
    add_bench,
    add_systolic_options,
    existing_file,
    flat,
    int_list,
    name_list,
    report_and_workdir,
    systolic_config,
    systolic_given,
    top_from_description,
    writable_dir,
)

__all__ = ["add_flow_benches", "add_flow_commands"]


def _cmd_pnr(args: argparse.Namespace) -> int:
    from .json_report import write_json_report
    from .pnr import place_and_route

    verilog = existing_file(args.file)
    if args.freq is not None and not args.freq > 0:
        raise UsageError(f"--freq: must be > 0 MHz, got {args.freq}")
    report_path, workdir = report_and_workdir(args, verilog, f"pnr-{args.target}")
    dsp = {"auto": None, "on": True, "off": False}[args.dsp]
    try:
        report = place_and_route(verilog, args.target, workdir, top=args.top, clock=args.clock,
                                 frequency_mhz=args.freq, dsp=dsp, seed=args.seed,
                                 timeout_s=args.timeout, device=args.device)
    except ValueError as error:
        raise UsageError(str(error)) from None
    write_json_report(report_path, report)
    path = report["critical_path"] or {}
    logic = report["utilization"].get("TRELLIS_COMB") or report["utilization"].get("ICESTORM_LC")
    print(f"{report['device']['name']}: Fmax {report['fmax_mhz']} MHz (target "
          f"{report['target_mhz']:g}); critical path {path.get('start')} -> {path.get('end')} "
          f"({path.get('delay_ns')} ns); logic {logic['used']}/{logic['available']}; "
          f"report: {report_path}")
    return 0


def _cmd_area(args: argparse.Namespace) -> int:
    from .asic_area import asic_area
    from .json_report import write_json_report

    verilog = existing_file(args.file)
    if args.liberty is not None:
        existing_file(args.liberty)
    top = args.top or top_from_description(verilog)
    report_path, workdir = report_and_workdir(args, verilog, "area")
    report = asic_area(verilog, top, workdir, liberty=args.liberty,
                       flatten=not args.hierarchy)
    write_json_report(report_path, report)
    ge = report["gate_equivalents"]
    print(f"{top}: area {report['area']:,.1f} ({Path(report['liberty']).name})"
          + (f" = {ge:,.1f} GE" if ge is not None else ", no NAND2 in the library")
          + f"; {report['cells_total']:,} cells, {report['flip_flops']:,} flip-flops; "
          f"report: {report_path}")
    return 0


def _cmd_power(args: argparse.Namespace) -> int:
    from .json_report import write_json_report
    from .power import gemm_power, power_proxy

    if args.liberty is not None:
        existing_file(args.liberty)
    if args.file is not None:
        if systolic_given(args):
            raise UsageError("FILE: give a Verilog file or systolic parameters, not both")
        if args.vcd is None:
            raise UsageError("--vcd: required with FILE (or give systolic parameters instead "
                             "to simulate a GEMM)")
        verilog = existing_file(args.file)
        vcd = existing_file(args.vcd)
        top = args.top or top_from_description(verilog)
        report_path, workdir = report_and_workdir(args, verilog, "power")
        from .asic_area import asic_area

        area = asic_area(verilog, top, workdir, liberty=args.liberty, netlist=True)
        scope = tuple(args.scope.split(".")) if args.scope else None
        try:
            report = power_proxy(vcd, workdir / "netlist.json", top, clock=args.clock,
                                 scope=scope)
        except ValueError as error:
            raise UsageError(str(error)) from None
        report = {"module": top, "vcd": str(vcd), "area": area["area"], **report}
    else:
        if args.vcd is not None:
            raise UsageError("--vcd: only with FILE")
        cfg = systolic_config(args)
        gemm = args.gemm or [None, None, None]
        if any(value is not None and value < 1 for value in gemm):
            raise UsageError(f"--gemm: M, K and N must be >= 1, got {args.gemm}")
        report_path = args.output or Path("out") / f"{cfg.name}.power.json"
        writable_dir(report_path.parent)
        workdir = writable_dir(report_path.parent / f".{report_path.stem}")
        report = gemm_power(cfg, workdir, m=gemm[0], k=gemm[1], n=gemm[2], seed=args.seed,
                            liberty=args.liberty)
    write_json_report(report_path, report)
    print(f"{report['module']}: {report['weighted_toggles_per_cycle']:,} weighted toggles per "
          f"cycle over {report['cycles']:,} cycles ({report['matched_load_fraction']:.0%} of "
          f"cell inputs on named nets); report: {report_path}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .exports import export_design

    if args.file is not None and systolic_given(args):
        raise UsageError("FILE: give a Verilog file or systolic parameters, not both")
    if args.period is not None and not args.period > 0:
        raise UsageError(f"--period: must be > 0 ns, got {args.period}")
    out_dir = writable_dir(args.output)
    if args.file is not None:
        verilog = existing_file(args.file)
    else:
        from accelgen.generators.emit import generate_systolic, write_design

        if not systolic_given(args):
            raise UsageError("FILE: give a Verilog file or systolic parameters (--rows ...)")
        verilog, _ = write_design(generate_systolic(systolic_config(args)), out_dir)
    options: dict[str, Any] = {"top": args.top, "clock": args.clock, "arch": args.arch}
    if args.period is not None:
        options["period_ns"] = args.period
    try:
        exported = export_design(verilog, out_dir, **options)
    except ValueError as error:
        raise UsageError(str(error)) from None
    print(f"exported {exported.core_name} to {out_dir}: "
          + ", ".join(path.name for path in exported.files()))
    return 0


def add_flow_commands(commands: Any) -> None:
    """``pnr``, ``area``, ``power`` and ``export``."""
    pnr = commands.add_parser("pnr", help="place and route in a timing harness (nextpnr)")
    pnr.add_argument("file", type=Path)
    pnr.add_argument("--multiplier-stages", type=int_list, nargs="+",
                     help="register stages around each PE multiplier, as 0 1 2 or 0,2 "
                          "(default: bench_pnr.RUNS, or 2 with --sizes)")
    pnr.add_argument("--operand-width", type=int, default=8,
                     help="operand bits of the arrays given by --sizes (default 8)")
    pnr.add_argument("--target", choices=["ecp5", "ice40"], default="ecp5")
    pnr.add_argument("--top", help="top module (default: the file's marked top module)")
    pnr.add_argument("--clock", help="clock input (default: clk, clock, ...)")
    pnr.add_argument("--freq", type=float,
                     help="target frequency in MHz (default: ecp5 100, ice40 50)")
    pnr.add_argument("--dsp", choices=["auto", "on", "off"], default="auto",
                     help="ECP5 multipliers in DSP blocks (auto: when the largest device has "
                          "enough)")
    pnr.add_argument("--device", help="device name such as LFE5U-85F (default: the smallest "
                                      "of the target that fits)")
    pnr.add_argument("--seed", type=int, default=1, help="nextpnr seed (default 1)")
    pnr.add_argument("--timeout", type=float, help="seconds nextpnr may take")
    pnr.add_argument("-o", "--output", type=Path,
                     help="report path (default: FILE.pnr-TARGET.json)")
    pnr.set_defaults(run=_cmd_pnr)

    area = commands.add_parser("area", help="ASIC-style area in gate equivalents")
    area.add_argument("file", type=Path)
    area.add_argument("--top", help="top module (default: from the design's JSON)")
    area.add_argument("--liberty", type=Path,
                      help="a Liberty file to map to (default: accelgen's NAND2-equivalent "
                           "library)")
    area.add_argument("--hierarchy", action="store_true",
                      help="keep the hierarchy and report each module's area")
    area.add_argument("-o", "--output", type=Path, help="report path (default: FILE.area.json)")
    area.set_defaults(run=_cmd_area)

    power = commands.add_parser(
        "power", help="switching-activity power proxy from a VCD, or from a simulated GEMM")
    power.add_argument("file", type=Path, nargs="?", help="Verilog of the design that made --vcd")
    power.add_argument("--vcd", type=Path, help="VCD of a simulation of FILE")
    power.add_argument("--top", help="top module (default: from the design's JSON)")
    power.add_argument("--clock", default="clk", help="clock net (default clk)")
    power.add_argument("--scope", help="VCD scope of the top instance, dot-separated "
                                       "(default: the scope named like the top module)")
    power.add_argument("--gemm", type=int, nargs=3, metavar=("M", "K", "N"),
                       help="without FILE: the GEMM to simulate (default 2*rows, 4*rows, 2*cols)")
    power.add_argument("--seed", type=int, default=1, help="operand seed (default 1)")
    power.add_argument("--liberty", type=Path, help="Liberty file for the netlist loads")
    add_systolic_options(power)
    power.add_argument("-o", "--output", type=Path, help="report path")
    power.set_defaults(run=_cmd_power)

    export = commands.add_parser(
        "export", help="FuseSoC core, file list, SDC and OpenLane 2 config for a design")
    export.add_argument("file", type=Path, nargs="?",
                        help="Verilog to export (or give systolic parameters to generate one)")
    export.add_argument("--top", help="top module (default: the file's marked top module)")
    export.add_argument("--clock", help="clock input (default: clk, clock, ...)")
    export.add_argument("--period", type=float, help="clock period in ns (default 10)")
    export.add_argument("--arch", choices=["ecp5", "ice40"], default="ecp5",
                        help="FPGA family of the core's synth target (default ecp5)")
    add_systolic_options(export)
    export.add_argument("-o", "--output", type=Path, default=Path("out/export"),
                        help="output directory (default ./out/export)")
    export.set_defaults(run=_cmd_export)


def _cmd_bench_pnr(args: argparse.Namespace) -> int:
    from .bench_pnr import MULTIPLIERS, RUNS, Run, run_pnr_benchmark

    sizes = flat(args.sizes)
    kinds = flat(args.multipliers)
    if sizes is not None and any(size < 1 for size in sizes):
        raise UsageError(f"--sizes: must be >= 1, got {sizes}")
    unknown = [kind for kind in kinds or [] if kind not in MULTIPLIERS]
    if unknown:
        raise UsageError(f"--multipliers: must be dsp or lut, got {unknown[0]!r}")
    stages = flat(args.multiplier_stages)
    if stages is not None and any(count not in (0, 1, 2) for count in stages):
        raise UsageError(f"--multiplier-stages: must be 0, 1 or 2, got {stages}")
    if args.operand_width < 1:
        raise UsageError(f"--operand-width: must be >= 1, got {args.operand_width}")
    if sizes is None:
        runs = [run for run in RUNS if (kinds is None or run.multipliers in kinds)
                and (stages is None or run.stages in stages)]
    else:
        runs = [Run(size, kind, count, args.operand_width) for size in sizes
                for kind in kinds or list(MULTIPLIERS) for count in stages or [2]]
    path = run_pnr_benchmark(writable_dir(args.output), runs, target=args.target,
                             seed=args.seed, remeasure=args.fresh)
    print(path)
    return 0


def _cmd_bench_area_model(args: argparse.Namespace) -> int:
    from .bench_area_model import POINTS, run_area_model_benchmark

    names = flat(args.points)
    unknown = [name for name in names or [] if name not in POINTS]
    if unknown:
        raise UsageError(f"--points: unknown point {unknown[0]!r}; known: {', '.join(POINTS)}")
    points = POINTS if names is None else {name: POINTS[name] for name in names}
    cache = None
    if args.cache is not None:
        from .toolchain import cache_root

        cache = cache_root() / "area" if args.cache == "user" else writable_dir(Path(args.cache))
    path = run_area_model_benchmark(writable_dir(args.output), points, cache_dir=cache,
                                    tcam=not args.no_tcam)
    print(path)
    return 0


def add_flow_benches(bench_kinds: Any) -> None:
    """``bench pnr`` and ``bench area-model``."""
    pnr = add_bench(bench_kinds, "pnr",
                     "Fmax of square OS arrays as they grow (nextpnr, timing harness)",
                     _cmd_bench_pnr)
    pnr.add_argument("--sizes", type=int_list, nargs="+",
                     help="square sizes, as 4 8 or 4,8, each with every --multipliers "
                          "(default: bench_pnr.RUNS)")
    pnr.add_argument("--multipliers", type=name_list, nargs="+",
                     help="dsp, lut (default: DSPs where they fit, LUTs where those fit)")
    pnr.add_argument("--multiplier-stages", type=int_list, nargs="+",
                     help="register stages around each PE multiplier, as 0 1 2 or 0,2 "
                          "(default: bench_pnr.RUNS, or 2 with --sizes)")
    pnr.add_argument("--operand-width", type=int, default=8,
                     help="operand bits of the arrays given by --sizes (default 8)")
    pnr.add_argument("--target", choices=["ecp5", "ice40"], default="ecp5")
    pnr.add_argument("--seed", type=int, default=1, help="nextpnr seed (default 1)")
    pnr.add_argument("--fresh", action="store_true",
                     help="measure the runs again, replacing their records in pnr.json "
                          "(other records are kept)")

    model = add_bench(bench_kinds, "area-model",
                     "calibrated area model against flat synthesis (Yosys)",
                     _cmd_bench_area_model)
    model.add_argument("--points", type=name_list, nargs="+",
                       help="validation points by label (default all)")
    model.add_argument("--cache", metavar="DIR|user",
                       help="block cache to start from ('user': the accelgen cache; default a "
                            "fresh one, so calibration times are real)")
    model.add_argument("--no-tcam", action="store_true", help="skip the TCAM points")
