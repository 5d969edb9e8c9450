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
from seedrun.api_facts import EXECUTION_EXPIRES_DEFAULT, RETENTION_SECONDS
from seedrun.bucket_outputs import BucketOutputs
from seedrun.budget import Budget
from seedrun.client import SeedanceClient
from seedrun.errors import (
    ApiError,
    AuthError,
    CreateUnknown,
    DownloadError,
    LockError,
    StorageError,
    TaskNotFound,
)
from seedrun.localrefs import is_file_ref
from seedrun.lockfile import (
    AssetEntry,
    FileRef,
    Lock,
    LockEntry,
    asset_event,
    job_event,
    previous_of,
)
from seedrun.models import TaskState
from seedrun.requests import Slot, fill_slots
from seedrun.sources import NotReady, Sources
from seedrun.spec import Job, Spec
from seedrun.store import Journal
from seedrun.tracker import Tracker
from seedrun.uploads import Uploader, scrub

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
        self._missing = dict(missing_outputs or {})
        # Files other lockfiles in the folder record: never a destination here.
        self.foreign_outputs: frozenset[Path] = frozenset()
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
        self._moderation_errors: dict[str, str] = {}
        self.uploads = uploads  # local images -> fetchable URLs (seedrun.uploads)
        self.bucket = bucket  # outputs kept in a bucket (seedrun.bucket_outputs)
        self._upload_errors: dict[str, str] = {}
        self.budget = Budget(options.budget_tokens, self.lock)
        self.sources = Sources(
            self.lock,
            client,
            done=self._done,
            moderated=self._moderation_done,
            moderation_errors=self._moderation_errors,
            fresh=self._fresh,
            upload=self._upload,
            upload_errors=self._upload_errors,
            name=self._name,
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
        if not await self._stores_ready(by_id):
            return self.outcome
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
        for store in (self.uploads, self.bucket):
            if store is not None and store.summary():
                self.reporter.note(store.summary())
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

    async def _stores_ready(self, by_id: Mapping[str, Job]) -> bool:
        """A bucket that refuses the credentials stops the run before anything is paid."""
        refs = [
            s.ref
            for item in self.items
            if item.action in planner.CREATES
            for s in by_id[item.id].slots
        ]
        try:
            if self.uploads is not None and self.uploads.needed(refs):
                await self.uploads.check()
            fetches = ("download", "resume", *planner.CREATES)
            if (
                self.bucket is not None
                and self.options.download
                and any(item.action in fetches for item in self.items)
            ):
                await self.bucket.check()
        except StorageError as exc:
            self.stop(exc.message)
            return False
        return True

    async def _upload(self, ref: str) -> str | None:
        """The URL of a local image, uploaded first; None after a failure (remembered)."""
        if self.uploads is None:
            self._upload_errors[ref] = "no uploads bucket is configured"
            return None
        try:
            return await self.uploads.url(ref)
        except StorageError as exc:
            self._upload_errors[ref] = exc.message
            if exc.fatal:
                self.stop(exc.message)
            else:
                self.reporter.note(exc.message)
            return None

    def _name(self, ref: str) -> str:
        return self.uploads.name(ref) if self.uploads is not None else ref

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

    # ---------------------------------------------------------------- moderation

    async def _moderate(self, url: str) -> None:
        try:
            async with self._moderations:
                source = url
                if is_file_ref(url):  # a local image: uploaded first, then moderated
                    uploaded = await self._upload(url)
                    if uploaded is None:
                        return
                    source = uploaded
                try:
                    result = (await self.client.moderate([source])).get(source)
                except AuthError as exc:
                    self.stop(str(exc))
                    return
                except ApiError as exc:
                    message = scrub(exc.message, self.uploads)
                    self._moderation_errors[url] = message
                    self.reporter.note(f"moderation of {self._name(url)} failed: {message}")
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
            if entry is None:
                return
            if self.options.detach:
                self._finish(job, entry.status, f"task {entry.task_id}")
                return
            await self._follow(job, entry, submitted)

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
            entry = self._merge(pending.with_(error=None), state)
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

    def _why_undone(self, entry: LockEntry | None) -> str:
        """A reason for a job the run left unfinished without saying why."""
        if self.outcome.fatal:
            return f"run stopped: {self.outcome.fatal}"
        if entry is None:
            return "not created"
        if entry.error and entry.error.get("message"):
            return entry.error["message"]
        return f"task {entry.task_id} is {entry.status}" if entry.task_id else entry.status

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
            await self._unknown_gone(job, entry, "older than the 7-day retention", "past_retention")
            return
        now = self.clock()
        resumed = submitted is None
        if submitted is None:
            # Resumed: the server's timestamp tells how long ago it was created.
            age = max(0.0, time.time() - entry.created_at) if entry.created_at else 0.0
            submitted = now - age
        # The earlier of the server's expiry and the user's own timeout.
        limits = [x for x in (entry.execution_expires_after, self.options.task_timeout) if x]
        expires = min(limits) if limits else EXECUTION_EXPIRES_DEFAULT
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
                # Polling failed for good: keep the task id, next run resumes it. The
                # reason goes into the lockfile too (the next good poll clears it).
                why = f"polling failed: {w.error.message}"
                await self._record(job, entry.with_(error={"code": "poll_failed", "message": why}))
                self._finish(job, entry.status, why)
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
                    ref, entry = await self._download(job, entry, "video", ".mp4")
                    entry = entry.with_(output=ref, error=None)
                    await self._record(job, entry)
                if entry.last_frame is None and job.params.get("return_last_frame"):
                    ref, entry = await self._download(job, entry, "last_frame", ".png")
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

    async def _download(
        self, job: Job, entry: LockEntry, what: str, suffix: str
    ) -> tuple[FileRef, LockEntry]:
        url = entry.video_url if what == "video" else entry.last_frame_url
        dest = self._dest(job, entry, what, suffix)
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
                if self.bucket is not None:  # kept in a bucket, not on this machine
                    ref = await self.bucket.save(
                        self.client, url, dest.name, task_id=entry.task_id
                    )
                    return ref, entry
                got = await self.client.download(url, dest)
                break
            except DownloadError:
                # Expired, or a host that is gone (a recorded URL outlives its server):
                # the task gives a fresh URL, once.
                if attempt == 1 or not entry.task_id:
                    raise
        rel = Path(os.path.relpath(Path(got.path).resolve(), self.lock_dir.resolve()))
        return FileRef(rel.as_posix(), got.sha256, got.bytes), entry

    def planned_outputs(self) -> dict[str, Path]:
        """Job id -> the file its video goes to, for the jobs this run may download."""
        if not self.options.download:
            return {}
        wanted = (*planner.CREATES, "resume", "download")
        return {
            i.id: self.outputs_dir / ((self._file_names.get(i.id) or safe_name(i.id)) + ".mp4")
            for i in self.items
            if i.action in wanted
        }

    def _dest(self, job: Job, entry: LockEntry, what: str, suffix: str) -> Path:
        """Where a download goes: the job's own name, or, when a file is already
        there (a replaced job's previous video, another campaign's), a name with
        the task id. A paid file is never written over."""
        stem = self._file_names.get(job.id) or safe_name(job.id)
        tail = ("" if what == "video" else ".last") + suffix
        dest = self.outputs_dir / (stem + tail)
        if dest.exists() or dest.resolve() in self.foreign_outputs:
            dest = self.outputs_dir / f"{stem}.{safe_name(entry.task_id or 'task')[:40]}{tail}"
        return dest
