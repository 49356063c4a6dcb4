"""Fast checks of ``accelgen bench fuse``: request checks, report shape, CLI errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from accelgen.flows import bench_fuse
from accelgen.flows.bench_fuse import (
    check_request,
    run_fuse_benchmark,
    scalesim_cross_check,
    scalesim_layers,
)
from accelgen.flows.cli import main
from accelgen.flows.scalesim import SCALESIM_PYTHON, Gemm
from accelgen.sim.networks import depthwise_layers, network

NET = "mobilenet_v3_small"
TINY = [Gemm("tiny", 6, 3, 5), Gemm("one_channel", 9, 9, 1)]


def test_check_request_normalizes() -> None:
    sizes, networks, variants = check_request([64, 32, 64], None, ["half", "full"])
    assert sizes == [32, 64]
    assert networks == ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small",
                        "mobilenet_v3_large", "mnasnet_b1"]
    assert variants == ["baseline", "full", "half"]  # baseline always, in table order


@pytest.mark.parametrize(("args", "message"), [
    (([], None, None), "--sizes: give at least one"),
    (([0], None, None), "--sizes: each size must be an integer from 1 to 256, got 0"),
    (([512], None, None), "got 512"),
    ((["32"], None, None), "got '32'"),
    (([32], ["resnet50"], None), "--networks: unknown network 'resnet50'"),
    (([32], [], None), "--networks: give at least one"),
    (([32], None, ["full", "quarter"]), "--variants: unknown variant 'quarter'"),
])
def test_check_request_rejects(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        check_request(*args)


def test_report_structure(tmp_path: Path) -> None:
    path = run_fuse_benchmark(tmp_path, sizes=[32, 64], networks=[NET], scalesim=False)
    report = json.loads(path.read_text())
    assert report["benchmark"] == "fuse" and report["sizes"] == [32, 64]
    assert (tmp_path / "fuse_speedup_64.png").stat().st_size > 0
    assert (tmp_path / "fuse_speedup_vs_size.png").stat().st_size > 0
    assert not list(tmp_path.glob(".fuse-bench-*"))
    assert report["scalesim"] == {"status": "skipped", "reason": "not requested (--no-scalesim)"}
    results = report["results"]
    assert [(r["size"], r["variant"]) for r in results] == [
        (size, v) for size in (32, 64) for v in ("baseline", "full", "half", "full50", "half50")]
    depthwise = len(depthwise_layers(network(NET)))
    replaced = {"baseline": 0, "full": depthwise, "half": depthwise,
                "full50": depthwise // 2, "half50": depthwise // 2}
    for record in results:
        assert record["cycles"] == sum(record["cycles_by_group"].values())
        if record["size"] == 64:
            assert record["cycles"] == sum(layer["cycles"] for layer in record["layers"])
        else:
            assert "layers" not in record
        assert record["macs"] == sum(record["macs_by_group"].values())
        assert 0 < record["utilization"] < 1
        assert record["replaced_depthwise"] == replaced[record["variant"]]
        if record["variant"] == "baseline":
            assert record["speedup"] == 1
        else:
            assert record["speedup"] > 1
    selection = report["selection"][NET]
    assert selection["reference_size"] == 64
    assert len(selection["full50"]) == len(selection["half50"]) == depthwise // 2 == 5
    assert selection["depthwise_layers"] == depthwise
    comparison = report["paper"]["ours_at_64x64"]
    assert [row["network"] for row in comparison] == [NET]
    assert set(comparison[0]["ours"]) == {"full", "half", "full50", "half50"}
    assert report["paper"]["headline"]["speedup"] == 7.23


def test_failure_writes_no_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("plot exploded")

    monkeypatch.setattr(bench_fuse, "plot_speedup_vs_size", broken)
    with pytest.raises(RuntimeError, match="plot exploded"):
        run_fuse_benchmark(tmp_path, sizes=[16], networks=[NET], variants=["full"],
                           scalesim=False)
    assert not (tmp_path / "fuse.json").exists()
    assert not list(tmp_path.glob("*fuse_speedup_vs_size*"))


def test_scalesim_failure_is_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SCALESIM_PYTHON, str(tmp_path / "no-such-python"))
    result = scalesim_cross_check([4], tmp_path, TINY)
    assert result["status"] == "skipped"
    assert "no-such-python" in result["reason"]
    assert [g["name"] for g in result["layers"]] == ["tiny", "one_channel"]


def test_scalesim_layers() -> None:
    gemms = {g.name: g for g in scalesim_layers()}
    assert gemms["stem"] == Gemm("stem", 112 * 112, 27, 32)
    assert gemms["head"] == Gemm("head", 49, 320, 1280)
    assert gemms["block2_dw (1 of 96 channels)"].n == 1


@pytest.mark.skipif(SCALESIM_PYTHON not in os.environ,
                    reason=f"{SCALESIM_PYTHON} names no interpreter with scalesim")
def test_scalesim_agrees_with_its_formula(tmp_path: Path) -> None:
    result = scalesim_cross_check([4], tmp_path, TINY)
    assert result["status"] == "ok", result.get("reason")
    for row in result["rows"]:
        assert row["scalesim_cycles"] == row["scalesim_formula"]


def test_cli_small_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "fuse", "--sizes", "16", "--networks", NET, "--variants", "full",
                 "--no-scalesim", "-o", str(tmp_path)]) == 0
    assert f"wrote {tmp_path / 'fuse.json'}" in capsys.readouterr().out
    report = json.loads((tmp_path / "fuse.json").read_text())
    assert [r["variant"] for r in report["results"]] == ["baseline", "full"]
    assert (tmp_path / "fuse_speedup_16.png").is_file()


@pytest.mark.parametrize(("argv", "message"), [
    (["--networks", "resnet50"], "--networks: unknown network 'resnet50'"),
    (["--variants", "full,quarter"], "--variants: unknown variant 'quarter'"),
    (["--sizes", "32,0"], "--sizes: each size must be an integer from 1 to 256, got 0"),
])
def test_cli_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                       message: str) -> None:
    out = tmp_path / "out"
    assert main(["bench", "fuse", *argv, "-o", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_cli_unparsable_size_and_misplaced_options(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "fuse", "--sizes", "32,big", "-o", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "expected integers such as 32,64, got '32,big'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "sparse", "--networks", NET, "-o", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --networks" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
