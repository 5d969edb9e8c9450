"""When to poll a task next. Pure: numbers in, numbers out.

The aim is one poll just after a task ends, and few polls before it:
- durations of tasks already finished in this run (turnaround from submit to
  end) form an empirical distribution; the next poll goes at a quantile of the
  time still remaining, *given* the task has already outlived what we waited;
- where the flavour reports ``progress``, two samples extrapolate the end;
- a floor keeps any one task from being polled too often, and the interval
  grows with the time already waited, so a flex task queued for hours is polled
  about once a minute after ten minutes, and more rarely after that.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass

# Before anything has finished, poll at these multiples of the floor.
COLD_START_FACTOR = 0.5
# Aim polls at this quantile of the remaining time: above the median, so most
# polls find the task done, below the tail, so detection stays quick.
TARGET_QUANTILE = 0.6
# Interval at least this fraction of the time already waited.
PATIENCE = 0.1
LONG_WAIT = 600.0
LONG_WAIT_INTERVAL = 60.0
MAX_INTERVAL = 300.0
# Small margin past the predicted end, so the poll lands after it.
MARGIN = 0.05


@dataclass(frozen=True)
class Observation:
    """What the last poll (or the create answer) told us about one task."""

    elapsed: float  # seconds since submit
    progress: float | None = None  # 0..100 when the flavour gives it
    prev_elapsed: float | None = None
    prev_progress: float | None = None


class DurationModel:
    """Recent turnaround times of finished tasks, per group of similar tasks."""

    def __init__(self, window: int = 200) -> None:
        self.window = window
        self._recent: dict[str, deque[float]] = {}
        self._sorted: dict[str, list[float]] = {}

    def observe(self, group: str, turnaround: float) -> None:
        recent = self._recent.setdefault(group, deque())
        ordered = self._sorted.setdefault(group, [])
        recent.append(turnaround)
        bisect.insort(ordered, turnaround)
        if len(recent) > self.window:
            old = recent.popleft()
            del ordered[bisect.bisect_left(ordered, old)]

    def samples(self, group: str) -> list[float]:
        return self._sorted.get(group, [])

    def expected(self, group: str) -> float | None:
        s = self.samples(group)
        return s[len(s) // 2] if s else None


def next_delay(obs: Observation, samples: list[float], floor: float) -> float:
    """Seconds until the next poll of a task, from now."""
    e = obs.elapsed
    lower = max(floor, PATIENCE * e)
    if e >= LONG_WAIT:
        lower = max(lower, LONG_WAIT_INTERVAL)
    target = _by_progress(obs)
    if target is None:
        target = _by_history(e, samples)
    if target is None:
        target = max(floor, COLD_START_FACTOR * max(e, floor))
    return min(max(target + MARGIN, lower), max(lower, MAX_INTERVAL))


def _by_progress(obs: Observation) -> float | None:
    if obs.progress is None or obs.prev_progress is None or obs.prev_elapsed is None:
        return None
    dp = obs.progress - obs.prev_progress
    dt = obs.elapsed - obs.prev_elapsed
    if dp <= 0 or dt <= 0 or obs.progress >= 100:
        return None
    return (100.0 - obs.progress) * dt / dp


def _by_history(elapsed: float, samples: list[float]) -> float | None:
    """The TARGET_QUANTILE of remaining time among samples longer than ``elapsed``."""
    if len(samples) < 3:
        return None
    i = bisect.bisect_right(samples, elapsed)
    longer = samples[i:]
    if not longer:
        return None  # outlived everything seen: fall back to patience
    pick = longer[min(len(longer) - 1, int(TARGET_QUANTILE * len(longer)))]
    return pick - elapsed
