"""The flow benchmarks' bookkeeping, with the tool runs replaced by stand-ins."""

from __future__ import annotations

import json

import pytest

from accelgen.flows import bench_pnr
from accelgen.flows.bench_pnr import Run


def test_pnr_benchmark_keeps_finished_runs_and_adds_new_ones(tmp_path, monkeypatch):
    measured = []

    def fake(run, work, target, seed):
        measured.append(run)
        return {"size": run.size, "multipliers": run.multipliers, "multiplier_stages": run.stages,
                "fmax_mhz": 100.0 - run.size, "measurement": len(measured)}

    monkeypatch.setattr(bench_pnr, "_measure", fake)
    monkeypatch.setattr(bench_pnr, "machine_context", lambda: {"cpu_count": 1})
    path = bench_pnr.run_pnr_benchmark(tmp_path, [Run(4, "dsp", 2), Run(4, "lut", 2)])
    assert measured == [Run(4, "dsp", 2), Run(4, "lut", 2)]
    bench_pnr.run_pnr_benchmark(tmp_path, [Run(4, "dsp", 2), Run(8, "dsp", 2), Run(4, "dsp", 0)])
    assert measured[2:] == [Run(8, "dsp", 2), Run(4, "dsp", 0)]
    records = json.loads(path.read_text())["records"]
    assert [bench_pnr._key(r) for r in records] == [
        Run(4, "dsp", 0), Run(4, "dsp", 2), Run(8, "dsp", 2), Run(4, "lut", 2)]
    assert all("date" in r for r in records)
    bench_pnr.run_pnr_benchmark(tmp_path, [Run(4, "dsp", 2)], remeasure=True)
    assert measured[4:] == [Run(4, "dsp", 2)]
    again = json.loads(path.read_text())["records"]
    assert sorted(bench_pnr._key(r) for r in again) == sorted(bench_pnr._key(r) for r in records)
    assert {bench_pnr._key(r): r["measurement"] for r in again} == {
        **{bench_pnr._key(r): r["measurement"] for r in records}, Run(4, "dsp", 2): 5}


def test_pnr_runs_from_the_module_command_line():
    assert [bench_pnr._run(text) for text in ("16:lut:2:4", "8:dsp:2", "4:lut", "4:dsp:1:8")] == [
        Run(16, "lut", 2, 4), Run(8, "dsp", 2), Run(4, "lut", 0), Run(4, "dsp", 1)]


def test_pnr_benchmark_rejects_unknown_mappings(tmp_path):
    with pytest.raises(ValueError, match="dsp or lut"):
        bench_pnr.run_pnr_benchmark(tmp_path, [Run(4, "bram", 0)])


def _bench_parser():
    """``bench`` as :func:`accelgen.flows.cli.main` builds it, with only the flow benchmarks."""
    import argparse

    from accelgen.flows.cli_flows import add_flow_benches

    parser = argparse.ArgumentParser()
    kinds = parser.add_subparsers(dest="kind", required=True)
    add_flow_benches(kinds)
    return parser


def test_bench_pnr_arguments_select_runs(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(bench_pnr, "run_pnr_benchmark",
                        lambda out, runs, **options: calls.append((runs, options)) or out)
    parser = _bench_parser()
    args = parser.parse_args(["pnr", "--sizes", "4,8", "--multipliers", "lut", "--fresh",
                              "-o", str(tmp_path)])
    assert args.run(args) == 0
    assert calls[-1] == ([Run(4, "lut", 2), Run(8, "lut", 2)],
                         {"target": "ecp5", "seed": 1, "remeasure": True})
    args = parser.parse_args(["pnr", "--sizes", "4", "--multipliers", "dsp",
                              "--multiplier-stages", "2,0", "-o", str(tmp_path)])
    args.run(args)
    assert calls[-1][0] == [Run(4, "dsp", 2), Run(4, "dsp", 0)]
    args = parser.parse_args(["pnr", "--multipliers", "dsp", "-o", str(tmp_path)])
    args.run(args)
    assert calls[-1][0] == [run for run in bench_pnr.RUNS if run.multipliers == "dsp"]
    args = parser.parse_args(["pnr", "--sizes", "16", "--multipliers", "lut",
                              "--operand-width", "4", "-o", str(tmp_path)])
    args.run(args)
    assert calls[-1][0] == [Run(16, "lut", 2, 4)]
    args = parser.parse_args(["pnr", "--multiplier-stages", "0", "-o", str(tmp_path)])
    args.run(args)
    assert calls[-1][0] == [run for run in bench_pnr.RUNS if run.stages == 0]


def test_bench_flow_usage_errors(tmp_path):
    from accelgen.flows.cli_common import UsageError

    parser = _bench_parser()
    for argv, message in [(["pnr", "--multipliers", "bram"], "dsp or lut"),
                          (["pnr", "--sizes", "0"], ">= 1"),
                          (["pnr", "--multiplier-stages", "3"], "0, 1 or 2"),
                          (["area-model", "--points", "nope"], "unknown point 'nope'")]:
        args = parser.parse_args([*argv, "-o", str(tmp_path)])
        with pytest.raises(UsageError, match=message):
            args.run(args)


def test_area_model_benchmark_report(tmp_path, monkeypatch):
    from accelgen.flows import bench_area_model
    from accelgen.generators.systolic import SystolicConfig

    def fake_point(label, cfg, model, work):
        return {"label": label, "error_pct": {"a": 1.5, "b": -0.5}[label]}

    monkeypatch.setattr(bench_area_model, "_point", fake_point)
    monkeypatch.setattr(bench_area_model, "_speed", lambda model, configs: {"estimates": 2})
    monkeypatch.setattr(bench_area_model, "machine_context", lambda: {"cpu_count": 1})
    points = {"a": SystolicConfig(rows=2, cols=2), "b": SystolicConfig(rows=2, cols=3)}
    path = bench_area_model.run_area_model_benchmark(tmp_path, points,
                                                     cache_dir=tmp_path / "cache", tcam=False)
    report = json.loads(path.read_text())
    assert report["max_abs_error_pct"] == 1.5 and report["mean_abs_error_pct"] == 1.0
    assert [p["label"] for p in report["points"]] == ["a", "b"] and report["tcam"] == []
