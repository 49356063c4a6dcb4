"""Systolic-array generator: output- and weight-stationary GEMM."""

from .array import SystolicArray
from .config import ConfigError, Dataflow, Overflow, SystolicConfig

__all__ = ["ConfigError", "Dataflow", "Overflow", "SystolicArray", "SystolicConfig"]
