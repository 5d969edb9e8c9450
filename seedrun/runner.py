"""apply's engine: moderate -> submit -> poll -> download, journaling every step.

Jobs form a graph (a chained frame or a promoted draft waits for its source),
so there is one cheap trio task per job, which waits on its sources' events,
then on the moderation of its assets, then for a slot under ``max_in_flight``.
A dependent starts the moment its source succeeds, not after a wave.

Correctness rules kept here:
- before a create is sent, the job is journaled as ``unknown``; only the answer
  turns it into a task id. A crash in between leaves ``unknown``, never a
  silent resubmit.
- every state change is durable (journal + fsync) before the next step.
- creates are shielded from Ctrl-C: they return, are recorded, then we stop.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from seedrun import plan as planner
from seedrun.api_facts import EXECUTION_EXPIRES_DEFAULT, RETENTION_SECONDS, TERMINAL_STATES
from seedrun.client import SeedanceClient
from seedrun.cost import estimate_tokens, shape_of_job, spent_tokens, total_tokens, usage_table
from seedrun.errors import (
    ApiError,
    AuthError,
    CreateUnknown,
    DownloadError,
    TaskNotFound,
    UrlExpired,
)
from seedrun.lockfile import (
    IN_FLIGHT,
    AssetEntry,
    FileRef,
    Lock,
    LockEntry,
    asset_event,
    job_event,
)
from seedrun.models import TaskState
from seedrun.requests import Slot, fill_slots
from seedrun.spec import Job, Spec
from seedrun.store import Journal
from seedrun.tracker import Tracker

log = logging.getLogger(__name__)

CREATE_TIMEOUT = 300.0
MAX_PARALLEL_CREATES = 16
MAX_PARALLEL_DOWNLOADS = 8
MAX_PARALLEL_MODERATIONS = 4


@dataclass(frozen=True)
class RunOptions:
    max_in_flight: int = 10
    poll_floor: float = 1.0
    task_timeout: float | None = None
    retry_failed: bool = True
    resubmit_unknown: bool = False
    download: bool = True
    detach: bool = False
    keep_seed: bool = False
    replace: tuple[str, ...] = ()
    budget_tokens: int | None = None
    use_list: bool = True
    # A 404 for a task the provider gave is asked again for this long (read-after-write lag).
    not_found_patience: float = 600.0


@dataclass
class Outcome:
    """Where each job ended up in this run, for the summary and the exit code."""

    status: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    undone: list[str] = field(default_factory=list)
    fatal: str | None = None


class Reporter:
    """What the runner tells the user. The CLI swaps in a live view."""

    def job(self, job_id: str, status: str, detail: str = "") -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def attach(self, tracker: Tracker) -> None:
        """The run's tracker, for a view of the provider's queue and an ETA."""


def safe_name(job_id: str) -> str:
    """A file name readable from the job id, safe on every OS, no traversal."""
    name = re.sub(r"[^A-Za-z0-9._=,+-]+", "_", job_id.replace("[", "__").replace("]", ""))
    name = name.strip("._") or "job"
    if len(name) > 120:
        name = name[:100] + "-" + hashlib.sha256(job_id.encode()).hexdigest()[:12]
    return name


def output_names(jobs: Iterable[Job]) -> dict[str, str]:
    """``safe_name`` of each job id; a name two ids share (``..`` and ``.``, ``a/b``
    and ``a_b``, or ``A`` and ``a`` on a case-insensitive disk) gets a hash of the
    id, so no two jobs ever write the same file."""
    names = {j.id: safe_name(j.id) for j in jobs}
    uses = Counter(n.lower() for n in names.values())
    return {
        jid: n if uses[n.lower()] == 1 else f"{n}-{hashlib.sha256(jid.encode()).hexdigest()[:12]}"
        for jid, n in names.items()
    }


class Runner:
    def __init__(
        self,
        spec: Spec,
        jobs: list[Job],
        lock: Lock,
        *,
        lock_dir: Path,
        outputs_dir: Path,
        client: SeedanceClient,
        journal: Journal,
        options: RunOptions,
        reporter: Reporter | None = None,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self.spec = spec
        self.jobs = jobs
        # One Lock whose dicts this run updates in place: copying a 10,000-entry
        # mapping on every event would make each write cost grow with the campaign.
        self._jobs = dict(lock.jobs)
        self._assets = dict(lock.assets)
        self.lock = Lock(self._assets, self._jobs)
        self._spent = spent_tokens(self.lock)
        self.lock_dir = lock_dir
        self.outputs_dir = outputs_dir
        self._file_names = output_names(spec.jobs)
        self.client = client
        self.journal = journal
        self.options = options
        self.reporter = reporter or Reporter()
        self.clock = clock
        self.tracker = Tracker(
            client,
            floor=options.poll_floor,
            use_list=options.use_list,
            clock=clock,
            max_in_flight=options.max_in_flight,
            not_found_patience=options.not_found_patience,
            note=lambda message: self.reporter.note(message),
        )
        self.outcome = Outcome()
        self._done = {j.id: trio.Event() for j in jobs}
        self._fresh: set[str] = set()  # jobs that reached succeeded during this run
        self._moderation_done: dict[str, trio.Event] = {}
        self._slots = trio.CapacityLimiter(options.max_in_flight)
        # Creates actually on the wire. Waiting for a turn happens outside the
        # shielded create, so Ctrl-C drops creates that were never sent.
        self._creating = trio.CapacityLimiter(MAX_PARALLEL_CREATES)
        self._downloads = trio.CapacityLimiter(MAX_PARALLEL_DOWNLOADS)
        self._moderations = trio.CapacityLimiter(MAX_PARALLEL_MODERATIONS)
        self._stop_creating = False
        self._work_scope: trio.CancelScope | None = None
        self._estimates: dict[str, int] = {}
        self._pending_estimate = 0
        self._usage: dict[tuple[Any, ...], list[int]] | None = None
        self._probes: dict[tuple[Any, ...], tuple[str, trio.Event]] = {}
        self._moderation_errors: dict[str, str] = {}
        self.items = planner.plan(
            jobs,
            lock,
            planner.Options(
                replace=options.replace,
                retry_failed=options.retry_failed,
                resubmit_unknown=options.resubmit_unknown,
                download=options.download,
            ),
        )
        self._hand_history_to_tracker()

    def _hand_history_to_tracker(self) -> None:
        """Run times the lockfile remembers (warm start), and how many tasks to expect."""
        history = []
        for job in self.jobs:
            e = self.lock.jobs.get(job.id)
            if e and e.status == "succeeded" and e.created_at and e.updated_at:
                history.append((self._group(job), float(e.updated_at - e.created_at)))
        self.tracker.warm(history)
        if not self.options.detach:
            follows = (*planner.CREATES, "resume")
            self.tracker.expect(sum(1 for i in self.items if i.action in follows))

    # ---------------------------------------------------------------- top level

    async def run(self) -> Outcome:
        """Run every job to its end (or to Ctrl-C / a fatal error)."""
        by_id = {j.id: j for j in self.jobs}
        self.reporter.attach(self.tracker)
        async with trio.open_nursery() as outer:
            outer.start_soon(self.tracker.run)
            with trio.CancelScope() as scope:
                self._work_scope = scope
                async with trio.open_nursery() as nursery:
                    for url in self._urls_to_moderate(by_id):
                        self._moderation_done[url] = trio.Event()
                        nursery.start_soon(self._moderate, url)
                    for item in self.items:
                        if item.action != "orphan":
                            nursery.start_soon(self._job_main, by_id[item.id], item)
            outer.cancel_scope.cancel()
        return self.outcome

    def _urls_to_moderate(self, by_id: Mapping[str, Job]) -> list[str]:
        needed: list[str] = []
        for item in self.items:
            if item.action not in planner.CREATES:
                continue
            for url in by_id[item.id].moderated_urls:
                if url not in self.lock.assets and url not in needed:
                    needed.append(url)
        return needed

    def stop(self, reason: str) -> None:
        """Stop all work; creates in flight still return and are recorded."""
        if self.outcome.fatal is None:
            self.outcome.fatal = reason
        if self._work_scope is not None:
            self._work_scope.cancel()

    # ---------------------------------------------------------------- recording

    async def _record(self, job: Job, entry: LockEntry) -> None:
        old = self._jobs.get(job.id)
        self._spent += (total_tokens(entry) or 0) - ((total_tokens(old) or 0) if old else 0)
        self._jobs[job.id] = entry
        if self._usage is not None and entry.usage and not (old and old.usage):
            total = total_tokens(entry)
            if total and entry.status == "succeeded":
                # Keyed like the estimates ask (a final's body lacks ratio and duration).
                self._usage.setdefault(shape_of_job(job), []).append(total)
        if job.id in self._estimates and (entry.usage or entry.status in TERMINAL_STATES):
            # Its real usage (or none, for a refunded failure) now replaces the estimate.
            self._pending_estimate -= self._estimates.pop(job.id)
        await self.journal.append(job_event(job.id, entry))

    def _finish(self, job: Job, status: str, reason: str = "") -> None:
        self.outcome.status[job.id] = status
        if reason:
            self.outcome.reasons[job.id] = reason
        self.reporter.job(job.id, status, reason)
        self._done[job.id].set()

    async def _block(self, job: Job, reason: str) -> None:
        """Never submitted: a source failed, or an asset was rejected."""
        entry = LockEntry(
            key=job.key,
            status="blocked",
            api=job.api,
            kind=job.kind,
            error={"code": "blocked", "message": reason},
        )
        await self._record(job, entry)
        self._finish(job, "blocked", reason)

    async def _fail(self, job: Job, code: str, message: str) -> None:
        old = self.lock.jobs.get(job.id)
        base = (
            old
            if old is not None and old.key == job.key
            else LockEntry(key=job.key, status="failed", api=job.api, kind=job.kind)
        )
        await self._record(
            job, base.with_(status="failed", error={"code": code, "message": message})
        )
        self._finish(job, "failed", message)

    # ---------------------------------------------------------------- moderation

    async def _moderate(self, url: str) -> None:
        try:
            async with self._moderations:
                try:
                    result = (await self.client.moderate([url])).get(url)
                except AuthError as exc:
                    self.stop(str(exc))
                    return
                except ApiError as exc:
                    self._moderation_errors[url] = exc.message
                    self.reporter.note(f"moderation of {url} failed: {exc}")
                    return
                if result is None:
                    return
                entry = AssetEntry(
                    result.passed,
                    result.asset_url if result.passed else None,
                    None if result.passed else (result.reason or "rejected"),
                )
                self._assets[url] = entry
                await self.journal.append(asset_event(url, entry))
        finally:
            self._moderation_done[url].set()

    # ---------------------------------------------------------------- one job

    async def _job_main(self, job: Job, item: planner.PlanItem) -> None:
        try:
            await self._job(job, item)
        finally:
            self._end_probe(job)
            if not self._done[job.id].is_set():
                status = self.lock.jobs[job.id].status if job.id in self.lock.jobs else "pending"
                self.outcome.status[job.id] = status
                if status not in ("succeeded", "failed", "blocked", "cancelled"):
                    self.outcome.undone.append(job.id)
                self._done[job.id].set()

    async def _job(self, job: Job, item: planner.PlanItem) -> None:
        entry = self.lock.jobs.get(job.id)
        action = item.action
        if action == "unchanged":
            self._finish(job, "succeeded")
            return
        if action == "skip":
            self._finish(job, entry.status if entry else "failed", item.reason)
            return
        if action in ("unknown", "blocked"):
            self._finish(job, action, item.reason)
            return
        if action == "download" and entry is not None:
            await self._collect(job, entry, self._state_of(entry))
            return
        if action == "resume" and entry is not None and entry.task_id:
            if self.options.detach:
                # Detached: leave it running (a flex task may wait for hours); a later
                # apply collects it.
                self._finish(job, entry.status, f"task {entry.task_id}")
                return
            async with self._slots:
                await self._follow(job, entry)
            return
        await self._create(job, item, entry)

    async def _wait_sources(self, job: Job) -> dict[str, str] | None:
        """Values for the job's slots, or None when it is blocked (recorded)."""
        values: dict[str, str] = {}
        for dep in job.deps:
            await self._done[dep].wait()
            src = self.lock.jobs.get(dep)
            if src is not None and src.status in ("failed", "cancelled", "blocked"):
                await self._block(job, f"source {dep} is {src.status}")
                return None
            if src is None or src.status != "succeeded":
                # In flight (detached), unknown, or never created (budget, Ctrl-C):
                # nothing is decided yet, so nothing is recorded; a later apply goes on.
                state = src.status if src else "not created"
                self.outcome.undone.append(job.id)
                self._finish(job, "pending", f"waits for source {dep} ({state})")
                return None
        for slot in job.slots:
            if slot.kind == "asset":
                if slot.ref in self._moderation_done:
                    await self._moderation_done[slot.ref].wait()
                asset = self.lock.assets.get(slot.ref)
                if asset is None:
                    await self._fail(
                        job,
                        "moderation_error",
                        f"asset {slot.ref} could not be moderated "
                        f"({self._moderation_errors.get(slot.ref, 'no answer')}); run again",
                    )
                    return None
                if not asset.passed or not asset.asset_url:
                    await self._block(
                        job, f"asset {slot.ref} failed moderation: {asset.reason or 'rejected'}"
                    )
                    return None
                values[slot.ref] = asset.asset_url
            elif slot.kind == "draft_task":
                src = self.lock.jobs[slot.ref]
                values[slot.ref + "#task"] = src.task_id or ""
            elif slot.kind == "last_frame":
                url = await self._fresh_last_frame(slot.ref)
                if url is None:
                    await self._fail(
                        job,
                        "source_frame_unavailable",
                        f"the last frame of {slot.ref} is not available "
                        "(its URL expired and the task is past retention); "
                        f"replace it with --replace '{slot.ref}'",
                    )
                    return None
                values[slot.ref + "#frame"] = url
        return values

    async def _fresh_last_frame(self, source_id: str) -> str | None:
        src = self.lock.jobs[source_id]
        if source_id in self._fresh and src.last_frame_url:
            return src.last_frame_url
        # Frame URLs expire; a source finished in an earlier run gets a fresh one.
        if not src.task_id:
            return None
        try:
            state = await self.client.get(src.api, src.task_id)
        except ApiError:
            return None
        return state.last_frame_url

    def _fill(self, job: Job, values: Mapping[str, str]) -> dict[str, Any]:
        def value_for(slot: Slot) -> str:
            suffix = {"asset": "", "draft_task": "#task", "last_frame": "#frame"}[slot.kind]
            return values[slot.ref + suffix]

        body = fill_slots(job.body, job.slots, value_for)
        old = self.lock.jobs.get(job.id)
        if self.options.keep_seed and old is not None and old.seed is not None:
            target = body if job.api == "official" else body.setdefault("metadata", {})
            target["seed"] = old.seed
        return body

    async def _create(self, job: Job, item: planner.PlanItem, old: LockEntry | None) -> None:
        values = await self._wait_sources(job)
        if values is None:
            return
        body = self._fill(job, values)
        if self._stop_creating or not await self._budget_allows(job):
            self._stop_creating = True
            self.outcome.undone.append(job.id)
            self._finish(job, "pending", "budget reached; not created")
            return
        async with self._slots:
            if old is not None and item.action == "replace":
                await self._cancel_replaced(old)
            async with self._creating:
                submitted = self.clock()
                entry = await self._submit(job, body)
            if entry is None:
                return
            if self.options.detach:
                self._finish(job, entry.status, f"task {entry.task_id}")
                return
            await self._follow(job, entry, submitted)

    async def _submit(self, job: Job, body: dict[str, Any]) -> LockEntry | None:
        """Send one create; the returned entry has the task id (None: job finished)."""
        pending = LockEntry(
            key=job.key,
            status="unknown",
            api=job.api,
            kind=job.kind,
            request=body,
            error={
                "code": "create_in_flight",
                "message": "the create request was in flight when the run stopped; "
                "the task may exist (see --resubmit-unknown)",
            },
        )
        await self._record(job, pending)
        self.reporter.job(job.id, "submitting")
        # Shielded: once sent, a create's answer must be recorded even on Ctrl-C.
        with trio.CancelScope(shield=True):
            try:
                with trio.fail_after(CREATE_TIMEOUT):
                    state = await self.client.create(job.api, body)
            except (trio.TooSlowError, CreateUnknown) as exc:
                message = (
                    exc.message
                    if isinstance(exc, CreateUnknown)
                    else f"no answer to the create request within {CREATE_TIMEOUT:.0f} s"
                )
                await self._record(
                    job, pending.with_(error={"code": "create_unknown", "message": message})
                )
                self._finish(job, "unknown", message)
                return None
            except AuthError as exc:
                await self._record(
                    job,
                    pending.with_(
                        status="failed", error={"code": "unauthorized", "message": exc.message}
                    ),
                )
                self.stop(exc.message)
                self._finish(job, "failed", exc.message)
                return None
            except ApiError as exc:
                # Certain no task exists (the client only says so when it is sure).
                await self._record(
                    job,
                    pending.with_(
                        status="failed",
                        error={"code": exc.code or f"http_{exc.status}", "message": exc.message},
                    ),
                )
                self._finish(job, "failed", exc.message)
                return None
            entry = self._merge(pending.with_(error=None), state)
            await self._record(job, entry)
            return entry
        raise AssertionError("unreachable: a shielded scope is never cancelled")

    async def _cancel_replaced(self, old: LockEntry) -> None:
        if old.status != "queued" or not old.task_id or old.api != "official":
            return
        try:
            await self.client.cancel(old.api, old.task_id)
            self.reporter.note(f"cancelled the replaced task {old.task_id}")
        except ApiError as exc:
            log.debug("cancel of replaced task %s: %s", old.task_id, exc)

    async def _budget_allows(self, job: Job) -> bool:
        """Whether creating ``job`` keeps finished usage + estimates within the budget.

        A job whose shape has no recorded usage cannot be estimated. Rather than
        count it as free, one such job per shape goes first (the probe); the others
        of that shape wait for its real usage and are then estimated from it.
        """
        budget = self.options.budget_tokens
        if budget is None:
            return True
        if self._usage is None:
            self._usage = usage_table([self.lock])
            self._reserve_resumed()
        while True:
            estimate = estimate_tokens(job, table=self._usage)
            if estimate is not None:
                break
            shape = shape_of_job(job)
            probe = self._probes.get(shape)
            if probe is None:
                self._probes[shape] = (job.id, trio.Event())
                estimate = 0
                break
            await probe[1].wait()
        if self._spent + self._pending_estimate + estimate > budget:
            return False
        self._estimates[job.id] = estimate
        self._pending_estimate += estimate
        return True

    def _end_probe(self, job: Job) -> None:
        """A probe job is done: let the jobs of its shape estimate from what it used."""
        shape = shape_of_job(job)
        probe = self._probes.get(shape)
        if probe is not None and probe[0] == job.id:
            del self._probes[shape]
            probe[1].set()

    def _reserve_resumed(self) -> None:
        """Tasks resumed from an earlier run are in flight too: count their estimates."""
        by_id = {j.id: j for j in self.jobs}
        for item in self.items:
            entry = self._jobs.get(item.id)
            if item.action != "resume" or entry is None or entry.usage:
                continue
            if entry.status in IN_FLIGHT and item.id not in self._estimates:
                estimate = estimate_tokens(by_id[item.id], table=self._usage) or 0
                self._estimates[item.id] = estimate
                self._pending_estimate += estimate

    # ---------------------------------------------------------------- following

    def _merge(self, entry: LockEntry, state: TaskState) -> LockEntry:
        error = None
        if state.status in ("failed", "cancelled"):
            error = {
                "code": state.error_code or state.status,
                "message": state.error_message or f"task {state.status}",
            }
        return entry.with_(
            status=state.status,
            task_id=state.task_id or entry.task_id,
            video_url=state.video_url or entry.video_url,
            last_frame_url=state.last_frame_url or entry.last_frame_url,
            error=error,
            seed=state.seed if state.seed is not None else entry.seed,
            revised_prompt=state.revised_prompt or entry.revised_prompt,
            usage=dict(state.usage) if state.usage else entry.usage,
            service_tier=state.service_tier or entry.service_tier,
            execution_expires_after=state.execution_expires_after or entry.execution_expires_after,
            created_at=state.created_at or entry.created_at,
            updated_at=state.updated_at or entry.updated_at,
        )

    def _state_of(self, entry: LockEntry) -> TaskState:
        return TaskState(
            task_id=entry.task_id or "",
            status=entry.status,
            video_url=entry.video_url,
            last_frame_url=entry.last_frame_url,
            created_at=entry.created_at,
            updated_at=entry.updated_at,
        )

    def _group(self, job: Job) -> str:
        p = job.params
        return (
            f"{job.api}|{p.get('model')}|{p.get('resolution')}|{p.get('duration')}|"
            f"{bool(p.get('draft'))}|{p.get('service_tier')}"
        )

    async def _follow(self, job: Job, entry: LockEntry, submitted: float | None = None) -> None:
        """Poll until the task ends, journaling each change; then collect."""
        assert entry.task_id
        if entry.created_at and time.time() - entry.created_at > RETENTION_SECONDS:
            await self._unknown_gone(job, entry, "older than the 7-day retention")
            return
        now = self.clock()
        resumed = submitted is None
        if submitted is None:
            # Resumed: the server's timestamp tells how long ago it was created.
            age = max(0.0, time.time() - entry.created_at) if entry.created_at else 0.0
            submitted = now - age
        expires = (
            entry.execution_expires_after or self.options.task_timeout or EXECUTION_EXPIRES_DEFAULT
        )
        deadline = submitted + expires
        w = self.tracker.watch(
            job.api,
            self._state_of(entry),
            group=self._group(job),
            submitted=submitted,
            deadline=deadline,
            resumed=resumed,
            seconds=float(job.params.get("duration") or 5),
        )
        self.reporter.job(job.id, entry.status)
        seen = 0
        while True:
            seen = await self.tracker.wait_change(w, seen)
            if w.error is not None:
                if isinstance(w.error, AuthError):
                    self.stop(w.error.message)
                    return
                if isinstance(w.error, TaskNotFound):
                    await self._unknown_gone(job, entry, "GET answered 404")
                    return
                # Polling failed for good: keep the task id, next run resumes it.
                self._finish(job, entry.status, f"polling failed: {w.error.message}")
                self.outcome.undone.append(job.id)
                return
            state = w.state
            entry = self._merge(entry, state)
            if not state.terminal and self.clock() >= deadline:
                # Not `failed`: the task may still finish, and a retry would pay twice.
                # `unknown` with its task id keeps it; the next apply looks at it again.
                message = (
                    f"task {entry.task_id} did not end within {expires:.0f} s; "
                    "it may still finish (the next apply checks it again)"
                )
                entry = entry.with_(status="unknown", error={"code": "timeout", "message": message})
                await self._record(job, entry)
                self._finish(job, "unknown", message)
                return
            await self._record(job, entry)
            if state.terminal:
                break
            self.reporter.job(job.id, state.status)
        if entry.status != "succeeded":
            msg = entry.error.get("message", "") if entry.error else ""
            self._finish(job, entry.status, msg)
            return
        self._fresh.add(job.id)
        await self._collect(job, entry, w.state)

    async def _unknown_gone(self, job: Job, entry: LockEntry, why: str) -> None:
        message = (
            f"task {entry.task_id} cannot be read any more ({why}); "
            "use --resubmit-unknown to create it again"
        )
        await self._record(
            job, entry.with_(status="unknown", error={"code": "task_gone", "message": message})
        )
        self._finish(job, "unknown", message)

    # ---------------------------------------------------------------- downloads

    async def _collect(self, job: Job, entry: LockEntry, state: TaskState) -> None:
        if not self.options.download:
            self._finish(job, "succeeded")
            return
        async with self._downloads:
            try:
                if entry.output is None:
                    ref, entry = await self._download(job, entry, "video", ".mp4")
                    entry = entry.with_(output=ref)
                    await self._record(job, entry)
                if entry.last_frame is None and job.params.get("return_last_frame"):
                    ref, entry = await self._download(job, entry, "last_frame", ".png")
                    entry = entry.with_(last_frame=ref)
                    await self._record(job, entry)
            except (DownloadError, ApiError, OSError) as exc:
                # OSError: the outputs folder cannot be written (full, read-only, a file
                # in the way). One job's file, not a reason to crash the whole run.
                why = exc.message if isinstance(exc, ApiError) else str(exc)
                self.outcome.undone.append(job.id)
                self._finish(job, "succeeded", f"download failed: {why}; run apply again to retry")
                return
        self._finish(job, "succeeded", entry.output.path if entry.output else "")

    async def _download(
        self, job: Job, entry: LockEntry, what: str, suffix: str
    ) -> tuple[FileRef, LockEntry]:
        url = entry.video_url if what == "video" else entry.last_frame_url
        stem = self._file_names.get(job.id) or safe_name(job.id)
        name = stem + ("" if what == "video" else ".last") + suffix
        dest = self.outputs_dir / name
        for attempt in range(2):
            if not url or attempt == 1:
                # No URL, or an expired one: ask the task for a fresh URL, once.
                if not entry.task_id:
                    raise DownloadError(f"no {what} URL and no task id for {job.id}")
                state = await self.client.get(entry.api, entry.task_id)
                entry = self._merge(entry, state)
                url = state.video_url if what == "video" else state.last_frame_url
                if not url:
                    raise DownloadError(f"task {entry.task_id} gives no {what} URL")
            try:
                got = await self.client.download(url, dest)
                break
            except UrlExpired:
                if attempt == 1:
                    raise
        rel = Path(os.path.relpath(Path(got.path).resolve(), self.lock_dir.resolve()))
        return FileRef(rel.as_posix(), got.sha256, got.bytes), entry
