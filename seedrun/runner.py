"""apply's engine: moderate -> submit -> poll -> download, journaling every step.

Jobs form a graph (a chained frame or a promoted draft waits for its source),
so there is one cheap trio task per job, which waits on its sources' events,
then on the moderation of its assets, then for a slot under ``max_in_flight``.
A dependent starts the moment its source succeeds, not after a wave.

Correctness rules kept here:
- a create is journaled as ``unknown`` the moment its bytes go out (after its
  turn at every limiter); only the answer turns it into a task id. A crash in
  between leaves ``unknown``, never a silent resubmit; a Ctrl-C before it leaves
  the job as it was.
- every state change is durable (journal + fsync) before the next step; when
  the journal cannot take one, creating stops and unrecorded task ids are kept
  for the summary.
- only a create's bytes on the wire are shielded from Ctrl-C: they return, are
  recorded, then we stop.
- a new attempt keeps the job's previous paid result (``previous``).

Other rooms: budget accounting (``budget``), what a job waits for (``sources``),
moderation and uploads (``moderating``), downloads (``collecting``), polling
(``tracker``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from seedrun import plan as planner
from seedrun.api_facts import EXECUTION_EXPIRES_DEFAULT, RETENTION_SECONDS
from seedrun.bucket_outputs import BucketOutputs
from seedrun.budget import Budget
from seedrun.client import SeedanceClient
from seedrun.collecting import Downloads
from seedrun.entries import merge, state_of
from seedrun.errors import (
    ApiError,
    AuthError,
    CreateUnknown,
    DownloadError,
    LockError,
    StorageError,
    TaskNotFound,
)
from seedrun.lockfile import (
    Lock,
    LockEntry,
    job_event,
    previous_of,
)
from seedrun.models import TaskState
from seedrun.moderating import Assets
from seedrun.requests import Slot, fill_slots
from seedrun.sources import NotReady, Sources
from seedrun.spec import Job, Spec
from seedrun.store import Journal
from seedrun.tracker import Tracker
from seedrun.uploads import Uploader

log = logging.getLogger(__name__)

MAX_PARALLEL_CREATES = 16
MAX_PARALLEL_DOWNLOADS = 8


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
    # Answered task ids the journal could not take: printed, so none is ever lost.
    undurable: dict[str, str] = field(default_factory=dict)


class Reporter:
    """What the runner tells the user. The CLI swaps in a live view."""

    def job(self, job_id: str, status: str, detail: str = "") -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def attach(self, tracker: Tracker) -> None:
        """The run's tracker, for a view of the provider's queue and an ETA."""


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
        missing_outputs: Mapping[str, str] | None = None,
        uploads: Uploader | None = None,
        bucket: BucketOutputs | None = None,
    ) -> None:
        """``missing_outputs``: job id -> why its recorded video is not on disk as
        recorded (the shell looks; the plan then downloads it again)."""
        self.spec = spec
        self.jobs = jobs
        # One Lock whose dicts this run updates in place: copying a 10,000-entry
        # mapping on every event would make each write cost grow with the campaign.
        self._jobs = dict(lock.jobs)
        self._assets = dict(lock.assets)
        self.lock = Lock(self._assets, self._jobs)
        self.lock_dir = lock_dir
        self.outputs_dir = outputs_dir
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
        self._missing = dict(missing_outputs or {})
        self._done = {j.id: trio.Event() for j in jobs}
        self._fresh: set[str] = set()  # jobs that reached succeeded during this run
        self._answered: dict[str, float] = {}  # job -> when its create was answered (clock)
        self._slots = trio.CapacityLimiter(options.max_in_flight)
        # Creates actually on the wire. Waiting for a turn happens outside the
        # shielded create, so Ctrl-C drops creates that were never sent.
        self._creating = trio.CapacityLimiter(MAX_PARALLEL_CREATES)
        self._downloads = trio.CapacityLimiter(MAX_PARALLEL_DOWNLOADS)
        self._stop_creating = False
        self._work_scope: trio.CancelScope | None = None
        self.uploads = uploads  # local images -> fetchable URLs (seedrun.uploads)
        self.bucket = bucket  # outputs kept in a bucket (seedrun.bucket_outputs)
        self.assets = Assets(
            client,
            self._assets,
            append=lambda event: self.journal.append(event),
            uploads=uploads,
            stop=self.stop,
            note=lambda message: self.reporter.note(message),
        )
        self.downloads = Downloads(
            client, spec.jobs, outputs_dir=outputs_dir, lock_dir=lock_dir, bucket=bucket
        )
        self.budget = Budget(options.budget_tokens, self.lock)
        self.sources = Sources(
            self.lock,
            client,
            done=self._done,
            moderated=self.assets.done,
            moderation_errors=self.assets.errors,
            fresh=self._fresh,
            upload=self.assets.upload,
            upload_errors=self.assets.upload_errors,
            name=self.assets.name,
        )
        self.items = planner.plan(
            jobs,
            lock,
            planner.Options(
                replace=options.replace,
                retry_failed=options.retry_failed,
                resubmit_unknown=options.resubmit_unknown,
                download=options.download,
            ),
            missing=missing_outputs,
        )
        by_id = {j.id: j for j in jobs}
        self.budget.resume(by_id[i.id] for i in self.items if i.action == "resume")
        self._hand_history_to_tracker()

    def _hand_history_to_tracker(self) -> None:
        """Run times the lockfile remembers (warm start), and how many tasks to expect."""
        measured, rough = [], []
        for job in self.jobs:
            e = self.lock.jobs.get(job.id)
            if e is None or e.status != "succeeded":
                continue
            if e.run_seconds:
                measured.append((self._group(job), float(e.run_seconds)))
            elif e.submitted_at is None and e.created_at and e.updated_at:
                # Written before run times were recorded: created to updated, which
                # includes any time queued (an upper estimate, until this run measures).
                rough.append((self._group(job), float(e.updated_at - e.created_at)))
        self.tracker.warm(rough)
        self.tracker.warm(measured, measured=True)
        if not self.options.detach:
            follows = (*planner.CREATES, "resume")
            self.tracker.expect(sum(1 for i in self.items if i.action in follows))

    # ---------------------------------------------------------------- top level

    async def run(self) -> Outcome:
        """Run every job to its end (or to Ctrl-C / a fatal error)."""
        by_id = {j.id: j for j in self.jobs}
        self.reporter.attach(self.tracker)
        if not await self.assets.stores_ready(
            self.items, by_id, self.bucket, self.options.download
        ):
            return self.outcome
        async with trio.open_nursery() as outer:
            outer.start_soon(self.tracker.run)
            with trio.CancelScope() as scope:
                self._work_scope = scope
                async with trio.open_nursery() as nursery:
                    self.assets.start(nursery, self.items, by_id)
                    for item in self.items:
                        if item.action != "orphan":
                            nursery.start_soon(self._job_main, by_id[item.id], item)
            outer.cancel_scope.cancel()
        for store in (self.uploads, self.bucket):
            if store is not None and store.summary():
                self.reporter.note(store.summary())
        return self.outcome

    def stop(self, reason: str) -> None:
        """Stop all work; creates in flight still return and are recorded."""
        if self.outcome.fatal is None:
            self.outcome.fatal = reason
        if self._work_scope is not None:
            self._work_scope.cancel()

    # ---------------------------------------------------------------- recording

    async def _record(self, job: Job, entry: LockEntry | None) -> None:
        """Make ``entry`` the job's state, durably (``None``: the job has no entry).

        When the journal cannot take it (disk full, journal deleted), the run stops
        creating at once; an answered task id that did not reach the disk is kept
        in memory for the final lockfile and listed in ``outcome.undurable``, so
        the user can recover it even if that write fails too."""
        old = self._jobs.get(job.id)
        if entry is None:
            self._jobs.pop(job.id, None)
        else:
            self.budget.recorded(job, old, entry)
            self._jobs[job.id] = entry
        try:
            await self.journal.append(job_event(job.id, entry))
        except LockError as exc:
            if entry is not None and entry.task_id:
                self.outcome.undurable[job.id] = entry.task_id
                self.reporter.note(
                    f"NOT RECORDED on disk: job {job.id} is task {entry.task_id} ({exc})"
                )
            self.stop(str(exc))
            raise
        if self.journal.trouble is not None:
            # The journal used its reserved space: answers still fit, new creates stop.
            self.stop(self.journal.trouble)

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
            previous=previous_of(self._jobs.get(job.id)),
        )
        await self._record(job, entry)
        self._finish(job, "blocked", reason)

    async def _fail(self, job: Job, code: str, message: str) -> None:
        old = self.lock.jobs.get(job.id)
        base = (
            old
            if old is not None and old.key == job.key
            else LockEntry(
                key=job.key,
                status="failed",
                api=job.api,
                kind=job.kind,
                previous=previous_of(old),
            )
        )
        await self._record(
            job, base.with_(status="failed", error={"code": code, "message": message})
        )
        self._finish(job, "failed", message)

    # ---------------------------------------------------------------- one job

    async def _job_main(self, job: Job, item: planner.PlanItem) -> None:
        try:
            await self._job(job, item)
        except LockError:
            pass  # the journal failed: recorded in the outcome by _record, run stopped
        finally:
            self.budget.job_ended(job)
            if not self._done[job.id].is_set():
                entry = self.lock.jobs.get(job.id)
                status = entry.status if entry is not None else "pending"
                self.outcome.status[job.id] = status
                if status not in ("succeeded", "failed", "blocked", "cancelled"):
                    self.outcome.undone.append(job.id)
                    self.outcome.reasons.setdefault(job.id, self._why_undone(entry))
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
            if entry.output is not None and job.id in self._missing:
                # Recorded but gone from disk (or changed): fetch it again, under a
                # new name if something else now sits at the old one.
                entry = entry.with_(output=None)
            await self._collect(job, entry, state_of(entry))
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

    def _fill(self, job: Job, values: Mapping[str, str]) -> dict[str, Any]:
        def value_for(slot: Slot) -> str:
            suffix = {"asset": "", "draft_task": "#task", "last_frame": "#frame", "file": "#file"}[
                slot.kind
            ]
            return values[slot.ref + suffix]

        body = fill_slots(job.body, job.slots, value_for)
        old = self.lock.jobs.get(job.id)
        if self.options.keep_seed and old is not None and old.seed is not None:
            target = body if job.api == "official" else body.setdefault("metadata", {})
            target["seed"] = old.seed
        return body

    async def _create(self, job: Job, item: planner.PlanItem, old: LockEntry | None) -> None:
        ready = await self.sources.resolve(job)
        if isinstance(ready, NotReady):
            if ready.outcome == "blocked":
                await self._block(job, ready.reason)
            elif ready.outcome == "failed":
                await self._fail(job, ready.code, ready.reason)
            else:
                self.outcome.undone.append(job.id)
                self._finish(job, "pending", ready.reason)
            return
        body = self._fill(job, ready.values)
        if self._stop_creating or not await self.budget.allows(job):
            self._stop_creating = True
            self.outcome.undone.append(job.id)
            self._finish(job, "pending", "budget reached; not created")
            return
        async with self._slots:
            if old is not None and item.action == "replace":
                await self._cancel_replaced(old)
            async with self._creating:
                submitted = self.clock()
                entry = await self._submit(job, body, old)
            answered = self._answered.pop(job.id, None)
            if entry is None:
                return
            if self.options.detach:
                self._finish(job, entry.status, f"task {entry.task_id}")
                return
            await self._follow(job, entry, submitted, answered)

    async def _submit(
        self, job: Job, body: dict[str, Any], old: LockEntry | None
    ) -> LockEntry | None:
        """Send one create; the returned entry has the task id (None: job finished).

        The job is journaled ``unknown`` only when its turn at every limiter has
        come and the bytes are about to go out (``on_send``). A Ctrl-C before that
        leaves the job exactly as it was; one after it waits for the answer.
        """
        pending = LockEntry(
            key=job.key,
            status="unknown",
            api=job.api,
            kind=job.kind,
            # A presigned upload URL is a bearer credential: the lock keeps its stand-in.
            request=self.uploads.redact(body) if self.uploads is not None else body,
            error={
                "code": "create_in_flight",
                "message": "the create request was in flight when the run stopped; "
                "the task may exist (see --resubmit-unknown)",
            },
            previous=previous_of(old),
        )
        sent = False

        async def on_send() -> None:
            nonlocal sent
            if not sent:
                try:
                    await self._record(job, pending)
                except LockError:
                    # Not durable, so not sent: the job stays as it was, in memory too
                    # (the lockfile written at exit must not call it unknown).
                    if old is None:
                        self._jobs.pop(job.id, None)
                    else:
                        self._jobs[job.id] = old
                    raise
                sent = True
                self.reporter.job(job.id, "submitting")

        try:
            state = await self.client.create(job.api, body, on_send=on_send)
            # Taken before the journal write: answers of creates sent together come
            # back in about the provider's queue order, journal writes in any order.
            self._answered[job.id] = self.clock()
        except trio.Cancelled:
            # The client shields a create from its send to its answer, so a Cancelled
            # here means no attempt could have made a task: undo the journaled send.
            if sent:
                with trio.CancelScope(shield=True):
                    await self._record(job, old)
            raise
        except CreateUnknown as exc:
            with trio.CancelScope(shield=True):
                await self._record(
                    job, pending.with_(error={"code": "create_unknown", "message": exc.message})
                )
            self._finish(job, "unknown", exc.message)
            return None
        except ApiError as exc:
            # Certainly no task exists (the client says so only when it is sure). The
            # entry keeps what the job had (`previous`): nothing paid is erased.
            with trio.CancelScope(shield=True):
                if isinstance(exc, AuthError):
                    # The account's problem, not the job's: the job stays as it was.
                    await self._record(job, old)
                    self.stop(exc.message)
                else:
                    error = {"code": exc.code or f"http_{exc.status}", "message": exc.message}
                    await self._record(job, pending.with_(status="failed", error=error))
            self._finish(job, "failed", exc.message)
            return None
        with trio.CancelScope(shield=True):
            # When the answer came: the next run orders this run's tasks by it.
            answered = round(time.time(), 3)
            entry = merge(pending.with_(error=None, submitted_at=answered), state)
            await self._record(job, entry)
        return entry

    async def _cancel_replaced(self, old: LockEntry) -> None:
        if old.status != "queued" or not old.task_id or old.api != "official":
            return
        try:
            await self.client.cancel(old.api, old.task_id)
            self.reporter.note(f"cancelled the replaced task {old.task_id}")
        except ApiError as exc:
            log.debug("cancel of replaced task %s: %s", old.task_id, exc)

    # ---------------------------------------------------------------- following

    def _why_undone(self, entry: LockEntry | None) -> str:
        """A reason for a job the run left unfinished without saying why."""
        if self.outcome.fatal:
            return f"run stopped: {self.outcome.fatal}"
        if entry is None:
            return "not created"
        if entry.error and entry.error.get("message"):
            return entry.error["message"]
        return f"task {entry.task_id} is {entry.status}" if entry.task_id else entry.status

    def _group(self, job: Job) -> str:
        p = job.params
        return (
            f"{job.api}|{p.get('model')}|{p.get('resolution')}|{p.get('duration')}|"
            f"{bool(p.get('draft'))}|{p.get('service_tier')}"
        )

    async def _follow(
        self,
        job: Job,
        entry: LockEntry,
        submitted: float | None = None,
        answered: float | None = None,
    ) -> None:
        """Poll until the task ends, journaling each change; then collect.
        ``submitted``/``answered``: when this run sent the create and had its answer
        (None: resumed from the lockfile)."""
        assert entry.task_id
        if entry.created_at and time.time() - entry.created_at > RETENTION_SECONDS:
            await self._unknown_gone(job, entry, "older than the 7-day retention", "past_retention")
            return
        now = self.clock()
        resumed = submitted is None
        order = None
        if submitted is None:
            # Resumed: the server's timestamp tells how long ago it was created, and
            # our own answer time, to the ms, its place in the provider's queue.
            age = max(0.0, time.time() - entry.created_at) if entry.created_at else 0.0
            submitted = now - age
            if entry.submitted_at is not None:
                order = now - max(0.0, time.time() - entry.submitted_at)
        # The earlier of the server's expiry and the user's own timeout.
        limits = [x for x in (entry.execution_expires_after, self.options.task_timeout) if x]
        expires = min(limits) if limits else EXECUTION_EXPIRES_DEFAULT
        deadline = submitted + expires
        w = self.tracker.watch(
            job.api,
            state_of(entry),
            group=self._group(job),
            submitted=submitted,
            deadline=deadline,
            resumed=resumed,
            answered=answered,
            order=order,
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
                # Polling failed for good: keep the task id, next run resumes it. The
                # reason goes into the lockfile too (the next good poll clears it).
                why = f"polling failed: {w.error.message}"
                await self._record(job, entry.with_(error={"code": "poll_failed", "message": why}))
                self._finish(job, entry.status, why)
                self.outcome.undone.append(job.id)
                return
            state = w.state
            entry = merge(entry, state)
            if state.terminal and w.run_seconds is not None:
                entry = entry.with_(run_seconds=round(w.run_seconds, 2))
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

    async def _unknown_gone(
        self, job: Job, entry: LockEntry, why: str, code: str = "task_gone"
    ) -> None:
        # A 404 is not proof the task is gone (a gateway may lag or lie): the next
        # apply looks at a task_gone job again before anything suggests paying twice.
        again = "the next apply checks it again; " if code == "task_gone" else ""
        message = (
            f"task {entry.task_id} cannot be read ({why}); {again}if the provider's "
            "console has no such task, --resubmit-unknown creates it again"
        )
        await self._record(
            job, entry.with_(status="unknown", error={"code": code, "message": message})
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
                    ref, entry = await self.downloads.fetch(job, entry, "video", ".mp4")
                    entry = entry.with_(output=ref, error=None)
                    await self._record(job, entry)
                if entry.last_frame is None and job.params.get("return_last_frame"):
                    ref, entry = await self.downloads.fetch(job, entry, "last_frame", ".png")
                    entry = entry.with_(last_frame=ref)
                    await self._record(job, entry)
            except (DownloadError, ApiError, OSError, StorageError) as exc:
                # OSError: the outputs folder cannot be written (full, read-only, a file
                # in the way). One job's file, not a reason to crash the whole run.
                why = exc.message if isinstance(exc, ApiError | StorageError) else str(exc)
                if entry.created_at and time.time() - entry.created_at > RETENTION_SECONDS:
                    why = (
                        f"the video of task {entry.task_id} can no longer be fetched: the "
                        f"provider keeps results {RETENTION_SECONDS // 86400} days ({why})"
                    )
                why = f"download failed: {why}; run apply again to retry"
                recorded = self._jobs.get(job.id)
                if recorded is not None and recorded.status == "succeeded":
                    error = {"code": "download_failed", "message": why}
                    await self._record(job, recorded.with_(error=error))
                self.outcome.undone.append(job.id)
                self._finish(job, "succeeded", why)
                return
        self._finish(job, "succeeded", entry.output.path if entry.output else "")

    def planned_outputs(self) -> dict[str, Path]:
        """Job id -> the file its video goes to, for the jobs this run may download."""
        return self.downloads.planned(self.items) if self.options.download else {}
