"""Which outputs of each loop a sampled trace runs, and which of their accesses it measures.

A loop (a layer's loop or its ReLU loop) runs over ``n`` outputs in storage order. The trace
measures about ``budget`` accesses in all, shared among the loops in proportion to their
accesses (proportional allocation): loop ``i`` gets ``S_i = budget * share_i /
sample_accesses`` windows, clamped to ``min_samples .. max_samples``. A loop whose whole run
costs at most ``S_i * (sample_accesses + warmup_accesses)`` accesses runs whole and is
measured whole. A longer one is cut into ``S_i`` equal strata, and in each a window of outputs
costing about ``sample_accesses`` is measured. A loop's estimate scales its measured counts by
``full accesses / measured accesses`` (stratified sampling).

Convolution, pooling and ReLU loops are periodic: each output channel plane starts with a
burst of misses (new weights, the input again), so their windows are stratified twice: window
``k`` of ``S`` lies in a random plane of the ``k``-th ``S``-quantile of planes and starts a
fraction ``k * max(L / P, 1 / S) + u`` (mod 1, one seeded ``u`` per loop) into it, for windows
of ``L`` outputs and planes of ``P``. So the windows spread evenly over the phases, and when
``S * L >= P`` they tile the plane: every phase is measured equally often.
Otherwise the first ``L`` outputs of every plane form a separate *head* stratum: the ``S``
windows are placed by phase in the rest of a plane, and ``max(1, S // 4)`` more windows each
measure the head of a random plane (their records carry the ``HEAD`` flag); each stratum is
scaled by its own ``full / measured`` accesses (``head_full_accesses`` in the metadata).

Before each window the caches are put into the state the complete run would have, in three
steps, none of them measured:

1. *History* (``warming_accesses``): the null cache remembers far longer than any window:
   which entries it holds (and, with coverage-aware LRU, which merged entries squat in it)
   depends on every zero line touched so far. Every ``step``-th skipped output since the
   previous window (``step`` chosen so that at most ``warming_accesses`` accesses per loop are
   scanned) is generated, and the distinct 32-byte lines it touches that are zero (in the
   complete run's values) become loads, in first-touch order. A load of a zero line moves the
   null cache exactly as the run would (a hit refreshes its entry, a miss inserts and merges)
   and never touches the L1.
2. *Recent lines* (``recent_accesses``, ``recent_lines``): an LRU cache's state is fixed by
   the order of the last touches of the most recent distinct lines. The last
   ``recent_accesses`` accesses before the window are generated and their ``recent_lines``
   most recently touched distinct lines are loaded, least recent first. This gives the L1
   (and the null cache's recency) the contents of the complete run, except that lines it
   would hold dirty are clean. (Runs that are only warm-up, such as the ReLU over outputs a
   convolution's windows computed, skip this step.)
3. *Warm-up* (``warmup_accesses``): the outputs right before the window run normally, which
   also restores dirty lines and the merger's timing.

Warming assumes 32-byte lines, the paper's.

Window ends sit on 64-byte boundaries of the output array when that makes a window at most a
quarter longer; for loops with very costly outputs (fully connected layers, deep
convolutions) they do not, and a window's first and last output line may then also hold
outputs the trace skips. Those words hold their final values in the initial image, so every
later load still reads the right value; only the zero test of those two lines can differ from
the complete run, a boundary effect of at most two lines per window.

``layers`` restricts a trace to some layers (the others run nowhere; their outputs are in the
initial image). ``Sampling.full()`` runs everything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["SAMPLING_COUNTS", "Piece", "Sampling", "Window", "head_outputs", "plan_pieces",
           "plan_windows"]

ALIGN_WORDS = 16  # 64 bytes of float32
SAMPLING_COUNTS = ("budget", "sample_accesses", "min_samples", "max_samples",
                   "warmup_accesses", "warming_accesses", "recent_accesses", "recent_lines")
"""The integer settings of :class:`Sampling`, in order."""


@dataclass(frozen=True)
class Sampling:
    """How much of each loop to run. ``budget = 0`` means everything (no sampling)."""

    budget: int = 400_000
    sample_accesses: int = 4000
    min_samples: int = 4
    max_samples: int = 64
    warmup_accesses: int = 1000
    warming_accesses: int = 200_000
    recent_accesses: int = 200_000
    recent_lines: int = 1536
    layers: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in SAMPLING_COUNTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"sampling.{name}: must be an integer >= 0, got {value!r}")
        if self.budget:
            if self.sample_accesses < 1:
                raise ValueError("sampling.sample_accesses: must be >= 1 when sampling")
            if not 1 <= self.min_samples <= self.max_samples:
                raise ValueError(f"sampling.min_samples, max_samples: need 1 <= min <= max, "
                                 f"got {self.min_samples}, {self.max_samples}")
        if self.layers is not None and not self.layers:
            raise ValueError("sampling.layers: give at least one layer, or None for all")

    @classmethod
    def full(cls, layers: tuple[str, ...] | None = None) -> Sampling:
        return cls(0, 0, 0, 0, 0, 0, 0, 0, layers)

    @property
    def is_full(self) -> bool:
        return self.budget == 0

    def samples_for(self, accesses: int, total: int) -> int:
        """Windows of a loop with ``accesses`` of the trace's ``total`` (0: run it whole)."""
        if self.is_full:
            return 0
        share = round(self.budget * accesses / max(1, total) / self.sample_accesses)
        return min(self.max_samples, max(self.min_samples, share))

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {name: getattr(self, name) for name in SAMPLING_COUNTS}
        out["layers"] = None if self.layers is None else list(self.layers)
        return out


@dataclass(frozen=True)
class Window:
    """Outputs ``start .. stop - 1`` run; ``measure_from .. stop - 1`` are measured; ``head``
    when the measured outputs are the head of a plane."""

    start: int
    measure_from: int
    stop: int
    head: bool = False


def _runs_whole(total: int, samples: int, sampling: Sampling) -> bool:
    return samples == 0 or total <= samples * (sampling.sample_accesses
                                               + sampling.warmup_accesses)


def head_outputs(costs: np.ndarray, period: int | None, sampling: Sampling, samples: int
                 ) -> int:
    """Outputs per plane in the head stratum (0: no head stratum)."""
    n = int(costs.size)
    total = int(costs.sum())
    if not period or n == 0 or _runs_whole(total, samples, sampling):
        return 0
    measured = max(1, math.ceil(sampling.sample_accesses / (total / n)))
    if samples * measured >= period or 2 * measured > period or samples < 2 \
            or n < 2 * period:
        return 0
    return measured


@dataclass(frozen=True)
class Piece:
    """Outputs ``start, start + step, ... < stop`` of a loop in one ``mode``: ``measured``,
    ``warmup`` (run, not counted), ``warming`` (history: zero lines only, as loads) or
    ``recent`` (the most recent distinct lines, as loads)."""

    start: int
    stop: int
    mode: str
    step: int = 1

    def outputs(self) -> np.ndarray:
        return np.arange(self.start, self.stop, self.step)


def _boundary(index: int, phase: int, unit: int, n: int, up: bool) -> int:
    """The nearest window boundary at or above (``up``) or below ``index``; boundaries are
    ``phase + unit * k`` and the loop's ends 0 and ``n``."""
    if index <= 0:
        return 0
    if index >= n:
        return n
    steps = (index - phase) / unit
    k = math.ceil(steps) if up else math.floor(steps)
    return min(n, max(0, phase + k * unit))


def plan_windows(costs: np.ndarray, first_word: int, sampling: Sampling, samples: int,
                 rng: np.random.Generator, period: int | None = None) -> list[Window]:
    """``samples`` windows of a loop whose outputs cost ``costs`` accesses each (one window
    over everything when that is cheaper, or ``samples`` is 0); ``first_word`` is the word
    offset of output 0 from a 64-byte boundary; ``period`` the outputs per channel plane
    (``None``: no plane structure)."""
    n = int(costs.size)
    total = int(costs.sum())
    if n == 0:
        return []
    if _runs_whole(total, samples, sampling):
        return [Window(0, 0, n)]
    average = total / n
    measured = max(1, math.ceil(sampling.sample_accesses / average))
    warmup = math.ceil(sampling.warmup_accesses / average)
    unit = ALIGN_WORDS if ALIGN_WORDS * average <= sampling.sample_accesses / 4 else 1
    phase = (-first_word) % unit
    offset = rng.random()
    head = head_outputs(costs, period, sampling, samples)
    if head:
        unit, phase = 1, 0
    heads = {round(i * samples / max(1, samples // 4))
             for i in range(max(1, samples // 4))} if head else set()
    candidates: list[Window] = []
    planes = n // period if period and period > 1 else 0
    for stratum in range(samples):
        if planes:
            # Plane stratified over the loop, phase stratified over the plane.
            plane = min(planes - 1, int((stratum + rng.random()) * planes / samples))
            span = period - 2 * head if head else period
            fraction = (stratum * max(measured / span, 1 / samples) + offset) % 1.0
            shift = head + int(fraction * span)
            begin = min(plane * period + shift, n - measured)
            if stratum in heads:
                other = min(planes - 1, int((stratum + rng.random()) * planes / samples))
                candidates.append(Window(max(0, other * period - warmup), other * period,
                                         other * period + head, True))
        else:
            low, high = stratum * n // samples, (stratum + 1) * n // samples
            begin = int(rng.integers(low, max(low, high - measured) + 1))
        begin = _boundary(max(begin, 0), phase, unit, n, up=True)
        end = _boundary(begin + measured, phase, unit, n, up=True)
        start = _boundary(begin - warmup, phase, unit, n, up=False)
        candidates.append(Window(start, begin, end))
    windows: list[Window] = []
    for window in sorted(candidates, key=lambda w: (w.measure_from, w.head)):
        if windows and window.start < windows[-1].stop:
            last = windows[-1]
            if window.head or last.head:
                continue  # a head window overlapping another window is dropped
            if window.measure_from <= last.stop:  # overlapping body windows merge
                windows[-1] = Window(last.start, last.measure_from, max(last.stop, window.stop))
                continue
            window = Window(last.stop, window.measure_from, window.stop)
        if window.measure_from < window.stop:
            windows.append(window)
    return windows


def plan_pieces(runs: list[tuple[int, int, str]], costs: np.ndarray, sampling: Sampling
                ) -> list[Piece]:
    """``runs`` (sorted, disjoint ``(start, stop, mode)`` ranges the loop runs) with the
    history and recent-line warming of the skipped gaps before them (and history warming of
    the gap after the last one, which later loops see)."""
    n = int(costs.size)
    gaps, position = [], 0
    for start, stop, _ in runs:
        if start > position:
            gaps.append((position, start))
        position = max(position, stop)
    if position < n:
        gaps.append((position, n))
    skipped = sum(int(costs[a:b].sum()) for a, b in gaps)
    step = math.ceil(skipped / sampling.warming_accesses) if sampling.warming_accesses else 0
    average = float(costs.mean()) if n else 1.0
    lookback = math.ceil(sampling.recent_accesses / average) if sampling.recent_lines else 0
    pieces: list[Piece] = []
    gap_at = dict(gaps)
    for number, (start, stop, mode) in enumerate(runs):
        gap_start = next((a for a, b in gap_at.items() if b == start), None)
        if gap_start is not None:
            del gap_at[gap_start]
            if step:
                pieces.append(Piece(gap_start, start, "warming", step))
            following = runs[number + 1] if number + 1 < len(runs) else None
            leads = mode != "warmup" or (following is not None and following[0] == stop
                                         and following[2] != "warmup")
            if lookback and leads:
                pieces.append(Piece(max(gap_start, start - lookback), start, "recent"))
        pieces.append(Piece(start, stop, mode))
    if step:
        pieces.extend(Piece(a, b, "warming", step) for a, b in sorted(gap_at.items()))
    return pieces
