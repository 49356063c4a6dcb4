"""Design-space exploration: Optuna over the generator's parameters, scored by the validated
cycle and area models, the Pareto front confirmed with the real tools.

``run_dse`` is the whole loop; ``add_dse_parser`` adds ``accelgen dse`` to the command line.
Names are imported on first use, so ``accelgen`` does not pay for Optuna, Dask and matplotlib
on every command.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE: dict[str, str] = {
    "BASELINES": "run",
    "DEFAULT_SPACE": "space",
    "METRICS": "evaluate",
    "OBJECTIVES": "evaluate",
    "Constraint": "engine",
    "DseError": "names",
    "DseResult": "run",
    "Scoring": "evaluate",
    "SearchSpace": "space",
    "SpaceError": "space",
    "Workload": "workload",
    "add_dse_bench": "cli",
    "add_dse_parser": "cli",
    "evaluate_point": "evaluate",
    "export_trial": "cli",
    "load_workload": "workload",
    "parse_constraint": "engine",
    "point_configs": "space",
    "run_dse": "run",
    "run_study": "engine",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
