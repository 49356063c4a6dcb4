"""Benchmark and command reports: JSON, written whole or not at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .atomic import write_atomically

__all__ = ["write_json_report"]


def write_json_report(path: Path, report: dict[str, Any]) -> Path:
    """Write ``report`` as indented JSON to ``path`` (its directory created), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2) + "\n"
    write_atomically(path, lambda tmp: tmp.write_text(text))
    return path
