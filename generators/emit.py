"""Turn a configured generator into deterministic Verilog plus its JSON description."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amaranth.back import verilog

from .metadata import describe_component, generator_version
from .systolic import SystolicArray, SystolicConfig

__all__ = ["GeneratedDesign", "generate_systolic", "write_design"]


@dataclass(frozen=True)
class GeneratedDesign:
    name: str
    verilog: str
    description: dict[str, Any]

    @property
    def json_text(self) -> str:
        return json.dumps(self.description, indent=2, sort_keys=True) + "\n"


def generate_systolic(cfg: SystolicConfig) -> GeneratedDesign:
    array = SystolicArray(cfg)
    text = verilog.convert(array, name=cfg.name, emit_src=False) + "\n" + array.submodule_verilog()
    description = {
        "generator": "accelgen",
        "generator_version": generator_version(),
        "kind": "systolic",
        "module": cfg.name,
        "parameters": cfg.to_dict(),
        **describe_component(array),
    }
    return GeneratedDesign(cfg.name, text, description)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _write_atomically(path: Path, text: str) -> None:
    # A crash or a full disk must never leave a truncated file that looks finished.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files private; outputs are ordinary
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_design(design: GeneratedDesign, out_dir: Path) -> tuple[Path, Path]:
    """Write ``<name>.v`` and ``<name>.json`` into ``out_dir`` (created if missing)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    v_path = out_dir / f"{design.name}.v"
    j_path = out_dir / f"{design.name}.json"
    _write_atomically(v_path, design.verilog)
    _write_atomically(j_path, design.json_text)
    return v_path, j_path
