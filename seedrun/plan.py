"""Jobs x lockfile -> what apply would do for each job. Pure."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from seedrun.diff import replace_reason
from seedrun.localrefs import image_change, is_file_ref, refs_in
from seedrun.lockfile import IN_FLIGHT, Lock, LockEntry
from seedrun.spec import Job, glob_regex, select

# Every action, in the order counts are printed.
ACTIONS = (
    "create",
    "replace",
    "retry",
    "resume",
    "download",
    "unknown",
    "blocked",
    "unchanged",
    "skip",
    "orphan",
)
# Actions that create a new paid task.
CREATES = ("create", "replace", "retry")


@dataclass(frozen=True, slots=True)
class PlanItem:
    id: str
    action: str
    key: str
    reason: str = ""
    old_key: str | None = None


@dataclass(frozen=True)
class Options:
    """``replace``: force new tasks for jobs matching these globs. ``select``: plan
    only jobs matching these globs and the jobs they depend on (orphans are then
    not listed)."""

    replace: Sequence[str] = ()
    retry_failed: bool = True
    resubmit_unknown: bool = False
    download: bool = True
    select: Sequence[str] = ()
    # Local images by stand-in ref -> the name the spec gives them, for reasons.
    file_names: Mapping[str, str] = field(default_factory=dict)


def plan(
    jobs: Iterable[Job],
    lock: Lock,
    options: Options = Options(),
    *,
    missing: Mapping[str, str] | None = None,
) -> list[PlanItem]:
    """One item per job in spec order, then one per orphaned lock entry (sorted).

    ``jobs`` must be all the spec's jobs (select with ``options.select``), or
    every other job in the lock would be listed as an orphan. ``missing`` maps
    job ids whose recorded video is not on disk as recorded to why (the shell
    looks at the files; see ``outputfiles.missing_outputs``).
    """
    # Only PlanItems are made here, none of them cyclic garbage: the cyclic GC would
    # just rescan the spec's jobs over and over (a third of the time for 100k jobs).
    paused = gc.isenabled()
    gc.disable()
    try:
        return _plan(jobs, lock, options, missing or {})
    finally:
        if paused:
            gc.enable()


def _plan(
    jobs: Iterable[Job], lock: Lock, options: Options, missing: Mapping[str, str]
) -> list[PlanItem]:
    chosen = select(jobs, options.select) if options.select else jobs
    forced = [glob_regex(p) for p in options.replace]
    items: list[PlanItem] = []
    seen: set[str] = set()
    entries = lock.jobs
    actions: dict[str, str] = {}  # so far; jobs come dependencies first
    for job in chosen:
        seen.add(job.id)
        force = bool(forced) and any(rx.fullmatch(job.id) for rx in forced)
        entry = entries.get(job.id)
        if entry is None:
            item = PlanItem(job.id, "create", job.key)
        else:
            item = _action(job, entry, lock, options, force, actions, missing)
        items.append(item)
        actions[job.id] = item.action
    if not options.select:
        for jid in sorted(entries.keys() - seen):
            items.append(PlanItem(jid, "orphan", entries[jid].key, "no longer in the spec"))
    return items


def _action(
    job: Job,
    entry: LockEntry,
    lock: Lock,
    options: Options,
    force: bool,
    upstream: Mapping[str, str],
    missing: Mapping[str, str],
) -> PlanItem:
    if entry.status == "unknown" and not options.resubmit_unknown:
        # A task may exist and be paid for: never replaced without being told to,
        # not even when the request changed or --replace names it. One with a task
        # id is looked at again: a deadline passed, or a gateway answered 404.
        code = (entry.error or {}).get("code")
        if entry.task_id and code in ("timeout", "task_gone"):
            why = (
                "outlived its deadline; it may still finish"
                if code == "timeout"
                else "could not be read last time; checking it again"
            )
            return PlanItem(job.id, "resume", job.key, f"task {entry.task_id} {why}")
        why = _error_text(entry.error) or "a create request was in flight when the run stopped"
        return PlanItem(job.id, "unknown", job.key, why)
    if entry.key != job.key:
        # A changed local image says which; otherwise what a reviewer reads.
        why = _image_change(job, entry, lock, options) or replace_reason(
            job, entry, lock, upstream
        )
        return PlanItem(job.id, "replace", job.key, why, entry.key)
    status = entry.status
    if force and status not in IN_FLIGHT:
        return PlanItem(job.id, "replace", job.key, "--replace", entry.key)
    if status == "succeeded":
        if options.download and entry.output is None:
            why = _error_text(entry.error) or "video not downloaded yet"
            return PlanItem(job.id, "download", job.key, why)
        if options.download and job.id in missing:
            return PlanItem(job.id, "download", job.key, missing[job.id])
        return PlanItem(job.id, "unchanged", job.key)
    if status in IN_FLIGHT:
        return PlanItem(job.id, "resume", job.key, f"task {entry.task_id} is {status}")
    if status in ("failed", "cancelled"):
        why = _error_text(entry.error) or status
        if options.retry_failed:
            return PlanItem(job.id, "retry", job.key, why)
        return PlanItem(job.id, "skip", job.key, f"{why} (--no-retry-failed)")
    if status == "unknown":  # only reached with --resubmit-unknown
        why = _error_text(entry.error) or "a create request was in flight when the run stopped"
        return PlanItem(job.id, "create", job.key, f"--resubmit-unknown: {why}")
    # blocked: still blocked while a moderated source it uses stays rejected in the lock
    for url in job.moderated_urls:
        asset = lock.assets.get(url)
        if asset is not None and not asset.passed:
            return PlanItem(job.id, "blocked", job.key, f"asset {url} failed moderation")
    return PlanItem(job.id, "create", job.key, "was blocked")


def _image_change(job: Job, entry: LockEntry, lock: Lock, options: Options) -> str | None:
    new = {s.ref for s in job.slots if is_file_ref(s.ref)}
    if not new or entry.request is None:
        return None
    approved = {a.asset_url: ref for ref, a in lock.assets.items() if a.asset_url}
    old = refs_in(entry.request, approved)
    return image_change(old, new, dict(options.file_names)) or None


def _error_text(error: Mapping[str, str] | None) -> str:
    if error:
        code = error.get("code", "")
        message = error.get("message", "")
        return f"{code}: {message}" if code and message else str(code or message)
    return ""


def counts(items: Iterable[PlanItem]) -> dict[str, int]:
    c = Counter(i.action for i in items)
    return {a: c[a] for a in ACTIONS if c[a]}
