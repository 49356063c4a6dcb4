"""The configurations whose Verilog is committed under ``rtl/`` as a reference."""

from __future__ import annotations

from pathlib import Path

from .emit import generate_systolic, write_design
from .systolic import SystolicConfig

__all__ = ["REFERENCE_CONFIGS", "write_reference"]

REFERENCE_CONFIGS: tuple[SystolicConfig, ...] = tuple(
    SystolicConfig(rows=n, cols=n, input_width=8, weight_width=8, signed=True, max_k=4096,
                   dataflow=flow)
    for n in (4, 16) for flow in ("os", "ws")
) + tuple(
    # FuSe-capable arrays with requantization: what a depthwise-separable network needs.
    SystolicConfig(rows=n, cols=n, input_width=8, weight_width=8, signed=True, max_k=4096,
                   fuse=True, max_kernel=7, requantize="half_even")
    for n in (4, 16)
)


def write_reference(rtl_dir: Path) -> list[Path]:
    """(Re)write every reference design into ``rtl_dir``; returns the files written."""
    written: list[Path] = []
    for cfg in REFERENCE_CONFIGS:
        written += write_design(generate_systolic(cfg), rtl_dir)
    return written
