"""``accelgen trace``, ``accelgen trace-check`` and ``accelgen bench sparsecache`` from the
command line: a small trace is written and checked; every bad input is one line and exit
status 2, with nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelgen.flows.cli import main
from accelgen.sim.workloads.trace_format import TraceReader

SEED = 4


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("accelgen: error: ") and "\n" not in err, err
    return err


def test_trace_writes_a_checked_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "alexnet_conv1.trc"
    argv = ["trace", "alexnet", "-o", str(path), "--seed", str(SEED), "--layers", "conv1",
            "--budget", "8000", "--granularity", "coarse"]
    assert main(argv) == 0
    assert "wrote" in capsys.readouterr().out
    reader = TraceReader(path)
    assert reader.metadata["network"] == "alexnet" and reader.metadata["seed"] == SEED
    assert reader.metadata["granularity"] == "coarse"
    assert [op["name"] for op in reader.metadata["ops"]] == ["conv1", "conv1/relu"]
    assert main(["trace-check", str(path)]) == 0
    assert "valid trace of alexnet" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["trace", "resnet", "-o", "{tmp}/x.trc"], "unknown network 'resnet'"),
    (["trace", "lenet5", "-o", "{tmp}/x.trc", "--layers", "conv9"], "no layer 'conv9'"),
    (["trace", "lenet5", "-o", "{tmp}/x.trc", "--budget", "-5"], "sampling.budget"),
    (["trace-check", "{tmp}/missing.trc"], "cannot read it"),
    (["bench", "sparsecache", "-o", "{tmp}/out", "--networks", "mobilenet"],
     "unknown network 'mobilenet'"),
    (["bench", "sparsecache", "-o", "{tmp}/out", "--l1-kib", "24"], "not a power of two"),
    (["bench", "sparsecache", "-o", "{tmp}/out", "--null-bytes", "4"], "hold no 55-bit"),
    (["bench", "sparsecache", "-o", "{tmp}/out", "--thresholds", "-1"], "thresholds"),
    (["bench", "sparsecache", "-o", "{tmp}/out", "--networks", "lenet5", "--trace",
      "lenet5={tmp}/bad.trc"], "not a trace file"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          argv: list[str], message: str) -> None:
    (tmp_path / "bad.trc").write_bytes(b"NOTATRACE" * 10)
    err = _error(capsys, [a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.trc"]  # nothing written
