"""A run's token budget: finished usage plus estimates of the tasks in flight.

The runner asks ``allows(job)`` before each create and tells ``recorded`` about
every entry it writes; nothing else about money lives in the runner.

A job whose shape has no recorded usage cannot be estimated. Rather than count
it as free, one such job per shape goes first (the probe); the others of that
shape wait for its real usage and are then estimated from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import trio

from seedrun.api_facts import TERMINAL_STATES
from seedrun.cost import estimate_tokens, shape_of_job, spent_tokens, total_tokens, usage_table
from seedrun.lockfile import IN_FLIGHT, Lock, LockEntry
from seedrun.spec import Job

Shape = tuple[Any, ...]


class Budget:
    def __init__(self, limit: int | None, lock: Lock) -> None:
        """``lock`` is the run's live lock (its dicts are updated in place)."""
        self.limit = limit
        self._lock = lock
        self._spent = spent_tokens(lock)
        self._estimates: dict[str, int] = {}
        self._pending = 0
        self._usage: dict[Shape, list[int]] | None = None
        self._probes: dict[Shape, tuple[str, trio.Event]] = {}
        self._resumed: list[Job] = []

    def resume(self, jobs: Iterable[Job]) -> None:
        """Tasks resumed from an earlier run are in flight too: their estimates count."""
        self._resumed = list(jobs)

    def recorded(self, job: Job, old: LockEntry | None, entry: LockEntry) -> None:
        """Account for ``entry`` replacing ``old`` as the job's lock entry."""
        self._spent += (total_tokens(entry) or 0) - ((total_tokens(old) or 0) if old else 0)
        if self._usage is not None and entry.usage and not (old and old.usage):
            total = total_tokens(entry)
            if total and entry.status == "succeeded":
                # Keyed like the estimates ask (a final's body lacks ratio and duration).
                self._usage.setdefault(shape_of_job(job), []).append(total)
        if job.id in self._estimates and (entry.usage or entry.status in TERMINAL_STATES):
            # Its real usage (or none, for a refunded failure) now replaces the estimate.
            self._pending -= self._estimates.pop(job.id)

    async def allows(self, job: Job) -> bool:
        """Whether creating ``job`` keeps spent + estimates within the limit; when
        it does, the job's estimate is reserved until its usage is known."""
        if self.limit is None:
            return True
        table = self._table()
        while True:
            estimate = estimate_tokens(job, table=table)
            if estimate is not None:
                break
            shape = shape_of_job(job)
            probe = self._probes.get(shape)
            if probe is None:
                self._probes[shape] = (job.id, trio.Event())
                estimate = 0
                break
            await probe[1].wait()
        if self._spent + self._pending + estimate > self.limit:
            return False
        self._estimates[job.id] = estimate
        self._pending += estimate
        return True

    def job_ended(self, job: Job) -> None:
        """A probe job is done: let the jobs of its shape estimate from what it used."""
        shape = shape_of_job(job)
        probe = self._probes.get(shape)
        if probe is not None and probe[0] == job.id:
            del self._probes[shape]
            probe[1].set()

    def _table(self) -> Mapping[Shape, list[int]]:
        if self._usage is None:
            self._usage = usage_table([self._lock])
            for job in self._resumed:
                entry = self._lock.jobs.get(job.id)
                if entry is None or entry.usage or entry.status not in IN_FLIGHT:
                    continue
                if job.id not in self._estimates:
                    estimate = estimate_tokens(job, table=self._usage) or 0
                    self._estimates[job.id] = estimate
                    self._pending += estimate
        return self._usage
