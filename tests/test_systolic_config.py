"""Parameter validation: every rule is enforced with a message naming the parameter."""

from __future__ import annotations

from dataclasses import replace

import pytest

from accelgen.generators.systolic import ConfigError, Dataflow, Overflow, SystolicConfig

BASE = SystolicConfig(rows=4, cols=4)


def test_defaults_derive_the_safe_accumulator_width():
    assert BASE.acc_width == 8 + 8 + 12  # max_k = 4096
    assert SystolicConfig(rows=2, cols=3, max_k=5).acc_width == 8 + 8 + 3
    assert SystolicConfig(rows=1, cols=1, max_k=1).acc_width == 16


def test_enums_accept_their_values():
    cfg = SystolicConfig(rows=2, cols=2, dataflow="ws", overflow="wrap", acc_width=12)
    assert cfg.dataflow is Dataflow.WEIGHT_STATIONARY
    assert cfg.overflow is Overflow.WRAP


def test_non_square_and_single_pe_arrays_are_allowed():
    assert SystolicConfig(rows=1, cols=7).name.startswith("systolic_os_1x7_")
    assert SystolicConfig(rows=5, cols=1, dataflow="ws").name.startswith("systolic_ws_5x1_")


@pytest.mark.parametrize(("changes", "parameter"), [
    ({"rows": 0}, "rows"),
    ({"cols": -3}, "cols"),
    ({"rows": 2.5}, "rows"),
    ({"rows": True}, "rows"),
    ({"input_width": 0}, "input_width"),
    ({"weight_width": 65}, "weight_width"),
    ({"max_k": 0}, "max_k"),
    ({"dataflow": "diagonal"}, "dataflow"),
    ({"overflow": "explode"}, "overflow"),
    ({"acc_width": 16}, "acc_width"),  # narrower than safe, overflow none
    ({"acc_width": 1, "overflow": "wrap"}, "acc_width"),
    ({"acc_width": 65, "overflow": "wrap"}, "acc_width"),
    ({"input_width": 32, "weight_width": 32, "max_k": 4}, "max_k"),
    ({"result_depth": 3}, "result_depth"),  # OS needs a whole tile (4 rows)
    ({"signed": "yes"}, "signed"),
    ({"pe": "2:4"}, "pe"),  # N:M needs weight-stationary
    ({"pe": "2:6", "dataflow": "ws"}, "pe"),
    ({"pe": "4:4", "dataflow": "ws"}, "pe"),
    ({"pe": "0:4", "dataflow": "ws"}, "pe"),
    ({"pe": "sparse", "dataflow": "ws"}, "pe"),
    ({"multiplier_stages": 3}, "multiplier_stages"),
    ({"multiplier_stages": True}, "multiplier_stages"),
    ({"multiplier_stages": 1, "fuse": True}, "multiplier_stages"),
])
def test_bad_parameters_name_the_parameter(changes, parameter):
    values = {**BASE.to_dict(), "acc_width": None, "result_depth": None, **changes}
    with pytest.raises(ConfigError, match=rf"^{parameter}: "):
        SystolicConfig.from_dict(values)


def test_narrow_accumulator_needs_an_overflow_mode():
    cfg = SystolicConfig(rows=2, cols=2, acc_width=10, overflow="saturate")
    assert cfg.acc_width == 10
    assert "saturate" in cfg.name


def test_unknown_keys_are_rejected():
    with pytest.raises(ConfigError, match=r"^colums: not a systolic-array parameter"):
        SystolicConfig.from_dict({"rows": 2, "colums": 2})


def test_round_trip_and_replace():
    cfg = replace(BASE, rows=8, dataflow=Dataflow.WEIGHT_STATIONARY, result_depth=None)
    assert SystolicConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.result_depth == cfg.rows + cfg.cols + 3


def test_names_differ_whenever_the_hardware_does():
    variants = [BASE, replace(BASE, signed=False), replace(BASE, dataflow="ws", result_depth=None),
                replace(BASE, acc_width=20, overflow="wrap"),
                replace(BASE, acc_width=20, overflow="saturate"),
                replace(BASE, result_depth=20), replace(BASE, input_width=4),
                replace(BASE, multiplier_stages=1, result_depth=None),
                replace(BASE, multiplier_stages=2, result_depth=None)]
    assert len({v.name for v in variants}) == len(variants)


@pytest.mark.parametrize("stages", [1, 2])
def test_each_multiplier_stage_adds_a_cycle_and_a_fifo_row(stages):
    plain = SystolicConfig(rows=4, cols=3)
    piped = SystolicConfig(rows=4, cols=3, multiplier_stages=stages)
    assert (plain.pe_latency, piped.pe_latency) == (1, 1 + stages)
    assert piped.result_depth == plain.result_depth + stages
    assert piped.name == plain.name + f"_ms{stages}"
    assert SystolicConfig.from_dict(piped.to_dict()) == piped


def test_nm_sparse_pes_are_named_and_group_m_activations():
    cfg = SystolicConfig(rows=4, cols=4, dataflow="ws", pe=" 2:4".strip())
    assert cfg.sparsity == (2, 4) and cfg.group == 4
    assert cfg.name.endswith("_sp2of4")
    assert SystolicConfig(rows=4, cols=4).group == 1


@pytest.mark.parametrize(("params", "message"), [
    ({"fuse": True, "dataflow": "ws"}, r"^fuse: FuSe mode needs dataflow=os"),
    ({"fuse": True, "rows": 8, "cols": 4}, r"^fuse: FuSe mode needs rows <= cols"),
    ({"fuse": "yes"}, r"^fuse: must be true or false"),
    ({"max_kernel": 0}, r"^max_kernel: must be an integer >= 1"),
    ({"fuse": True, "max_kernel": 9, "max_k": 8}, r"^max_kernel: 9-tap sums can overflow"),
    ({"requantize": "nearest"}, r"^requantize: must be one of none, half_even, half_up"),
])
def test_fuse_and_requantize_parameters_are_checked(params, message):
    with pytest.raises(ConfigError, match=message):
        SystolicConfig(**{"rows": 4, "cols": 4, **params})


def test_fuse_and_requantize_change_the_name_and_round_trip():
    cfg = SystolicConfig(rows=4, cols=8, fuse=True, requantize="half_up", max_kernel=5)
    assert cfg.name.endswith("_fuse_rqhu")
    assert SystolicConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.shift_width == (cfg.acc_width - 1).bit_length()
