"""The accumulator's integer semantics, in one place, so every PE variant agrees with the model."""

from __future__ import annotations

from amaranth.hdl import Const, Mux, Value, ValueCastable

from .config import Overflow, SystolicConfig
from .links import acc_shape

__all__ = ["accumulate"]


def accumulate(cfg: SystolicConfig, acc: Value | ValueCastable, product: Value) -> Value:
    """``acc + product`` reduced to the accumulator's shape by the configured overflow mode.

    The sum is formed at full precision first, so saturation compares the true value; wrapping
    (and ``NONE``, which cannot overflow by construction) keeps the low ``acc_width`` bits.
    """
    shape = acc_shape(cfg)
    total = Value.cast(acc) + product
    if cfg.overflow is Overflow.SATURATE:
        lo = -(1 << (shape.width - 1)) if shape.signed else 0
        hi = (1 << (shape.width - 1)) - 1 if shape.signed else (1 << shape.width) - 1
        total = Mux(total > hi, Const(hi, shape), Mux(total < lo, Const(lo, shape), total))
    return total[: shape.width].as_signed() if shape.signed else total[: shape.width]
