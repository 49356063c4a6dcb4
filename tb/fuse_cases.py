"""FuSe-mode regression cases, shared by pytest and ``accelgen regress``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

__all__ = ["FuseCase", "default_fuse_cases"]

KINDS = ("conv1d", "block", "mixed")


@dataclass(frozen=True)
class FuseCase:
    """One FuSe regression case.

    ``conv1d``: ``channels`` independent 1-D convolutions of ``width`` inputs. ``block``: a
    whole FuSe block on a (channels, height, width) input. ``mixed``: a GEMM tile, a FuSe
    layer and another GEMM tile in one operand stream, checking the mode-switch timing.
    """

    name: str
    kind: str
    seed: int
    channels: int = 4
    height: int = 1
    width: int = 8
    kernel: int = 3
    stride: int = 1
    padding: str = "valid"
    variant: str = "full"
    out_channels: int = 4
    sink_stall: float = 0.0
    source_gap: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: must be one of {', '.join(KINDS)}, got {self.kind!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def default_fuse_cases(rows: int, cols: int, max_kernel: int, *,
                       base_seed: int = 500) -> list[FuseCase]:
    """1-D convolutions of every kernel up to ``max_kernel`` (odd ones, and 1), strides 1 and
    2, both paddings, more convolutions than rows and outputs than columns, a kernel longer
    than the row when it fits ``max_kernel``, stalls, and FuSe blocks of both variants."""
    kernels = sorted({1, *range(3, max_kernel + 1, 2), max_kernel})
    cases: list[FuseCase] = []
    seed = base_seed
    for kernel in kernels:
        for stride in (1, 2):
            for padding in ("same", "valid"):
                width = 2 * cols + kernel + 1
                cases.append(FuseCase(f"conv1d_k{kernel}_s{stride}_{padding}", "conv1d", seed,
                                      channels=rows + 1, width=width, kernel=kernel,
                                      stride=stride, padding=padding))
                seed += 1
    if max_kernel > cols:
        cases.append(FuseCase("conv1d_kernel_beyond_cols", "conv1d", seed, channels=rows,
                              width=3 * cols, kernel=max_kernel, padding="same"))
        seed += 1
    cases.append(FuseCase("conv1d_stalls", "conv1d", seed, channels=2 * rows + 1,
                          width=3 * cols + 1, kernel=min(3, max_kernel), stride=1,
                          padding="same", sink_stall=0.4, source_gap=0.3))
    cases.append(FuseCase("conv1d_stalls_s2", "conv1d", seed + 1, channels=rows,
                          width=2 * cols + 3, kernel=min(5, max_kernel), stride=2,
                          padding="same", sink_stall=0.3, source_gap=0.3))
    cases.append(FuseCase("mixed_modes", "mixed", seed + 2, channels=rows, width=cols + 2,
                          kernel=min(3, max_kernel)))
    block_kernels = [k for k in (3, 5) if k <= max_kernel] or [max_kernel]
    for i, (variant, stride) in enumerate((("full", 1), ("half", 2))):
        kernel = block_kernels[i % len(block_kernels)]
        cases.append(FuseCase(f"block_{variant}_k{kernel}_s{stride}", "block", seed + 3 + i,
                              channels=8, height=7 + i, width=7 + 2 * i, kernel=kernel,
                              stride=stride, padding="same", variant=variant,
                              out_channels=6))
    # Names carry the base seed so that several seeds' cases can run together.
    return [replace(case, name=f"{case.name}_s{base_seed}") for case in cases]
