"""The calibrated area model: composition, interpolation and caching with synthetic blocks, then
real calibration against flat synthesis on the int8 family the DSE tests score, sharing its
blocks with them through the on-disk cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accelgen.flows.area_model import (
    CALIBRATION_SIZES,
    FIFO_DEPTHS,
    AreaModel,
    _pe_key,
    validate,
)
from accelgen.generators.sparsecache.config import TcamConfig
from accelgen.generators.systolic import SystolicConfig
from accelgen.generators.systolic.links import result_layout
from accelgen.generators.systolic.row import SystolicRow

SKEW = {"row_skew": 8.0, "row_control_skew": 3.0, "column_skew": 8.0, "deskew": 28.0}


def _stages(n: int) -> int:
    return n * (n - 1) // 2


def _fifo(width: int, depth: int) -> float:
    return width * (10.0 * depth + 2.0) + 5.0 * depth


def _boundary(rows: int, cols: int) -> float:
    return -(5.0 * rows + 7.0 * cols + 1.5 * rows * cols + 3.0)


def _truth(cfg: SystolicConfig, *, boundary: bool = True) -> float:
    """A made-up design whose blocks follow the model's assumptions exactly; flat synthesis
    of it saves ``_boundary``."""
    rows, cols = cfg.rows, cfg.cols
    skews = sum(cost * _stages(rows if "row" in name else cols) for name, cost in SKEW.items())
    return (rows * cols * 100.0 + rows * (3.0 + 2.0 * cols) + skews
            + _fifo(result_layout(cfg).size, cfg.result_depth) + 50.0 * rows + 30.0 * cols + 7.0
            + (_boundary(rows, cols) if boundary else 0.0))


class SyntheticModel(AreaModel):
    """Blocks measured from :func:`_truth` instead of Yosys."""

    def pe_area(self, cfg):
        return 100.0

    def _small(self, cfg, rows, cols):
        return SystolicConfig(**{**cfg.to_dict(), "rows": rows, "cols": cols,
                                 "result_depth": None})

    def shell(self, cfg, rows, cols):
        small = self._small(cfg, rows, cols)
        skews = {name: cost * _stages(rows if "row" in name else cols)
                 for name, cost in SKEW.items()}
        fifo = _fifo(result_layout(small).size, small.result_depth)
        return {"top": _truth(small, boundary=False) - rows * cols * 100.0,
                "row": 3.0 + 2.0 * cols, "result_fifo": fifo, **skews}

    def flat_shell(self, cfg, rows, cols):
        return _truth(self._small(cfg, rows, cols))

    def fifo_line(self, depth):
        return 10.0 * depth + 2.0, 5.0 * depth


@pytest.mark.parametrize("cfg", [
    SystolicConfig(rows=7, cols=5),
    SystolicConfig(rows=16, cols=16, dataflow="ws"),
    SystolicConfig(rows=3, cols=9, requantize="half_even", result_depth=40),
    SystolicConfig(rows=1, cols=1),
])
def test_composition_reproduces_a_design_that_follows_its_assumptions(tmp_path, cfg):
    estimate = SyntheticModel(cache_dir=tmp_path).estimate(cfg)
    assert estimate.total == pytest.approx(_truth(cfg))
    assert estimate.unit == "GE" and estimate.gate_equivalents == pytest.approx(estimate.total)
    assert set(estimate.parts) == {"pes", "row_glue", "skew", "result_fifo", "control",
                                   "boundary"}
    assert estimate.parts["boundary"] == pytest.approx(_boundary(cfg.rows, cfg.cols))


def test_fifo_interpolates_between_and_beyond_grid_depths(tmp_path):
    class Curved(SyntheticModel):
        def fifo_line(self, depth):
            return float(depth * depth), 0.0

    model = Curved(cache_dir=tmp_path)
    assert 12 in FIFO_DEPTHS and 16 in FIFO_DEPTHS and 14 not in FIFO_DEPTHS
    assert model.fifo_area(1, 12) == 144 and model.fifo_area(1, 16) == 256
    assert model.fifo_area(1, 14) == pytest.approx((144 + 256) / 2)
    top, below = FIFO_DEPTHS[-1], FIFO_DEPTHS[-2]
    slope = (top * top - below * below) / (top - below)
    assert model.fifo_area(1, top + 100) == pytest.approx(top * top + 100 * slope)


def test_blocks_are_measured_once_and_shared_through_the_disk_cache(tmp_path):
    calls = []

    def measure(work: Path) -> dict:
        calls.append(work)
        assert work.is_dir()
        return {"area": 42.0}

    first = AreaModel(cache_dir=tmp_path)
    assert first._block("pe", {"x": 1}, measure) == {"area": 42.0}
    assert first._block("pe", {"x": 1}, measure) == {"area": 42.0}
    second = AreaModel(cache_dir=tmp_path)
    assert second._block("pe", {"x": 1}, measure) == {"area": 42.0}
    assert len(calls) == 1 and first.syntheses == 1 and second.syntheses == 0
    second._block("pe", {"x": 2}, measure)
    assert len(calls) == 2
    records = [json.loads(p.read_text()) for p in tmp_path.glob("pe-*.json")]
    assert sorted(r["params"]["x"] for r in records) == [1, 2]


def test_another_liberty_file_gets_its_own_blocks(tmp_path):
    from accelgen.flows.asic_area import DEFAULT_LIBERTY

    copy = tmp_path / "copy.lib"
    copy.write_text(DEFAULT_LIBERTY.read_text() + "\n/* edited */\n")
    calls = []

    def measure(work: Path) -> dict:
        calls.append(1)
        return {"area": 1.0}

    AreaModel(cache_dir=tmp_path / "c")._block("pe", {}, measure)
    other = AreaModel(liberty=copy, cache_dir=tmp_path / "c")
    other._block("pe", {}, measure)
    assert len(calls) == 2  # a separate key per library
    assert other._unit == "liberty area unit"


@pytest.mark.parametrize(("a", "b"), [
    (SystolicConfig(rows=4, cols=4), SystolicConfig(rows=9, cols=2, result_depth=30)),
    (SystolicConfig(rows=5, cols=2, dataflow="ws"), SystolicConfig(rows=6, cols=7,
                                                                  dataflow="ws")),
])
def test_equal_pe_keys_mean_equal_pe_verilog(a, b):
    assert _pe_key(a) == _pe_key(b)
    texts = []
    for cfg in (a, b):
        row = SystolicRow(cfg)
        row._MustUse__silence = True  # only its PE is emitted
        texts.append(row.pe_verilog().replace(cfg.name, "X"))
    assert texts[0] == texts[1]


def test_weight_stationary_pe_key_tracks_the_row_number_width():
    assert _pe_key(SystolicConfig(rows=3, cols=2, dataflow="ws")) != \
        _pe_key(SystolicConfig(rows=4, cols=2, dataflow="ws"))


def test_tcam_composition(tmp_path):
    class Fake(AreaModel):
        def _block(self, kind, params, measure):
            assert kind == "tcam" and params == {"key_width": 8}
            return {"per_entry": 30.0, "fixed": 12.0}

    estimate = Fake(cache_dir=tmp_path).tcam(TcamConfig(entries=16, key_width=8))
    assert estimate.total == 16 * 30.0 + 12.0


@pytest.mark.slow
def test_real_calibration_is_within_five_percent_of_flat_synthesis():
    # The int8 output-stationary family of the DSE tests (test_dse_evaluate.py and
    # test_dse_confirm.py calibrate it too), in the shared block cache: the suite synthesizes
    # the family once. 3x5 is no calibration size and lies beyond them in columns.
    cfg = SystolicConfig(rows=3, cols=5)
    model = AreaModel()
    record = validate(cfg, model)
    assert abs(record["error"]) < 0.05, record
    # The blocks the model needs (each synthesized once, on a cold cache): a shell and a flat
    # array per calibration size, the PE of each row count (the FIFO depth 14 needs its two
    # neighbouring grid depths). Counted as blocks read, so a warm cache checks the same bound.
    pes = len({rows for rows, _ in CALIBRATION_SIZES} | {cfg.rows})
    assert len(model._memo) <= 2 * len(CALIBRATION_SIZES) + pes + 2 + 1  # + the flat point
    assert model.syntheses <= len(model._memo)
    # A second size of the family needs no block but its FIFO depth's.
    before = len(model._memo)
    model.estimate(SystolicConfig(rows=4, cols=5))
    assert len(model._memo) - before <= 2


def test_flat_reference_is_cached_under_every_parameter(tmp_path):
    class Recorder(SyntheticModel):
        def _block(self, kind, params, measure):
            self.asked = (kind, params)
            return {"area": 123.0}

    model = Recorder(cache_dir=tmp_path)
    cfg = SystolicConfig(rows=3, cols=2, result_depth=40)
    record = validate(cfg, model)
    assert model.asked == ("design", cfg.to_dict())
    assert record["flat"] == 123.0 and record["module"] == cfg.name
    assert record["error"] == pytest.approx((model.estimate(cfg).total - 123.0) / 123.0)
