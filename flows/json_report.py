"""Benchmark and command reports: JSON, written whole or not at all."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .atomic import write_atomically

__all__ = ["json_safe", "write_json_report"]


def write_json_report(path: Path, report: dict[str, Any]) -> Path:
    """Write ``report`` as indented JSON to ``path`` (its directory created), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2) + "\n"
    write_atomically(path, lambda tmp: tmp.write_text(text))
    return path


def json_safe(value: Any) -> Any:
    """JSON has no NaN or infinity: such numbers (in nested dicts and lists) become ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
