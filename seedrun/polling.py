"""When to poll a task next. Pure: numbers in, numbers out.

The aim is one poll just after a task ends, and few polls before it. Every
time here is *run* time, counted from the moment the task started on the
provider, never from submit: time spent queued behind other tasks says
nothing about how long this one will run (``seedrun.eta`` estimates the start).

- Run times of finished tasks form an empirical distribution per group of
  similar tasks (model, resolution, duration, draft, tier). The next poll goes
  at a quantile of the run time still ahead, *given* the task has already run
  as long as we saw. A campaign's earlier runs seed it (warm start) until this
  run has seen a few tasks of its own.
- Where the flavour reports ``progress``, two samples extrapolate the end.
- With no history at all, polls grow geometrically from the floor.
- A task that outlived every run time seen is polled at a fraction of its run
  so far: it is genuinely long, not just queued.
- Near the end of a run (``tail``) no gap may pass that moment by more than the
  floor, because only the last task's detection decides the makespan.
- Politeness: never more often than the floor, and once a task has waited ten
  minutes (a flex task may wait hours), about once a minute at most.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass

# Aim polls at this quantile of the remaining run time: above the median, so most
# polls find the task done, below the tail, so detection stays quick.
TARGET_QUANTILE = 0.6
# Once every task of the run is in flight, a task that cannot end the run gates
# nothing (no create waits for its slot): aim later, so most polls find it done.
RELAXED_QUANTILE = 0.85
# This many run times of the group seen in this run replace the warm start.
MIN_SAMPLES = 3
# No history: the next poll after half the run time so far (at least the floor).
COLD_GROWTH = 0.5
# Outlived every run time seen: poll at this fraction of the run so far.
OVERDUE_PATIENCE = 0.25
LONG_PATIENCE = 0.1
LONG_WAIT = 600.0
LONG_WAIT_INTERVAL = 60.0
MAX_INTERVAL = 300.0
# Small margin past a predicted end, so the poll lands after it.
MARGIN = 0.05


class DurationModel:
    """Run times (start to end) of finished tasks, per group of similar tasks.

    ``warm`` holds what a campaign's lockfile remembers (created to updated, which
    may include time queued, so it is an upper estimate); it is used only until
    this run has seen ``MIN_SAMPLES`` tasks of the group itself.
    """

    def __init__(self, window: int = 200) -> None:
        self.window = window
        self._recent: dict[str, deque[float]] = {}
        self._sorted: dict[str, list[float]] = {}
        self._warm: dict[str, list[float]] = {}
        self._vague: dict[str, list[float]] = {}
        self._size: dict[str, float] = {}

    def observe(self, group: str, run_seconds: float) -> None:
        recent = self._recent.setdefault(group, deque())
        ordered = self._sorted.setdefault(group, [])
        recent.append(run_seconds)
        bisect.insort(ordered, run_seconds)
        if len(recent) > self.window:
            old = recent.popleft()
            del ordered[bisect.bisect_left(ordered, old)]

    def warm(self, group: str, run_seconds: float) -> None:
        if run_seconds > 0:
            warm = self._warm.setdefault(group, [])
            if len(warm) < self.window:
                bisect.insort(warm, run_seconds)

    def vague(self, group: str, run_seconds: float) -> None:
        """A run time known only roughly (a task found done at its first poll: start
        and end both vague). Serves only while nothing better is known at all: a
        few such points, each off by the error of the prediction that placed the
        poll, would otherwise feed that error back into the next predictions."""
        if run_seconds > 0:
            vague = self._vague.setdefault(group, [])
            if len(vague) < self.window:
                bisect.insort(vague, run_seconds)

    def size(self, group: str, seconds: float) -> None:
        """The video seconds of the group's tasks: a group with no run time of
        its own borrows the others', scaled by this (a 15 s video runs about
        three times as long as a 5 s one)."""
        if seconds > 0:
            self._size[group] = seconds

    def smaller(self, group: str) -> set[str]:
        """The groups of shorter videos than this one's, whose run times it borrows."""
        size = self._size.get(group)
        if size is None:
            return set()
        return {g for g, other in self._size.items() if other < size}

    def samples(self, group: str) -> list[float]:
        live = self._sorted.get(group, [])
        if len(live) >= MIN_SAMPLES:
            return live
        if group in self._warm:
            return sorted(live + self._warm[group])
        if group in self._size:
            live = sorted(live + self._borrowed(group))
        return live or self._vague.get(group, [])

    def _borrowed(self, group: str) -> list[float]:
        size = self._size[group]
        out: list[float] = []
        for other, samples in self._sorted.items():
            if other != group and other in self._size and len(samples) >= MIN_SAMPLES:
                out.extend(x * size / self._size[other] for x in samples)
        return sorted(out)

    def expected(self, group: str) -> float | None:
        """The mean run time of the group, or of every group when it has none."""
        s = self.samples(group)
        if s:
            return sum(s) / len(s)
        groups = set(self._sorted) | set(self._warm) | set(self._vague)
        size = self._size.get(group)
        every: list[float] = []
        for g in groups:
            # Scaled by video seconds where both are known: a 15 s video's first
            # guess from 5 s ones is three times theirs, not theirs (which would
            # free the queue's slots early and poll queued tasks for nothing).
            scale = size / self._size[g] if size and g in self._size else 1.0
            every.extend(x * scale for x in self.samples(g))
        return sum(every) / len(every) if every else None

    def shortest(self, group: str) -> float | None:
        s = self.samples(group)
        return s[0] if len(s) >= MIN_SAMPLES else None


@dataclass(frozen=True)
class Outlook:
    """What is known of one task in flight, in the tracker's clock (seconds)."""

    now: float
    start: float  # when it started (estimated), or when it is predicted to start
    started: bool  # seen running or ended; False: still queued (start predicted)
    waited: float  # seconds since the create
    progress: tuple[tuple[float, float], ...] = ()  # (time, percent) samples, oldest first
    # Where the start surely lies, when known (seen queued before, running after).
    start_range: tuple[float, float] | None = None
    quantile: float = TARGET_QUANTILE  # of the run time still ahead, where polls aim


def next_poll(o: Outlook, samples: list[float], floor: float, tail: float | None = None) -> float:
    """The time (same clock as ``o.now``) of the task's next poll."""
    lower = o.now + floor
    if o.waited >= LONG_WAIT:
        lower = o.now + max(floor, LONG_WAIT_INTERVAL)
    target = _by_progress(o)
    if target is None:
        target = _by_one_progress(o, samples, floor)
    if target is None:
        target = _by_history(o, samples)
    if target is not None and tail is not None and o.waited < LONG_WAIT:
        # Near the run's end: no gap passes the moment the run could be over by
        # more than the floor. (Not for a task past every run time seen: how
        # long it still runs is anyone's guess, and polling it densely for that
        # long would cost more than it saves.)
        target = min(target, max(tail, lower))
    if target is None:
        ran = max(0.0, o.now - o.start)
        factor = COLD_GROWTH if len(samples) < MIN_SAMPLES else OVERDUE_PATIENCE
        # Growing gaps, but after long waits no more than a tenth of the wait
        # (or a minute): a task hours long is still seen soon after its end.
        gap = min(factor * ran, max(LONG_WAIT_INTERVAL, LONG_PATIENCE * ran))
        target = max(o.now, o.start) + max(floor, gap)
    return min(max(target + MARGIN, lower), max(lower, o.now + MAX_INTERVAL))


def _by_progress(o: Outlook) -> float | None:
    if len(o.progress) < 2:
        return None
    (t0, p0), (t1, p1) = o.progress[-2], o.progress[-1]
    if p1 <= p0 or t1 <= t0 or p1 >= 100:
        return None
    return t1 + (100.0 - p1) * (t1 - t0) / (p1 - p0)


def _by_one_progress(o: Outlook, samples: list[float], floor: float) -> float | None:
    """One progress sample and where the start lies: the run times seen that fit
    both (at time t, p % done, reported rounded down), and where each would end.
    With none that fit but a start known closely, the sample alone says when."""
    if not o.progress or o.start_range is None:
        return None
    t, p = o.progress[-1]
    if not 0 < p < 100:
        return None
    lo, hi = o.start_range
    ends = []
    for run in samples:
        a, b = max(lo, t - (p + 1) / 100 * run), min(hi, t - p / 100 * run)
        if a <= b:
            ends.append((a + b) / 2 + run)
    if ends:
        ends.sort()
        return ends[min(len(ends) - 1, int(o.quantile * len(ends)))]
    earliest = hi + (t - hi) * 100 / (p + 1)
    latest = lo + (t - lo) * 100 / p
    if latest - earliest <= max(floor, 0.2 * (latest - lo)):
        return earliest + o.quantile * (latest - earliest)
    return None


def _by_history(o: Outlook, samples: list[float]) -> float | None:
    """The ``o.quantile`` of the run time among samples longer than the run so far."""
    if len(samples) < MIN_SAMPLES:
        return None
    ran = max(0.0, o.now - o.start) if o.started else 0.0
    longer = samples[bisect.bisect_right(samples, ran) :]
    if not longer:
        return None  # outlived everything seen: patience
    pick = longer[min(len(longer) - 1, int(o.quantile * len(longer)))]
    return o.start + pick
