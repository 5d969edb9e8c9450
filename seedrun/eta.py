"""When will each task start and end: the provider as a first-come-first-served queue.

Pure: times are plain floats on the tracker's clock, answers are TaskStates.

What the provider says is all there is to learn from, so every fact is kept as
an interval:
- a task's *start* lies after the last moment it was seen queued and before the
  first moment it was seen running (or ended); the official flavour's
  ``updated_at`` of a running answer is the start to the second, and narrows it;
- its *end* lies after the last poll that found it running and before the poll
  that found it done (``updated_at`` of the final answer narrows it too).
Run time is end minus start, so time spent queued never counts as running.

Server timestamps are epoch seconds on the provider's clock. ``ServerClock``
maps them onto ours: each create brackets the server's ``created_at`` between
our send and our receipt, and the intersection of those brackets is the offset.

A queued task's start is predicted by playing the provider's queue forward:
``cap`` slots (the most tasks seen running at once), each freed at the
predicted end of the task in it, taken by queued tasks in the order they were
created. The same play, with the jobs not yet sent appended, gives the ETA.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from seedrun.models import TaskState
from seedrun.polling import (
    MIN_SAMPLES,
    RELAXED_QUANTILE,
    TARGET_QUANTILE,
    DurationModel,
    Outlook,
    next_poll,
)

# Without any create to bracket it, assume the provider's clock is ours to this much.
DEFAULT_SKEW = 0.25
# Keep ended tasks this long for counting how many ran at once.
RECENT_ENDS = 120.0
GOLDEN = 0.6180339887498949
# Play the queue again at most this often (seconds): a 10,000-task queue takes a while.
REPLAN_EVERY = 0.2
# A unified task whose status the probes have not settled is asked after this long anyway.
UNSURE_HOLD = 30.0
# Nothing known of a kind of task: this many are polled at the cold pace; the
# others first after HOLD_FIRST floors, then at HOLD_GROWTH times their run so
# far, until the scouts' run times place them.
SCOUTS = 4
HOLD_FIRST = 4
HOLD_GROWTH = 2.0


class ServerClock:
    """The provider's epoch clock as an offset from ours: ``server = ours + offset``."""

    def __init__(self, offset: float) -> None:
        self.guess = offset
        self.lo = offset - DEFAULT_SKEW
        self.hi = offset + DEFAULT_SKEW
        self.bracketed = False

    def bracket(self, stamp: int, sent: float, received: float) -> None:
        """``stamp`` (whole seconds, rounded down) was read between ``sent`` and ``received``."""
        lo, hi = stamp - received, stamp + 1 - sent
        # Narrowed by what we knew (at first: the guess that its clock is ours, give
        # or take DEFAULT_SKEW), unless the two disagree: then the answer wins.
        if max(lo, self.lo) <= min(hi, self.hi):
            lo, hi = max(lo, self.lo), min(hi, self.hi)
        self.lo, self.hi, self.bracketed = lo, hi, True

    def local(self, stamp: int) -> tuple[float, float]:
        """Our times between which the whole server second ``stamp`` may have begun/ended."""
        return stamp - self.hi, stamp + 1 - self.lo


@dataclass
class Track:
    """What is known of one task (the tracker's clock)."""

    task_id: str
    group: str
    order: tuple[float, int]
    created: float
    status: str = "unknown"  # unknown (resumed) | sent | queued | running | done
    not_before: float = 0.0  # the start is later than this
    start_lo: float | None = None
    start_hi: float | None = None
    checked: float = 0.0  # last moment known not done
    end: float | None = None
    freed: float | None = None  # when its slot freed, for the queue's play
    progress: tuple[tuple[float, float], ...] = ()
    predicted: float | None = None  # predicted start while queued
    counted: bool = False  # its start was counted for the cap
    fair: bool = False  # its run time is a fair sample (see _learn)
    inferred: bool = False  # known started only because a later task had (FCFS)

    @property
    def started(self) -> bool:
        return self.start_hi is not None

    def paced(self) -> tuple[float, float] | None:
        """Start and end from two progress samples (linear progress): the start is
        where the pace extrapolates back to 0 %, the end where it reaches 100 %.
        The provider reports whole percents, rounded down: each is taken as p + 0.5."""
        if len(self.progress) < 2:
            return None
        (t0, p0), (t1, p1) = self.progress[-2], self.progress[-1]
        if p1 <= p0 or t1 <= t0:
            return None
        per_second = (p1 - p0) / (t1 - t0)
        return t0 - (p0 + 0.5) / per_second, t1 + (100 - p1 - 0.5) / per_second

    def pinned_start(self, end: float) -> float | None:
        """The start that the first progress sample implies, given the end: at time
        t, p % of the run from the start to ``end`` was done (linear progress)."""
        if not self.progress:
            return None
        t, p = self.progress[0]
        share = (p + 0.5) / 100  # the provider reports whole percents, rounded down
        if not 0 < share < 1 or end <= t:
            return None
        return (t - share * end) / (1 - share)

    def start(self, run: float | None) -> float:
        """The best single estimate of the start (predicted while queued)."""
        if self.start_lo is not None and self.start_hi is not None:
            lo = self.start_lo
            if self.progress and run:
                # Progress pins the start: at time t, p % of the run was done.
                t, p = self.progress[-1]
                lo = max(lo, min(self.start_hi, t - p / 100 * run))
                return lo
            return (lo + self.start_hi) / 2
        if self.predicted is not None:
            return max(self.predicted, self.not_before)
        return max(self.created, self.not_before)


@dataclass(frozen=True)
class RunView:
    """Counts and forecast for a live view."""

    queued: int
    running: int
    cap: int | None
    eta: float | None  # absolute time (tracker clock) the last task is predicted to end


@dataclass
class Forecast:
    """Every task in flight, the provider's queue, and the run times learnt so far."""

    floor: float
    clock: ServerClock
    runtimes: DurationModel = field(default_factory=DurationModel)
    expected: int | None = None  # tasks this run will watch in all (None: unknown)
    cap: int | None = None
    tracks: dict[str, Track] = field(default_factory=dict)
    added: int = 0
    ends_seen: int = 0
    _running: dict[str, Track] = field(default_factory=dict)
    _unsure: dict[str, Track] = field(default_factory=dict)  # created, status unknown
    _recent: list[Track] = field(default_factory=list)
    _dirty: bool = True
    _planned_at: float = float("-inf")
    _tail: float | None = None
    _spread: float = 0.0
    _queue_seen: bool = False
    _urgent: bool = False
    _exact_min: dict[str, float] = field(default_factory=dict)
    _probes: dict[str, str] = field(default_factory=dict)  # group -> unsure task asked now
    _scouts: dict[str, set[str]] = field(default_factory=dict)  # group -> tasks polled cold
    _holding: set[str] = field(default_factory=set)  # held until the scouts report
    _touched: set[str] = field(default_factory=set)  # due again at the next plan
    _top_ends: list[tuple[str, float]] = field(default_factory=list)  # see _compute_tail

    # ------------------------------------------------------------ facts in

    def warm(self, history: Iterable[tuple[str, float]], *, measured: bool = False) -> None:
        """Run times a lockfile remembers, as (group, seconds). ``measured``: run
        times an earlier run measured closely (``run_seconds``), as good as this
        run's own (a resume's first samples are the tasks running at that moment,
        the long ones more likely, so they must not replace them); else rough
        upper estimates (created to updated), used until this run measures."""
        for group, seconds in history:
            if measured:
                self.runtimes.observe(group, seconds)
            else:
                self.runtimes.warm(group, seconds)

    def add(
        self,
        task_id: str,
        group: str,
        *,
        sent: float,
        received: float,
        state: TaskState,
        fresh: bool,
        order: float | None = None,
        trust_status: bool = True,
    ) -> Track:
        """A task to follow: ``fresh`` from a create answered between ``sent`` and
        ``received``; else resumed from a lockfile (``sent`` is then its creation,
        as well as it is known, and its status is stale)."""
        # FCFS order: a fresh task's by when its create was answered (the send
        # times of creates made together are scrambled by the journal and the
        # pacer; the answers come back nearly in the provider's order); a resumed
        # task's by the same moment when the lockfile has it (``order``), else by
        # its creation, known to the second (ties: a guess).
        if fresh:
            key = (received, self.added)
        else:
            key = (order if order is not None else sent, self.added)
        track = Track(task_id, group, key, created=sent, not_before=sent, checked=sent)
        self.added += 1
        self.tracks[task_id] = track
        if fresh:
            track.status = "sent"
            if state.created_at is not None:
                self.clock.bracket(state.created_at, sent, received)
            if trust_status:
                self._learn(track, state, sent, received)
            else:
                self._unsure[task_id] = track
        self._dirty = True
        return track

    def observe(
        self, task_id: str, state: TaskState, *, sent: float, received: float
    ) -> float | None:
        """A poll answer for the task, asked at ``sent`` and answered at ``received``.

        Returns the task's run time when this answer ended it and the run time was
        measured closely enough to learn from (the lockfile keeps it)."""
        track = self.tracks.get(task_id)
        if track is None:
            return None
        self._dirty = True
        return self._learn(track, state, sent, received)

    def drop(self, task_id: str) -> None:
        t = self.tracks.pop(task_id, None)
        if t is not None and self._probes.get(t.group) == task_id:
            del self._probes[t.group]
        self._holding.discard(task_id)
        self._unsure.pop(task_id, None)
        self._running.pop(task_id, None)
        self._dirty = True

    def _learn(self, t: Track, state: TaskState, sent: float, received: float) -> float | None:
        self._unsure.pop(t.task_id, None)
        if self._probes.get(t.group) == t.task_id:
            del self._probes[t.group]
            self._urgent = True  # the next probe goes at once
        if state.status == "queued":
            if t.status != "queued":
                t.predicted = None  # first sure sign it waits: placed again before its next poll
            t.status = "queued"
            t.not_before = max(t.not_before, sent)
            self._behind_queued(t, sent)
            t.checked = max(t.checked, sent)
            self._count_cap(received, queued=True)
            return None
        first_sight = t.start_hi is None or t.inferred
        if t.start_hi is None:
            lo, hi = t.not_before, received
            if state.status == "running" and state.updated_at is not None:
                lo, hi = _narrow(lo, hi, self.clock.local(state.updated_at))
            elif state.status != "running":
                # Started and ended between two polls: it ran at least the shortest
                # run seen, so it started that much before this answer.
                hi = max(lo, hi - (self.runtimes.shortest(t.group) or 0.0))
            t.start_lo, t.start_hi = lo, hi
            self._running[t.task_id] = t
            self._ahead_started(t)
        if first_sight:
            # Seen running by a poll whose moment did not hang on its run time (a
            # create's answer, a resumed task's first poll, or one made before any
            # task could have ended)? Only then is its run time a fair sample: a
            # poll aimed at its predicted end finds it running only if it is long.
            shortest = self._exact_min.get(t.group, 2 * self.floor)
            at_create = t.status == "sent" and received - t.order[0] <= self.floor
            # A resumed task seen running is one of those running at the moment
            # of the resume, which favours the long ones (a task twice as long is
            # twice as likely to be caught running): fair only while the lockfile
            # gave nothing better, else every queued start drifts later.
            resumed = t.status == "unknown" and not self.has_samples(t.group)
            t.fair = state.status == "running" and (
                at_create or resumed or sent - t.start(None) <= shortest
            )
            t.inferred = False
        if state.status == "running":
            t.status = "running"
            t.checked = max(t.checked, sent)
            if state.progress is not None and state.progress > 0:
                t.progress = (*t.progress[-1:], ((sent + received) / 2, float(state.progress)))
            if not t.counted:
                # Counted when its answer came: answers of creates sent together
                # arrive in any order, and at this moment all those seen are running.
                t.counted = True
                self._count_cap(received, queued=False)
            return None
        # Ended (succeeded, failed, cancelled).
        if first_sight:
            # Never seen running: it ended at least the shortest run after its
            # earliest start, not at this answer (else the slot it frees in the
            # queue's play would free late, and every prediction after it).
            shortest = self.runtimes.shortest(t.group) or 0.0
            lo = max(t.checked, (t.start_lo or t.checked) + shortest)
        else:
            lo = max(t.checked, t.start_hi or t.checked)
        hi = received
        # The width at which the end counts as seen closely: two floors, or the
        # provider's own second when its updated_at bounds the end.
        close = 2 * self.floor
        if state.updated_at is not None:
            second = self.clock.local(state.updated_at)
            lo, hi = _narrow(lo, hi, second)
            close = max(close, second[1] - second[0])
        lo = min(lo, hi)
        start = t.start(None)
        if (
            first_sight
            and t.predicted is not None
            and t.start_lo is not None
            and t.start_hi is not None
            and t.start_lo <= t.predicted <= t.start_hi
        ):
            start = t.predicted  # the queue's play placed it there, and nothing says no
        t.end = self._likely_end(t.group, start, lo, hi)
        paced = t.paced()
        # One sample pins the start only given an end seen closely: an end spread
        # through a wide interval would put the start anywhere.
        narrow = hi - lo <= 2 * self.floor
        pinned = t.pinned_start(t.end) if paced is None and narrow else None
        if (paced or pinned) and t.start_lo is not None and t.start_hi is not None:
            # Progress seen on the way: the start follows from it, however long the
            # task sat unseen in the queue (two samples give the end too).
            if paced is not None:
                start, end = paced
                t.end = min(max(end, lo), hi)
            else:
                start = pinned or start
            start = min(max(start, t.start_lo), t.start_hi, t.end)
            t.start_lo = t.start_hi = start
            t.fair = True
        t.status = "done"
        # The slot it held freed at its end; seen only roughly (found done at its
        # first poll), at the end its own predicted timeline gives, within what is
        # known. (The spread point learnt from would scatter the play's slots, and
        # the latest of them, which the play keeps, would drift every start later.)
        t.freed = t.end
        if hi - lo <= close and paced is None:
            # Known to the provider's second: the middle of it is the unbiased
            # guess. (Clamping the predicted end into it would keep the play's
            # error, up to a second, and pass it to every task after.)
            t.freed = (lo + hi) / 2
        elif hi - lo > 2 * self.floor and paced is None:
            expected = self.runtimes.expected(t.group)
            if expected is not None:
                t.freed = min(max(start + expected, lo), hi)
        self.ends_seen += 1
        measured = None
        if state.status == "succeeded" and t.start_lo is not None and t.start_hi is not None:
            width = t.start_hi - t.start_lo
            run = t.end - start
            # A task never seen running (resumed, or queued then done) has a vague
            # start: its run time only serves until closer ones are known.
            if run > 0 and t.fair and width <= max(0.5 * run, 2 * self.floor):
                self.runtimes.observe(t.group, run)
                measured = run
                if self._holding and self.has_samples(t.group):
                    # The scouts have reported: the tasks held place by the model now.
                    self._touched |= self._holding
                    self._holding.clear()
                    self._urgent = True
            elif run > 0:
                self.runtimes.vague(t.group, run)
        self.drop(t.task_id)
        self._recent.append(t)
        return measured

    def _likely_end(self, group: str, start: float, lo: float, hi: float) -> float:
        """Where in (lo, hi] a task that started at ``start`` ended, for learning.

        Polls aim at quantiles of the run time, so a task found done at its first
        poll ended anywhere between its shortest possible run and that poll.
        Taking the middle of each such interval would squeeze the distribution
        (and the mean of runs seen in it would collapse it onto one value); so a
        wide interval gives a point spread evenly through it, from a
        low-discrepancy sequence, the shortest run seen being its lower bound.
        """
        if hi - lo <= 2 * self.floor:
            run = (lo + hi) / 2 - start
            self._exact_min[group] = min(self._exact_min.get(group, math.inf), run)
            return (lo + hi) / 2
        shortest = start + self._exact_min.get(group, -math.inf)
        if lo < shortest < hi:
            lo = shortest
        self._spread = (self._spread + GOLDEN) % 1.0
        return lo + self._spread * (hi - lo)

    def _behind_queued(self, t: Track, at: float) -> None:
        """First come, first served: tasks of its kind created after a task that
        waits at ``at`` wait too. A unified create's answer says nothing, so this
        spares asking each of them (same kind only: flex tasks join late)."""
        for other in list(self._unsure.values()):
            if other.status != "sent":
                self._unsure.pop(other.task_id, None)
            elif other.group == t.group and other.order > t.order and other.created <= at:
                other.status = "queued"
                other.not_before = max(other.not_before, at)
                other.predicted = None
                self._unsure.pop(other.task_id, None)

    def _ahead_started(self, t: Track) -> None:
        """First come, first served: tasks of its kind created before a task that has
        started have started too (by then). Spares asking each unified task."""
        if t.start_hi is None:
            return
        found = False
        for other in list(self._unsure.values()):
            if other.group != t.group or other.order >= t.order or other.status != "sent":
                continue
            self._unsure.pop(other.task_id, None)
            other.status = "running"
            other.inferred = True
            other.start_lo = other.not_before
            other.start_hi = max(other.not_before, t.start_hi)
            other.counted = True
            self._running[other.task_id] = other
            self._touched.add(other.task_id)
            found = True
        if found:
            self._count_cap(t.start_hi, queued=False)

    def _count_cap(self, at: float, *, queued: bool) -> None:
        """The cap is at least the number of tasks running at one moment; when a
        task waits in the queue at that moment, the count is the cap itself."""
        self._recent = [t for t in self._recent if t.end is not None and t.end > at - RECENT_ENDS]
        running = 0
        for t in (*self._running.values(), *self._recent):
            if t.start_hi is None or t.start(None) > at:
                continue
            if self._ended_by(t, at):
                continue
            running += 1
        if queued:
            self._queue_seen = True
        if running and self._queue_seen and running > (self.cap or 0):
            self.cap = running
            self._urgent = True  # every queued task's predicted start moves

    def _ended_by(self, t: Track, at: float) -> bool:
        if t.end is not None:
            return t.end <= at
        if at <= t.checked + self.floor:
            return False  # seen running a moment ago (answers of one round arrive spread)
        shortest = self.runtimes.shortest(t.group)
        return shortest is not None and t.start(None) + shortest <= at

    # ------------------------------------------------------------ forecasts out

    def plan(self, now: float, *, force: bool = False) -> list[str]:
        """Predict the start of every queued task by playing the queue forward.

        Returns the queued tasks whose predicted start is new or came sooner by
        more than half the floor: their next poll is due sooner."""
        if not self._dirty or (
            not force and not self._urgent and now - self._planned_at < REPLAN_EVERY
        ):
            return []
        self._dirty = self._urgent = False
        self._planned_at = now
        self._choose_probes()
        slots: list[float] = []
        waiting: list[Track] = []
        for t in self.tracks.values():
            if t.started:
                slots.append(self._expected_end(t, now))
            else:
                waiting.append(t)
        # Among tasks created in the same second (a resume knows no better), one
        # seen queued lately goes behind those not asked since: they may have started.
        waiting.sort(key=lambda t: (t.order[0], t.not_before, t.order[1]))
        moved: list[str] = []
        cap = self.cap
        if cap is None and self._queue_seen:
            # The provider queues, and its cap is not counted yet: as many as are
            # known to run. None known: while unified probes look for the ones
            # running, wait for them; else (every answer said queued) ask again.
            cap = len(slots) if self._unsure or slots else 1
        if cap:
            # More running than the cap: the ones ending first have ended, and
            # those presumed started took their slots. Each slot frees at the
            # end of its last occupant, which may be a task seen ended lately:
            # the task after it started then, not when we happen to replan.
            slots.extend(t.freed for t in self._recent if t.freed is not None)
            slots.sort()
            slots = slots[-cap:] + [now] * max(0, cap - len(slots))
            heapq.heapify(slots)
        previous = -math.inf
        # Tasks resumed and not asked yet may run: until they answer, the queue is unknown.
        asking = any(t.status == "unknown" for t in waiting)
        for t in waiting:
            run = self.runtimes.expected(t.group)
            # Predicted to have started, and nothing says otherwise: it keeps its
            # start unless the play now has it sooner (replaying it from now would
            # slide every prediction later at each plan until a poll confirms it;
            # an end seen sooner than predicted, before it, moves it sooner).
            kept = (
                t.predicted
                if t.predicted is not None and t.not_before < t.predicted <= now and run
                else math.inf
            )
            if asking and t.status != "unknown":
                start = kept
            elif cap is None:
                start = min(kept, max(now, t.not_before))
            elif cap == 0:
                start = kept  # it waits for tasks not known to run yet
            else:
                free = heapq.heappop(slots)
                start = min(kept, max(free, t.not_before, previous))
                heapq.heappush(slots, start + (run or self.floor))
            # Only a start sooner than thought moves a poll: a later one would slide
            # it along with "now" for as long as the queue's head is overdue.
            if t.predicted is None or start < t.predicted - self.floor / 2:
                moved.append(t.task_id)
            t.predicted = previous = start
        self._tail = self._compute_tail()
        if self._touched:
            moved.extend(x for x in self._touched if x in self.tracks)
            self._touched.clear()
        return moved

    def _choose_probes(self) -> None:
        """A unified create answers ``queued`` whatever the task does, so its status
        is asked. First come, first served makes the statuses in creation order
        run, run, ..., queued, queued: one task asked at a time, halving the unsure
        ones each answer, finds where the queue starts in log2(n) requests."""
        groups: dict[str, list[Track]] = {}
        for t in self._unsure.values():
            if t.status == "sent":
                groups.setdefault(t.group, []).append(t)
        for group, unsure in groups.items():
            if group in self._probes and self._probes[group] in self._unsure:
                continue
            unsure.sort(key=lambda t: t.order)
            probe = unsure[len(unsure) // 2]
            self._probes[group] = probe.task_id
            self._touched.add(probe.task_id)

    def _expected_end(self, t: Track, now: float) -> float:
        run = self.runtimes.expected(t.group)
        if run is None and not self.ends_seen:
            # Nothing has ended yet: no slot frees before the first end, which
            # will replan the queue. (Polling the queued ones now would be waste.)
            return math.inf
        start = t.start(run)
        samples = self.runtimes.samples(t.group)
        ran = t.checked - start
        longer = [s for s in samples if s > ran]
        # Not clamped to now: an overdue task may have ended (and freed its slot)
        # at its expected end, and the next queued task started then.
        if longer:
            return start + sum(longer) / len(longer)
        return t.checked + max(self.floor, ran * 0.25)

    def tail(self) -> float | None:
        """Once every task of the run is in flight: the moment before which the run
        surely is not over (the latest earliest-possible end of a task in flight).
        As of the last ``plan``."""
        return self._tail

    def _compute_tail(self) -> float | None:
        """Also keeps the two tasks with the latest earliest-possible ends, by which
        ``_may_be_last`` tells whether a task may end the run."""
        self._top_ends = []
        if self.expected is not None and self.added < self.expected:
            return None
        latest: float | None = None
        ends_lo: dict[str, float] = {}
        for t in self.tracks.values():
            # The shortest run measured closely; else a low quantile of the runs
            # seen (one spread from a wide interval may be far too short).
            shortest = self._exact_min.get(t.group)
            if shortest is None:
                samples = self.runtimes.samples(t.group)
                if len(samples) < MIN_SAMPLES:
                    return None
                shortest = samples[len(samples) // 4]
            end_lo = t.start(self.runtimes.expected(t.group)) + shortest
            latest = end_lo if latest is None else max(latest, end_lo)
            # Seen running a moment ago: it ends later than that, whatever it ran.
            ends_lo[t.task_id] = max(end_lo, t.checked) if t.started else end_lo
        self._top_ends = heapq.nlargest(2, ends_lo.items(), key=lambda kv: kv[1])
        return latest

    def _may_be_last(self, t: Track, run: float | None, samples: list[float]) -> bool:
        """Could this task be the one that ends the run? Only then is its end worth
        seeing within the floor: a task that surely ends before another task
        surely ends is seen in time at its own pace. (``samples``: its group's.)"""
        if self._tail is None:
            return False
        others = [end for task_id, end in self._top_ends if task_id != t.task_id]
        if not others:
            return True
        if not samples or t.start_hi is None:
            return True  # not known to have started: it may start late
        if t.checked - t.start(run) >= samples[-1]:
            return True  # outlived every run seen: no telling when it ends
        # Its latest start, plus the longest run seen: its latest plausible end.
        return t.start_hi + samples[-1] >= others[0]

    def unsettled(self, task_id: str) -> bool:
        """Not placed by a plan yet, or a unified task whose status the probes have
        not settled: a due given now only holds its place."""
        return self.unplanned(task_id) or task_id in self._unsure or task_id in self._holding

    def unplanned(self, task_id: str) -> bool:
        """Queued (or not known to run) and not yet placed by a ``plan``."""
        t = self.tracks.get(task_id)
        return t is not None and not t.started and t.predicted is None and t.status != "unknown"

    def due(self, task_id: str, now: float) -> float:
        """When to poll the task next (as of the last ``plan``)."""
        t = self.tracks[task_id]
        if t.status == "unknown" and t.start_hi is None:
            return now  # resumed: what it is doing now is the first thing to learn
        if t.task_id in self._unsure and t.status == "sent":
            if self._probes.get(t.group) == t.task_id:
                return now
            # Settled by the probes (a plan hands it back then); this is a backstop.
            return now + UNSURE_HOLD
        if not t.started and t.predicted is None:
            # Not in the queue's play yet: the next plan (soon) places it.
            return now + REPLAN_EVERY + self.floor
        run = self.runtimes.expected(t.group)
        if not t.started and run is not None and not self.has_samples(t.group):
            # Queued, and a run time or two seen: poll when it could be done, not
            # at the floor from its predicted start.
            return max(now + self.floor, t.start(run) + run)
        samples = self.runtimes.samples(t.group)
        if t.started and not t.progress and len(samples) < MIN_SAMPLES:
            held = self._scout(t, now, run)
            if held is not None:
                return held
        last = self._may_be_last(t, run, samples)
        outlook = Outlook(
            now=now,
            start=t.start(run),
            started=t.started,
            waited=now - t.created,
            progress=t.progress,
            start_range=(
                (t.start_lo, t.start_hi)
                if t.start_lo is not None and t.start_hi is not None
                else None
            ),
            # Every task sent and this one cannot end the run: its end gates nothing.
            quantile=RELAXED_QUANTILE if self._tail is not None and not last else TARGET_QUANTILE,
        )
        # The run is over only once every task is seen done: a task that cannot end
        # the run is still seen by the moment the run could be over (its latest
        # plausible end is before it, so that poll finds it done), lest its own
        # relaxed pace see it after the last one. Only a possible last task is
        # polled at the floor from then on.
        tail = self._tail if last or (self._tail is not None and self._tail > now) else None
        return next_poll(outlook, samples, self.floor, tail)

    def _scout(self, t: Track, now: float, run: float | None) -> float | None:
        """Nothing known yet of how long this kind of task runs: a few tasks of the
        kind (scouts) are polled at the cold pace to learn it, and the others are
        held at a slower one until the scouts' run times place them (a plan hands
        them back then). Returns the held due, or None for a scout."""
        scouts = self._scouts.setdefault(t.group, set())
        scouts.intersection_update(self.tracks)
        # Shorter videos of the run are running and not measured yet: they end
        # first, and their run times, scaled, place this kind too. No scouts here.
        smaller = self.runtimes.smaller(t.group)
        borrows = bool(smaller) and any(
            o.group in smaller and not self.has_samples(o.group) for o in self._running.values()
        )
        if t.task_id in scouts or (len(scouts) < SCOUTS and not borrows):
            scouts.add(t.task_id)
            return None
        self._holding.add(t.task_id)
        start = t.start(run)
        ran = max(0.0, now - start)
        return max(now + self.floor, start + max(HOLD_FIRST * self.floor, HOLD_GROWTH * ran))

    def counts(self, now: float | None = None) -> tuple[int, int]:
        """(queued, running) among the tasks in flight: seen running, or (given
        ``now``) predicted to have started by then."""
        running = len(self._running)
        if now is not None:
            running += sum(
                1
                for t in self.tracks.values()
                if not t.started and t.predicted is not None and t.predicted <= now
            )
        return len(self.tracks) - running, running

    def view(self, now: float, pending: int = 0, max_in_flight: int | None = None) -> RunView:
        """Counts and the predicted end of the whole run (``pending`` jobs not sent yet)."""
        queued, running = self.counts(now)
        return RunView(queued, running, self.cap, self._eta(now, pending, max_in_flight))

    def _eta(self, now: float, pending: int, max_in_flight: int | None) -> float | None:
        ends: list[float] = []
        for t in self.tracks.values():
            run = self.runtimes.expected(t.group)
            if run is None:
                return None
            if t.started:
                ends.append(self._expected_end(t, now))
            else:
                ends.append(t.start(run) + run)
        if pending:
            run = self.runtimes.expected("")
            if run is None:
                return None
            width = min(x for x in (self.cap, max_in_flight, pending + len(ends)) if x)
            slots = sorted(ends)[-width:] if len(ends) >= width else sorted(ends)
            slots += [now] * (width - len(slots))
            heapq.heapify(slots)
            for _ in range(pending):
                ends.append(heapq.heappop(slots) + run)
                heapq.heappush(slots, ends[-1])
        end = max(ends) if ends else None
        return end if end is not None and math.isfinite(end) else None

    def has_samples(self, group: str) -> bool:
        return len(self.runtimes.samples(group)) >= MIN_SAMPLES


def _narrow(lo: float, hi: float, server: tuple[float, float]) -> tuple[float, float]:
    """The poll interval narrowed by the server's second, unless they disagree."""
    a, b = max(lo, server[0]), min(hi, server[1])
    return (a, b) if a <= b else (lo, hi)
