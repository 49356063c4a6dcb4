"""Stand-in scorers for the DSE tests: the real cycle model and an instant analytic area, so
the engine, storage and scale-out tests run in seconds (``Scoring.scorer = "tests.dse_scorer:
score"``). The real models are tested on their own and in the slow tests."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from accelgen.flows.dse.evaluate import latency_figures
from accelgen.flows.toolchain import ToolError

DELAY_ENV = "ACCELGEN_TEST_DSE_DELAY"


def score(cfg: Any, cache: Any, layers: Any, fuse_variant: str | None, scoring: Any
          ) -> dict[str, Any]:
    time.sleep(float(os.environ.get(DELAY_ENV, "0")))
    figures = latency_figures(cfg, layers, fuse_variant)
    pes = figures["pes"]
    kept = cfg.sparsity[0] if cfg.sparsity else 1
    per_pe = 9.0 * cfg.input_width * cfg.weight_width * kept + 40.0 * cfg.acc_width
    area = pes * per_pe + 300.0 * (cfg.rows + cfg.cols) + (800.0 if cfg.fuse else 0.0)
    if cache is not None:
        area += 60.0 * cache.null_entries
    power = round(0.5 * area / 100, 2)
    figures.update(area_ge=round(area, 1), power=power, energy=power * figures["cycles"],
                   fmax_mhz=120.0 - 2.0 * cfg.input_width)
    fidelity = {"latency": "model", "area": "model", "power": "model", "fmax": "model"}
    return {"figures": figures, "fidelity": fidelity}


def failing(cfg: Any, cache: Any, layers: Any, fuse_variant: str | None, scoring: Any
            ) -> dict[str, Any]:
    """Like :func:`score`, but a 2-row array's "synthesis" crashes, leaving a log."""
    if cfg.rows == 2:
        log = Path(os.environ.get("ACCELGEN_TEST_DSE_LOGDIR", "/tmp")) / "yosys_crash.log"
        log.write_text("ERROR: Assertion `cell != nullptr' failed.\n")
        raise ToolError(f"yosys failed (exit code 134) running `synth` (log: {log}):\n...")
    return score(cfg, cache, layers, fuse_variant, scoring)
