"""What the exploration runs: a network from ``accelgen.sim.networks`` or a user's own layers
in SCALE-Sim's topology CSV format (see :func:`accelgen.sim.layers.parse_scalesim_csv`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from accelgen.generators.systolic import ConfigError
from accelgen.sim.layers import LayerSpec, parse_scalesim_csv, total_macs
from accelgen.sim.networks import NETWORKS, network

__all__ = ["Workload", "load_workload"]


@dataclass(frozen=True)
class Workload:
    """A named layer table; ``digest`` identifies its shapes (scores depend on nothing else)."""

    name: str
    source: str
    layers: tuple[LayerSpec, ...]

    @property
    def digest(self) -> str:
        text = repr([(x.kind, x.height, x.width, x.in_channels, x.out_channels, x.kernel,
                      x.stride, x.groups, x.padding, x.concat) for x in self.layers])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def macs(self) -> int:
        return total_macs(list(self.layers))

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "source": self.source, "layers": len(self.layers),
                "macs": self.macs, "digest": self.digest}


def load_workload(spec: str) -> Workload:
    """``spec`` is a network name (``mobilenet_v2``, ...) or the path of a ``.csv`` file."""
    if spec in NETWORKS:
        return Workload(spec, "accelgen.sim.networks", tuple(network(spec)))
    path = Path(spec)
    if path.suffix.lower() != ".csv":
        raise ConfigError(f"--workload: {spec!r} is neither a network ({', '.join(NETWORKS)}) "
                          "nor a SCALE-Sim topology .csv file")
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"--workload: cannot read {path}: {error.strerror}") from None
    try:
        layers = parse_scalesim_csv(text, path.stem)
    except ValueError as error:
        raise ConfigError(f"--workload: {error}") from None
    if not layers:
        raise ConfigError(f"--workload: {path} has no layers (a header row, then one row per "
                          "layer)")
    return Workload(path.stem, str(path), tuple(layers))
