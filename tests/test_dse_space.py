"""The DSE search space: loading, validation with messages naming the parameter, and points."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from accelgen.flows.dse.cli import main
from accelgen.flows.dse.space import (
    DEFAULT_SPACE,
    SearchSpace,
    SpaceError,
    canonical_point,
    point_configs,
    point_hash,
)
from accelgen.generators.systolic import ConfigError


def test_default_space_is_valid() -> None:
    space = SearchSpace.default()
    fixed = {"fuse_variant": "half", "input_width": 8, "weight_width": 8}
    assert set(space.distributions) == set(DEFAULT_SPACE) - set(fixed)
    assert space.fixed == fixed
    assert space.size == 4 * 4 * 2 * 2 * 3 * 3


def test_toml_with_ranges_and_fixed_values(tmp_path: Path) -> None:
    path = tmp_path / "space.toml"
    path.write_text('[space]\nrows = {low = 2, high = 8, step = 2}\ncols = [4, 8]\n'
                    'signed = false\npe = ["dense", "2:4"]\nnull_entries = [0, 16]\n')
    space = SearchSpace.from_toml(path)
    assert space.parameters["rows"].values == [2, 4, 6, 8]
    assert space.fixed == {"signed": False}
    assert space.has_cache
    point = space.point({"rows": 4, "cols": 8, "pe": "2:4", "null_entries": 16})
    assert point == {"rows": 4, "cols": 8, "signed": False, "pe": "2:4", "null_entries": 16}


@pytest.mark.parametrize(("spec", "message"), [
    ({"rows": [4], "cols": [4], "colour": ["red"]}, "colour: not a search-space parameter"),
    ({"rows": [], "cols": [4]}, "rows: empty list of choices"),
    ({"rows": {"low": 8, "high": 4}, "cols": [4]}, "rows: empty range, low 8 > high 4"),
    ({"rows": [0, 4], "cols": [4]}, "rows: must be between 1 and 256, got 0"),
    ({"rows": [4], "cols": [4], "pe": ["dense", "3:5"]}, "pe: M must be a power of two"),
    ({"rows": [4], "cols": [4], "dataflow": ["os", "systolic"]}, "dataflow: must be one of"),
    ({"rows": [4], "cols": [4], "input_width": {"low": 4, "high": 80}}, "input_width: must be"),
    ({"rows": [4], "cols": [4], "fuse_variant": ["third"]}, "fuse_variant: must be one of"),
    ({"rows": [4], "cols": [4], "null_entries": [-1]}, "null_entries: must be an integer >= 0"),
    ({"rows": [4], "cols": [4], "cache_word_format": ["int7"]}, "cache_word_format: must be"),
    ({"rows": [4, 4], "cols": [4]}, "rows: repeated choice"),
    ({"cols": [4]}, "rows: the space must give it"),
    ({"rows": {"low": 1, "high": 8, "step": 2, "log": True}, "cols": [4]}, "rows: a log range"),
])
def test_invalid_spaces_name_the_parameter(spec: dict, message: str) -> None:
    with pytest.raises(SpaceError, match=message.replace("(", r"\(")):
        SearchSpace(spec)


def test_bad_toml_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("rows = [4,\n")
    with pytest.raises(SpaceError, match="is not valid TOML"):
        SearchSpace.from_toml(broken)
    with pytest.raises(SpaceError, match="cannot read"):
        SearchSpace.from_toml(tmp_path / "missing.toml")
    mixed = tmp_path / "mixed.toml"
    mixed.write_text("rows = [4]\n[space]\ncols = [4]\n")
    with pytest.raises(SpaceError, match="rows: outside \\[space\\]"):
        SearchSpace.from_toml(mixed)


def test_impossible_combinations_are_rejected_per_point() -> None:
    """Combinations are not a space error: the point fails with the generator's message."""
    with pytest.raises(ConfigError, match="fuse: FuSe mode needs dataflow=os, got ws"):
        point_configs({"rows": 4, "cols": 4, "dataflow": "ws", "fuse": True})
    with pytest.raises(ConfigError, match="pe: N:M sparse PEs need dataflow=ws"):
        point_configs({"rows": 4, "cols": 4, "pe": "2:4"})
    with pytest.raises(ConfigError, match="fuse: FuSe mode needs rows <= cols"):
        point_configs({"rows": 8, "cols": 4, "fuse": True})
    with pytest.raises(ConfigError, match="l1_kib: 3 KiB is not a whole number"):
        point_configs({"rows": 4, "cols": 4, "null_entries": 8, "l1_kib": 3, "l1_ways": 4,
                       "line_bytes": 512})


def test_points_map_to_configurations_and_hashes() -> None:
    cfg, cache = point_configs({"rows": 4, "cols": 8, "dataflow": "ws", "pe": "2:4",
                                "null_entries": 16, "l1_kib": 8})
    assert (cfg.rows, cfg.cols, cfg.pe) == (4, 8, "2:4")
    assert cache is not None and cache.sets * cache.ways * cache.line_bytes == 8 * 1024
    assert cache.null_entries == 16
    plain, none = point_configs({"rows": 4, "cols": 8, "null_entries": 0, "l1_kib": 8})
    assert none is None
    # The FuSe variant matters only on a FuSe-capable array.
    a = canonical_point(plain, None, {"fuse_variant": "full"})
    b = canonical_point(plain, None, {"fuse_variant": "half"})
    assert point_hash(a, "w") == point_hash(b, "w") != point_hash(a, "other workload")
    fused, _ = point_configs({"rows": 4, "cols": 8, "fuse": True})
    assert point_hash(canonical_point(fused, None, {"fuse_variant": "full"})) != point_hash(
        canonical_point(fused, None, {"fuse_variant": "half"}))


def test_cli_rejects_a_bad_space_with_exit_2(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    space = tmp_path / "space.toml"
    space.write_text('rows = [4]\ncols = [4]\nwidth = [8]\n')
    code = main(["dse", "--workload", "mobilenet_v2", "--space", str(space), "-o",
                 str(tmp_path / "out"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("accelgen: error: width: not a search-space parameter")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--objectives", "latency,speed"], "--objectives: unknown objective 'speed'"),
    (["--objectives", "area,area"], "--objectives: repeated objective"),
    (["--constraint", "area<100"], "--constraint: 'area<100' must be METRIC<=NUMBER"),
    (["--constraint", "cost<=5"], "--constraint: unknown metric 'cost'"),
    (["--constraint", "fmax>=fast"], "is not a number"),
    (["--workload", "resnet"], "--workload: 'resnet' is neither a network"),
    (["--trials", "0"], "--trials: must be >= 1"),
    (["--scorer", "tests.dse_scorer:nothing"], "--scorer: tests.dse_scorer has no function"),
])
def test_cli_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                          message: str) -> None:
    base = ["dse", "--workload", "mobilenet_v2", "-o", str(tmp_path / "out"), "--quiet"]
    assert main(base + args) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["--trials", "0"], "--trials and --seeds must be >= 1"),
    (["--samplers", "nsga2,grid"], "--samplers: must name some of nsga2, tpe, random"),
])
def test_bench_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            args: list[str], message: str) -> None:
    assert main(["bench", "dse", "-o", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "dse.json").exists()


def test_the_command_line_does_not_import_optuna() -> None:
    """Every ``accelgen`` command imports the ``dse`` parser; Optuna costs half a second."""
    code = ("import sys, accelgen.flows.cli, accelgen.flows.dse.cli; "
            "heavy = [m for m in ('optuna', 'distributed', 'matplotlib', 'sqlalchemy') "
            "if m in sys.modules]; print(heavy); sys.exit(bool(heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_example_space_with_every_parameter_is_valid() -> None:
    path = Path(__file__).resolve().parents[1] / "flows" / "dse" / "full_space.toml"
    space = SearchSpace.from_toml(path)
    assert space.has_cache and {"input_width", "l1_kib", "max_kernel"} <= set(space.parameters)
    last = {name: p.values[-1] for name, p in space.parameters.items()}
    cfg, cache = point_configs(space.point({**last, "dataflow": "os", "pe": "dense",
                                            "multiplier_stages": 0}))
    assert cache is not None and cache.null_entries == 32 and cfg.rows == 32 and cfg.fuse
    assert "multiplier_stages" in space.parameters
