"""The simulated task service: status is a function of time, never of polling.

On create, a task gets a run time (a hash of the sim seed and the task id) and a
place in a first-come-first-served queue with ``concurrency`` slots. Its start
and end follow from that plan, so a client that polls less sees the same
timeline. Creating or cancelling re-plans only tasks that have not started.

Pure-ish: times are plain floats (``time.monotonic()`` values, passed in), no
IO, no trio. Epoch seconds are only produced for answers, via ``epoch()``.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from seedrun.sim.config import SimConfig
from seedrun.sim.validate import SEED_MAX, TaskRequest

POLICY_FAILURE = (
    "The request failed because the output video may be related to policy restrictions."
)
_PREFIX = {"official": "task_", "unified": "video_"}


def digest(seed: int, entity: str, purpose: str) -> str:
    """The root of every simulated random decision: sha256 of (seed, entity, purpose)."""
    return hashlib.sha256(json.dumps([seed, entity, purpose]).encode()).hexdigest()


def chance(seed: int, entity: str, purpose: str) -> float:
    """A deterministic uniform number in [0, 1)."""
    return int(digest(seed, entity, purpose)[:13], 16) / 16**13


def happens(rate: float, seed: int, entity: str, purpose: str) -> bool:
    return rate > 0 and chance(seed, entity, purpose) < rate


def body_hash(body: object) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(eq=False)
class SimTask:
    """One task and its planned timeline (monotonic seconds)."""

    id: str
    seq: int
    request: TaskRequest
    body: dict[str, Any]  # the create request body as received
    created: float
    join: float  # when it joins the FCFS queue (created + flex wait)
    run_seconds: float
    seed: int  # the request's seed, or the one the server chose
    fails: bool
    start: float = math.inf  # inf until planned
    end: float = math.inf
    cancelled_at: float | None = None

    @property
    def flavour(self) -> str:
        return self.request.flavour

    def status_at(self, now: float) -> str:
        """queued | running | succeeded | failed | cancelled."""
        if self.cancelled_at is not None:
            return "cancelled"
        if now < self.start:
            return "queued"
        if now < self.end:
            return "running"
        return "failed" if self.fails else "succeeded"

    def updated_at(self, now: float) -> float:
        """When the status last changed."""
        if self.cancelled_at is not None:
            return self.cancelled_at
        status = self.status_at(now)
        if status == "queued":
            return self.created
        return self.start if status == "running" else self.end

    def progress_at(self, now: float) -> int:
        """0 while queued, linear in run time while running (at most 99), then 100."""
        status = self.status_at(now)
        if status in ("queued", "cancelled"):
            return 0
        if status != "running":
            return 100
        done = (now - self.start) / self.run_seconds if self.run_seconds > 0 else 1.0
        return max(0, min(99, int(done * 100)))


class NotQueued(Exception):
    """Only a queued task can be cancelled; ``status`` says what it is instead."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


@dataclass
class Engine:
    config: SimConfig
    epoch_offset: float  # time.time() - time.monotonic() at start
    tasks: dict[str, SimTask] = field(default_factory=dict)
    _attempts: Counter[str] = field(default_factory=Counter)
    _running: list[SimTask] = field(default_factory=list)  # started as of the last plan
    _waiting: list[SimTask] = field(default_factory=list)  # not started as of the last plan

    def epoch(self, when: float) -> int:
        return int(when + self.epoch_offset)

    def attempt(self, flavour: str, body: object) -> str:
        """Name the n-th create of this exact body; decisions hash this, not arrival order."""
        key = f"{flavour}:{body_hash(body)}"
        self._attempts[key] += 1
        return f"{key}#{self._attempts[key]}"

    def create(self, attempt: str, request: TaskRequest, body: dict[str, Any],
               now: float) -> SimTask:
        cfg = self.config
        task_id = _PREFIX[request.flavour] + digest(cfg.seed, attempt, "task-id")[:16]
        low, high = cfg.task_seconds
        run = low + (high - low) * chance(cfg.seed, task_id, "run-seconds")
        if cfg.scale_by_duration:
            run *= request.duration / 5
        if request.draft:
            run /= cfg.draft_speedup
        wait = cfg.flex_queue_seconds if request.service_tier == "flex" else 0.0
        seed = request.seed
        if seed is None:
            seed = int(digest(cfg.seed, task_id, "seed")[:12], 16) % (SEED_MAX + 1)
        task = SimTask(
            id=task_id,
            seq=len(self.tasks),
            request=request,
            body=body,
            created=now,
            join=now + wait,
            run_seconds=run,
            seed=seed,
            fails=cfg.fail_marker in request.prompt,
        )
        self.tasks[task_id] = task
        self._waiting.append(task)
        self._plan(now)
        return task

    def find(self, task_id: str, now: float, flavour: str | None = None) -> SimTask | None:
        """The task, unless unknown, of the other flavour, or past retention."""
        task = self.tasks.get(task_id)
        if task is None or (flavour is not None and task.flavour != flavour):
            return None
        if now - task.created > self.config.retention_seconds:
            return None
        return task

    def other(self, task: SimTask) -> SimTask | None:
        """Another task of the same flavour (the one created just before, else after):
        what a confused gateway answers in its place."""
        same = [t for t in self.tasks.values() if t.flavour == task.flavour and t is not task]
        if not same:
            return None
        before = [t for t in same if t.seq < task.seq]
        return before[-1] if before else same[0]

    def cancel(self, task: SimTask, now: float) -> None:
        status = task.status_at(now)
        if status != "queued":
            raise NotQueued(status)
        task.cancelled_at = now
        self._plan(now)

    def listing(self, now: float, *, flavour: str = "official", status: str | None = None,
                task_ids: tuple[str, ...] = (), model: str | None = None,
                service_tier: str | None = None) -> list[SimTask]:
        """Tasks matching every given filter, newest first."""
        found = []
        for task in reversed(self.tasks.values()):
            if self.find(task.id, now, flavour) is None:
                continue
            if status is not None and task.status_at(now) != status:
                continue
            if task_ids and task.id not in task_ids:
                continue
            if model is not None and task.request.model != model:
                continue
            if service_tier is not None and task.request.service_tier != service_tier:
                continue
            found.append(task)
        return found

    def _plan(self, now: float) -> None:
        """Give every not-yet-started task its start and end; started tasks keep theirs.

        Waiting tasks are taken in (join time, arrival) order, each into the
        earliest free slot, which is what an FCFS queue with N workers does.
        """
        running = [t for t in self._running if t.end > now]
        waiting = []
        for task in self._waiting:
            if task.cancelled_at is not None:
                continue
            if task.start <= now:  # planned earlier and started since
                if task.end > now:
                    running.append(task)
                continue
            waiting.append(task)
        waiting.sort(key=lambda t: (t.join, t.seq))
        cap = self.config.concurrency
        if cap is None:
            slots = [now] * len(waiting)
        else:
            slots = sorted(t.end for t in running) + [now] * max(0, cap - len(running))
        heapq.heapify(slots)
        for task in waiting:
            free = heapq.heappop(slots)
            task.start = max(task.join, free)
            task.end = task.start + task.run_seconds
            heapq.heappush(slots, task.end)
        self._running = running
        self._waiting = waiting
