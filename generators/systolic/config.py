"""One validated description of a systolic array: every generator, driver and model reads it."""

from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass

__all__ = ["ConfigError", "Dataflow", "Overflow", "Rounding", "SystolicConfig"]

MAX_WIDTH = 64


class ConfigError(ValueError):
    """A parameter breaks a rule; the message names the parameter and the rule."""


class Dataflow(enum.Enum):
    """Which operand stays in the processing element while the others move."""

    OUTPUT_STATIONARY = "os"
    WEIGHT_STATIONARY = "ws"


class Overflow(enum.Enum):
    """What the accumulator does when a sum leaves its range.

    ``NONE`` is only accepted when the accumulator is wide enough for ``max_k`` products, so it
    can never happen. ``WRAP`` keeps the low ``acc_width`` bits (two's complement when signed);
    ``SATURATE`` clamps after every addition, in reduction order.
    """

    NONE = "none"
    WRAP = "wrap"
    SATURATE = "saturate"


class Rounding(enum.Enum):
    """Requantization of results: ``NONE`` leaves them at accumulator width; the others shift
    right by a per-row amount with that rounding, then saturate to ``input_width`` (see
    ``accelgen.sim.requantize``)."""

    NONE = "none"
    HALF_EVEN = "half_even"
    HALF_UP = "half_up"


def _require(condition: bool, parameter: str, rule: str) -> None:
    if not condition:
        raise ConfigError(f"{parameter}: {rule}")


def _parse_nm(text: object) -> tuple[int, int]:
    """``"2:4"`` -> (2, 4), with the rules of N:M sparsity checked."""
    parts = text.split(":") if isinstance(text, str) else []
    _require(len(parts) == 2 and all(p.strip().isdigit() for p in parts), "pe",
             f'must be "dense" or N:M such as "2:4", got {text!r}')
    kept, group = (int(p) for p in parts)
    _require(group in (2, 4, 8, 16), "pe", f"M must be a power of two from 2 to 16, got {group}")
    _require(1 <= kept < group, "pe", f"N must be between 1 and M-1 (N:M = {kept}:{group})")
    return kept, group


@dataclass(frozen=True)
class SystolicConfig:
    """Parameters of a :class:`~accelgen.generators.systolic.SystolicArray`.

    ``acc_width`` left as ``None`` takes the width that cannot overflow for ``max_k`` products:
    ``input_width + weight_width + ceil(log2(max_k))``. A narrower explicit width needs an
    ``overflow`` mode other than ``NONE``. ``result_depth`` is the number of result rows the
    output FIFO holds; the array only starts work whose results are guaranteed a slot, so a
    stalled consumer never loses or duplicates a result.

    ``pe`` is ``"dense"`` or an N:M structured-sparsity choice such as ``"2:4"`` (weight-
    stationary only): each PE then holds N kept weights with their positions in a group of M
    and takes M activations per step, M dense-equivalent MACs with N multipliers.

    ``fuse`` adds the FuSe mode (output-stationary only): each array row runs its own 1-D
    depthwise convolution, with the row's taps moving east and its inputs broadcast to the
    row (see ``accelgen.sim.fuse_mapping``). Row ``i``'s inputs ride column ``i``'s operand
    skew, hence ``rows <= cols``. Taps stream through the PEs, so the datapath has no kernel
    limit; ``max_kernel`` is the largest kernel the drivers and models accept, and with
    ``overflow=none`` it must not exceed ``max_k`` (the accumulator is sized for ``max_k``).

    ``requantize`` adds a requantized copy ``q`` of every result row (``input_width`` bits),
    shifted by an amount each result-producing step carries, in GEMM and FuSe mode alike.

    ``multiplier_stages`` pipelines each PE's multiplier: 0 multiplies and adds in one cycle;
    1 puts a register between the multiplier and the adder; 2 also gives the multiplier
    registers of its own on its operands. On an FPGA, 2 leaves a DSP block between two
    registers that can sit beside it, so the clock no longer pays for routes between the DSP
    and the array's operand registers, which grow with the array. Each stage delays every
    result by one cycle and changes nothing else. Not with ``fuse``: a FuSe row pauses on
    bubbles, and the pause logic assumes single-cycle PEs.
    """

    rows: int
    cols: int
    input_width: int = 8
    weight_width: int = 8
    signed: bool = True
    max_k: int = 4096
    acc_width: int | None = None
    overflow: Overflow = Overflow.NONE
    dataflow: Dataflow = Dataflow.OUTPUT_STATIONARY
    result_depth: int | None = None
    pe: str = "dense"
    fuse: bool = False
    max_kernel: int = 7
    requantize: Rounding = Rounding.NONE
    multiplier_stages: int = 0

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            value = getattr(self, name)
            _require(isinstance(value, int) and not isinstance(value, bool), name,
                     f"must be an integer, got {value!r}")
            _require(1 <= value <= 256, name, f"must be between 1 and 256, got {value}")
        for name in ("input_width", "weight_width"):
            value = getattr(self, name)
            _require(isinstance(value, int) and 1 <= value <= MAX_WIDTH, name,
                     f"must be an integer between 1 and {MAX_WIDTH}, got {value!r}")
        _require(isinstance(self.signed, bool), "signed",
                 f"must be true or false, got {self.signed!r}")
        _require(isinstance(self.max_k, int) and self.max_k >= 1, "max_k",
                 f"must be an integer >= 1, got {self.max_k!r}")
        self._coerce_enum("dataflow", Dataflow)
        self._coerce_enum("overflow", Overflow)
        self._coerce_enum("requantize", Rounding)
        _require(isinstance(self.fuse, bool), "fuse", f"must be true or false, got {self.fuse!r}")
        _require(isinstance(self.max_kernel, int) and not isinstance(self.max_kernel, bool)
                 and self.max_kernel >= 1, "max_kernel",
                 f"must be an integer >= 1, got {self.max_kernel!r}")
        if self.fuse:
            _require(self.max_kernel <= self.max_k or self.overflow is not Overflow.NONE,
                     "max_kernel", f"{self.max_kernel}-tap sums can overflow an accumulator "
                     f"sized for max_k={self.max_k}; raise max_k or choose an overflow mode")
            _require(self.dataflow is Dataflow.OUTPUT_STATIONARY, "fuse",
                     f"FuSe mode needs dataflow=os, got {self.dataflow.value}")
            _require(self.rows <= self.cols, "fuse",
                     f"FuSe mode needs rows <= cols (row i's inputs ride column i's skew "
                     f"line), got {self.rows}x{self.cols}")
        _require(self.multiplier_stages in (0, 1, 2)
                 and not isinstance(self.multiplier_stages, bool), "multiplier_stages",
                 f"must be 0, 1 or 2, got {self.multiplier_stages!r}")
        _require(not (self.multiplier_stages and self.fuse), "multiplier_stages",
                 "must be 0 with fuse=true (a FuSe row pauses on bubbles, and its pause "
                 "logic assumes single-cycle PEs)")
        if self.pe != "dense":
            kept, group = _parse_nm(self.pe)
            _require(self.dataflow is Dataflow.WEIGHT_STATIONARY, "pe",
                     f"N:M sparse PEs need dataflow=ws, got {self.dataflow.value}")
            object.__setattr__(self, "pe", f"{kept}:{group}")

        safe = self.safe_acc_width
        if self.acc_width is None:
            _require(safe <= MAX_WIDTH, "max_k",
                     f"needs a {safe}-bit accumulator, more than {MAX_WIDTH}; lower max_k or set "
                     "acc_width with overflow=wrap|saturate")
            object.__setattr__(self, "acc_width", safe)
        else:
            _require(isinstance(self.acc_width, int) and 2 <= self.acc_width <= MAX_WIDTH,
                     "acc_width",
                     f"must be an integer between 2 and {MAX_WIDTH}, got {self.acc_width!r}")
            _require(self.acc_width >= safe or self.overflow is not Overflow.NONE, "acc_width",
                     f"{self.acc_width} bits can overflow for max_k={self.max_k} (needs {safe}); "
                     "choose overflow=wrap or overflow=saturate")
        product = self.input_width + self.weight_width
        _require(self.acc_width >= product or self.overflow is not Overflow.NONE, "acc_width",
                 f"must hold one {product}-bit product")

        if self.result_depth is None:
            object.__setattr__(self, "result_depth", self.default_result_depth)
        _require(isinstance(self.result_depth, int) and self.result_depth >= self.min_result_depth,
                 "result_depth", f"must be an integer >= {self.min_result_depth} "
                 f"(one tile of results), got {self.result_depth!r}")

    def _coerce_enum(self, name: str, kind: type[enum.Enum]) -> None:
        """Accept an enum member or its value (as config files and the CLI give it)."""
        try:
            object.__setattr__(self, name, kind(getattr(self, name)))
        except ValueError:
            choices = ", ".join(member.value for member in kind)
            raise ConfigError(f"{name}: must be one of {choices}, "
                              f"got {getattr(self, name)!r}") from None

    @property
    def sparsity(self) -> tuple[int, int] | None:
        """(N, M) for an N:M sparse PE, ``None`` for a dense one."""
        return None if self.pe == "dense" else _parse_nm(self.pe)

    @property
    def group(self) -> int:
        """Activations each array row takes per step: M for N:M PEs, else 1."""
        return self.sparsity[1] if self.sparsity else 1

    @property
    def safe_acc_width(self) -> int:
        """Narrowest accumulator that holds any sum of ``max_k`` products exactly."""
        return self.input_width + self.weight_width + math.ceil(math.log2(self.max_k))

    @property
    def min_result_depth(self) -> int:
        # A whole OS tile must fit; below 3 entries Amaranth's SyncFIFOBuffered can refuse a
        # write while it moves an entry to its output register.
        return max(3, self.rows if self.dataflow is Dataflow.OUTPUT_STATIONARY else 1)

    @property
    def pe_latency(self) -> int:
        """Cycles from a step's operands reaching a PE to its sum leaving that PE."""
        return 1 + self.multiplier_stages

    @property
    def default_result_depth(self) -> int:
        # The smallest depth at which an always-ready consumer never holds the array back:
        # every result row in flight between admission and delivery needs a reserved slot.
        # (Found with the cycle model over tile shapes; see tests/test_systolic_model.py.)
        extra = self.pe_latency - 1
        if self.dataflow is Dataflow.OUTPUT_STATIONARY:
            return 2 * self.rows + self.cols + 3 + extra
        return self.rows + self.cols + 3 + extra

    @property
    def name(self) -> str:
        """A module name that spells out the parameters that change the ports or behaviour."""
        sign = "s" if self.signed else "u"
        flow = self.dataflow.value
        name = (f"systolic_{flow}_{self.rows}x{self.cols}_{sign}{self.input_width}"
                f"x{self.weight_width}_acc{self.acc_width}")
        if self.overflow is not Overflow.NONE:
            name += f"_{self.overflow.value}"
        if self.result_depth != self.default_result_depth:
            name += f"_q{self.result_depth}"
        if self.sparsity:
            name += "_sp{}of{}".format(*self.sparsity)
        if self.fuse:
            name += "_fuse"
        if self.requantize is not Rounding.NONE:
            name += "_rq" + {"half_even": "he", "half_up": "hu"}[self.requantize.value]
        if self.multiplier_stages:
            name += f"_ms{self.multiplier_stages}"
        return name

    @property
    def shift_width(self) -> int:
        """Bits of a requantization shift amount, which ranges over 0 .. acc_width - 1."""
        return max(1, (self.acc_width - 1).bit_length())

    def to_dict(self) -> dict:
        data = asdict(self)
        data["dataflow"] = self.dataflow.value
        data["overflow"] = self.overflow.value
        data["requantize"] = self.requantize.value
        return data

    @classmethod
    def from_dict(cls, data: dict) -> SystolicConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{unknown[0]}: not a systolic-array parameter "
                              f"(known: {', '.join(sorted(known))})")
        missing = [name for name in ("rows", "cols") if name not in data]
        if missing:
            raise ConfigError(f"{missing[0]}: required")
        return cls(**data)
