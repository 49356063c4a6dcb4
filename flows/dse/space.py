"""The search space: which parameters the exploration varies, over which values.

A space names each parameter once, with either a list of choices, an integer range
(``{low, high}``, optionally ``step`` or ``log = true``) or a single value (fixed). It comes
from :data:`DEFAULT_SPACE` or a TOML file (keys at the top level or under ``[space]``)::

    rows = [4, 8, 16, 32]
    cols = {low = 4, high = 32, step = 4}
    dataflow = ["os", "ws"]
    pe = ["dense", "2:4"]
    signed = true              # fixed

Parameters are every :class:`~accelgen.generators.systolic.SystolicConfig` field, plus
``fuse_variant`` (which FuSe network a FuSe-capable array runs: ``full`` or ``half``) and the
SparseCache's ``null_entries`` (0: no SparseCache), ``l1_kib``, ``l1_ways``, ``line_bytes`` and
``cache_word_format``. A space is checked when it is loaded: an unknown parameter, an empty
range or a value the generator rejects on its own raises :class:`SpaceError` naming the
parameter. Combinations are not checked here: a sampled point the generator rejects (FuSe with
weight-stationary, N:M with output-stationary, FuSe with ``rows > cols``) becomes a rejected
trial that records the generator's message (:func:`point_configs`).
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    IntDistribution,
)

from accelgen.generators.sparsecache.cache_config import SparseCacheConfig
from accelgen.generators.sparsecache.config import ConfigError as CacheConfigError
from accelgen.generators.systolic import ConfigError, SystolicConfig

__all__ = [
    "CACHE_PARAMETERS",
    "DEFAULT_SPACE",
    "DSE_PARAMETERS",
    "FUSE_VARIANTS",
    "SYSTOLIC_PARAMETERS",
    "Parameter",
    "SearchSpace",
    "SpaceError",
    "canonical_point",
    "point_configs",
    "point_hash",
]

SYSTOLIC_PARAMETERS: tuple[str, ...] = tuple(f.name for f in fields(SystolicConfig))
FUSE_VARIANTS: tuple[str, ...] = ("full", "half")
DSE_PARAMETERS: tuple[str, ...] = ("fuse_variant",)
CACHE_PARAMETERS: tuple[str, ...] = ("null_entries", "l1_kib", "l1_ways", "line_bytes",
                                     "cache_word_format")
_CACHE_DEFAULTS: dict[str, Any] = {"null_entries": 0, "l1_kib": 16, "l1_ways": 4,
                                   "line_bytes": 32, "cache_word_format": "int8"}
KNOWN: tuple[str, ...] = SYSTOLIC_PARAMETERS + DSE_PARAMETERS + CACHE_PARAMETERS
_DEFAULTS: dict[str, Any] = {
    **{f.name: getattr(f.default, "value", f.default) for f in fields(SystolicConfig)
       if f.default is not MISSING},
    "fuse_variant": "half", **_CACHE_DEFAULTS}

DEFAULT_SPACE: dict[str, Any] = {
    "rows": [4, 8, 16, 32],
    "cols": [4, 8, 16, 32],
    "input_width": 8,
    "weight_width": 8,
    "dataflow": ["os", "ws"],
    "fuse": [False, True],
    "pe": ["dense", "2:4", "1:4"],
    "max_kernel": [3, 5, 7],
    "fuse_variant": ["half"],
}
"""Array shape, dataflow, FuSe and N:M, for int8 inference. Operand widths are fixed at 8 bits
because no objective sees accuracy: a space with ``input_width = [4, 8]`` finds that 4 bits are
smaller and equally fast, which is true and says nothing about the network. The SparseCache
parameters are left out for a similar reason: without a memory-traffic model of the workload
they could only add area (see :mod:`.evaluate`)."""


class SpaceError(ConfigError):
    """A search space breaks a rule; the message names the parameter."""


@dataclass(frozen=True)
class Parameter:
    """One parameter: ``choices`` (a list, one entry when fixed) or an integer range."""

    name: str
    choices: tuple[Any, ...] | None = None
    low: int | None = None
    high: int | None = None
    step: int = 1
    log: bool = False

    @property
    def fixed(self) -> bool:
        return self.choices is not None and len(self.choices) == 1

    @property
    def distribution(self) -> BaseDistribution:
        if self.choices is not None:
            return CategoricalDistribution(self.choices)
        assert self.low is not None and self.high is not None
        return IntDistribution(self.low, self.high, log=self.log, step=self.step)

    @property
    def values(self) -> list[Any]:
        """Every value the parameter can take (a log range: its integers)."""
        if self.choices is not None:
            return list(self.choices)
        assert self.low is not None and self.high is not None
        return list(range(self.low, self.high + 1, self.step))

    @property
    def size(self) -> int:
        if self.choices is not None:
            return len(self.choices)
        assert self.low is not None and self.high is not None
        return (self.high - self.low) // self.step + 1

    def to_dict(self) -> Any:
        if self.choices is not None:
            return self.choices[0] if self.fixed else list(self.choices)
        spec: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.step != 1:
            spec["step"] = self.step
        if self.log:
            spec["log"] = True
        return spec


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parameter(name: str, spec: Any) -> Parameter:
    if name not in KNOWN:
        raise SpaceError(f"{name}: not a search-space parameter (known: {', '.join(KNOWN)})")
    if isinstance(spec, Mapping):
        unknown = sorted(set(spec) - {"low", "high", "step", "log"})
        if unknown:
            raise SpaceError(f"{name}: a range takes low, high, step and log, got {unknown[0]!r}")
        low, high = spec.get("low"), spec.get("high")
        step, log = spec.get("step", 1), spec.get("log", False)
        if not (_is_int(low) and _is_int(high)):
            raise SpaceError(f"{name}: a range needs integer low and high, got {low!r}, {high!r}")
        if not _is_int(step) or step < 1:
            raise SpaceError(f"{name}: step must be an integer >= 1, got {step!r}")
        if not isinstance(log, bool):
            raise SpaceError(f"{name}: log must be true or false, got {log!r}")
        if log and (step != 1 or low < 1):
            raise SpaceError(f"{name}: a log range needs low >= 1 and no step")
        if high < low:
            raise SpaceError(f"{name}: empty range, low {low} > high {high}")
        return Parameter(name, low=low, high=high, step=step, log=log)
    values = list(spec) if isinstance(spec, list | tuple) else [spec]
    if not values:
        raise SpaceError(f"{name}: empty list of choices")
    for value in values:
        if value is None or isinstance(value, list | dict):
            raise SpaceError(f"{name}: choices must be numbers, strings or booleans, got "
                             f"{value!r}")
    if len(set(map(repr, values))) != len(values):
        raise SpaceError(f"{name}: repeated choice in {values!r}")
    return Parameter(name, choices=tuple(values))


def _companions(name: str, value: Any) -> dict[str, Any]:
    """Other parameters a single value needs to be checked alone (N:M needs ws, ...)."""
    base: dict[str, Any] = {"rows": 4, "cols": 4}
    if name == "pe" and value != "dense":
        base["dataflow"] = "ws"
    if name == "fuse" and value is True:
        base["dataflow"] = "os"
    if name in ("acc_width",):
        base["overflow"] = "wrap"
    if name == "result_depth":
        base.update(rows=1, cols=1)
    return base


def _check_value(name: str, value: Any) -> None:
    """Reject a value the generator rejects even in the most forgiving company."""
    if name in SYSTOLIC_PARAMETERS:
        try:
            SystolicConfig(**{**_companions(name, value), name: value})
        except ConfigError as error:
            if str(error).startswith(f"{name}:"):
                raise SpaceError(str(error)) from None
        except (TypeError, ValueError) as error:
            raise SpaceError(f"{name}: {error}") from None
    elif name == "fuse_variant":
        if value not in FUSE_VARIANTS:
            raise SpaceError(f"fuse_variant: must be one of {', '.join(FUSE_VARIANTS)}, "
                             f"got {value!r}")
    elif name == "null_entries":
        if not _is_int(value) or value < 0:
            raise SpaceError(f"null_entries: must be an integer >= 0 (0: no SparseCache), "
                             f"got {value!r}")
    elif name in ("l1_kib", "l1_ways", "line_bytes"):
        if not _is_int(value) or value < 1:
            raise SpaceError(f"{name}: must be an integer >= 1, got {value!r}")
    elif name == "cache_word_format":
        try:
            SparseCacheConfig(word_format=value)
        except CacheConfigError as error:
            raise SpaceError(str(error).replace("word_format", "cache_word_format", 1)) from None


class SearchSpace:
    """Validated parameters; :meth:`distributions` feeds Optuna, :meth:`point` completes a
    sampled point with the fixed values."""

    def __init__(self, spec: Mapping[str, Any]):
        if not isinstance(spec, Mapping) or not spec:
            raise SpaceError("space: must name at least one parameter")
        self.parameters: dict[str, Parameter] = {}
        for name, value in spec.items():
            parameter = _parameter(str(name), value)
            if parameter.choices is not None:
                for choice in parameter.choices:
                    _check_value(parameter.name, choice)
            else:
                for bound in (parameter.low, parameter.high):
                    _check_value(parameter.name, bound)
            self.parameters[parameter.name] = parameter
        for name in ("rows", "cols"):
            if name not in self.parameters:
                raise SpaceError(f"{name}: the space must give it (choices, a range or a value)")

    @classmethod
    def default(cls) -> SearchSpace:
        return cls(DEFAULT_SPACE)

    @classmethod
    def from_toml(cls, path: Path) -> SearchSpace:
        try:
            text = path.read_text()
        except OSError as error:
            raise SpaceError(f"--space: cannot read {path}: {error.strerror}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise SpaceError(f"--space: {path} is not valid TOML: {error}") from None
        if "space" in data:
            extra = sorted(set(data) - {"space"})
            if extra:
                raise SpaceError(f"{extra[0]}: outside [space]; put every parameter under "
                                 "[space] or none")
            data = data["space"]
        return cls(data)

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        """The varied parameters (fixed ones are not sampled)."""
        return {name: p.distribution for name, p in self.parameters.items() if not p.fixed}

    @property
    def fixed(self) -> dict[str, Any]:
        return {name: p.choices[0] for name, p in self.parameters.items()
                if p.fixed and p.choices is not None}

    @property
    def size(self) -> int:
        """Points in the space (combinations, valid or not)."""
        return math.prod(p.size for p in self.parameters.values())

    @property
    def has_cache(self) -> bool:
        return any(name in self.parameters for name in CACHE_PARAMETERS)

    def point(self, sampled: Mapping[str, Any]) -> dict[str, Any]:
        """Fixed values plus ``sampled``, in the space's parameter order."""
        values = {**self.fixed, **sampled}
        return {name: values[name] for name in self.parameters}

    def to_dict(self) -> dict[str, Any]:
        return {name: p.to_dict() for name, p in self.parameters.items()}

    def params_of(self, point: Mapping[str, Any]) -> dict[str, Any] | None:
        """The sampled parameters that make ``point`` (parameters it does not name take the
        generator's defaults), or ``None`` when the space does not hold it."""
        values = {**_DEFAULTS, **point}
        for name, parameter in self.parameters.items():
            if name not in values or values[name] not in parameter.values:
                return None
        if set(point) - set(self.parameters):
            return None
        return {name: values[name] for name in self.distributions}


def point_configs(point: Mapping[str, Any]) -> tuple[SystolicConfig, SparseCacheConfig | None]:
    """The generator configurations of a point; raises :class:`ConfigError` (the generator's
    own message, naming the parameter) when the combination is impossible."""
    systolic = {name: point[name] for name in SYSTOLIC_PARAMETERS if name in point}
    cfg = SystolicConfig(**systolic)
    if "fuse_variant" in point and point["fuse_variant"] not in FUSE_VARIANTS:
        raise ConfigError(f"fuse_variant: must be one of {', '.join(FUSE_VARIANTS)}")
    cache = {**_CACHE_DEFAULTS, **{k: point[k] for k in CACHE_PARAMETERS if k in point}}
    if not cache["null_entries"]:
        return cfg, None
    line, ways = cache["line_bytes"], cache["l1_ways"]
    data_bytes = cache["l1_kib"] * 1024
    if data_bytes % (line * ways):
        raise ConfigError(f"l1_kib: {cache['l1_kib']} KiB is not a whole number of "
                          f"{ways}-way sets of {line}-byte lines")
    try:
        cache_cfg = SparseCacheConfig(sets=data_bytes // (line * ways), ways=ways,
                                      line_bytes=line, null_entries=cache["null_entries"],
                                      word_format=cache["cache_word_format"])
    except CacheConfigError as error:
        message = str(error)
        for ours, theirs in (("l1_kib", "sets"), ("l1_ways", "ways"),
                             ("cache_word_format", "word_format")):
            if message.startswith(f"{theirs}:"):
                message = f"{ours} ({theirs}):" + message[len(theirs) + 1:]
        raise ConfigError(message) from None
    return cfg, cache_cfg


def canonical_point(cfg: SystolicConfig, cache: SparseCacheConfig | None,
                    point: Mapping[str, Any]) -> dict[str, Any]:
    """What decides a point's figures: the full configurations, and the FuSe variant when the
    array is FuSe-capable. Two sampled points with equal canonical points score the same."""
    canonical: dict[str, Any] = {"systolic": cfg.to_dict()}
    if cfg.fuse:
        canonical["fuse_variant"] = point.get("fuse_variant", "half")
    if cache is not None:
        canonical["sparsecache"] = cache.to_dict()
    return canonical


def point_hash(canonical: Mapping[str, Any], *context: str) -> str:
    """A short hash of a canonical point and whatever else the figures depend on."""
    text = json.dumps({"point": canonical, "context": list(context)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
