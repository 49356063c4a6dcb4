"""What the command line shares with the engine, kept free of Optuna and Dask so that
``accelgen`` starts quickly (importing Optuna alone takes half a second)."""

from __future__ import annotations

from accelgen.generators.systolic import ConfigError

__all__ = ["SAMPLERS", "DseError"]

SAMPLERS: tuple[str, ...] = ("nsga2", "tpe", "random")


class DseError(ConfigError):
    """Bad input to the exploration (objective, constraint, storage, scheduler): one line,
    exit status 2."""
