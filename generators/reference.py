"""The configurations whose Verilog is committed under ``rtl/`` as a reference.

``accelgen.flows.reference.write_reference`` writes them, each with a FuseSoC core and an SDC
clock constraint.
"""

from __future__ import annotations

from .sparsecache.cache_config import SparseCacheConfig
from .systolic import SystolicConfig

__all__ = ["REFERENCE_CONFIGS", "REFERENCE_SPARSECACHES"]

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

REFERENCE_SPARSECACHES: tuple[SparseCacheConfig, ...] = (
    # A small SparseCache (2 KiB 2-way L1, 16-entry null cache): the paper's 16 KiB + 1 KiB
    # point is 3.5 MB of Verilog and a minute to generate, so `accelgen generate sparsecache`
    # makes it on demand instead.
    SparseCacheConfig(address_bits=32, sets=32, ways=2, line_bytes=32, word_format="int32",
                      null_entries=16),
)
