"""Merge lockfiles: shard results, or two branches of one campaign. Pure.

Rules for one job id found in several lockfiles:

- identical entries are one entry;
- entries of the same task (same key, and the same task id or none yet) are
  states of one history: the most advanced wins, by status
  ``succeeded > failed = cancelled > running > queued > unknown > blocked``,
  then by having the downloaded file, then by ``updated_at``;
- anything else (another key, another task id, or a tie between two
  different entries) is a conflict: seedrun cannot know which video is meant.

Assets are a union. Two moderation results for one URL conflict when one
passed and the other did not; two passes with different asset ids are both
valid approvals, and the smaller id is kept so the result does not depend on
the order of the inputs.

With a ``base`` (the lockfile the inputs started from, as in a CI shard run or
a git merge driver), an input whose entry equals the base's has not touched
that job and is ignored for it; an input that dropped a job the base had
removes it, unless another input changed it (a conflict).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from seedrun.errors import LockError
from seedrun.lockfile import AssetEntry, Lock, LockEntry

# Higher is more advanced; failed and cancelled are both final non-successes.
RANK = {
    "blocked": 0,
    "unknown": 1,
    "queued": 2,
    "running": 3,
    "failed": 4,
    "cancelled": 4,
    "succeeded": 5,
}


class MergeConflict(LockError):
    """Entries that cannot be merged; the message names every job and asset."""

    def __init__(self, jobs: Mapping[str, str], assets: Mapping[str, str]) -> None:
        self.jobs = dict(jobs)
        self.assets = dict(assets)
        parts = [f"job {j} ({why})" for j, why in sorted(self.jobs.items())]
        parts += [f"asset {u} ({why})" for u, why in sorted(self.assets.items())]
        n = len(parts)
        super().__init__(f"cannot merge: {n} conflict{'s' if n != 1 else ''}: " + "; ".join(parts))


@dataclass(frozen=True)
class Source:
    """One input lockfile and the name its conflicts are reported with."""

    name: str
    lock: Lock


def merge_locks(sources: Sequence[Source], base: Lock | None = None) -> Lock:
    """The merged lock; raises MergeConflict naming every conflicting id."""
    job_conflicts: dict[str, str] = {}
    asset_conflicts: dict[str, str] = {}
    jobs: dict[str, LockEntry] = {}
    for jid in sorted({j for s in sources for j in s.lock.jobs} | set(base.jobs if base else ())):
        found = [(s.name, s.lock.jobs.get(jid)) for s in sources]
        try:
            entry = _merge_one(found, base.jobs.get(jid) if base else None, base is not None)
        except _Conflict as exc:
            job_conflicts[jid] = str(exc)
            continue
        if entry is not None:
            jobs[jid] = entry
    assets: dict[str, AssetEntry] = {}
    for url in sorted({u for s in sources for u in s.lock.assets}):
        try:
            assets[url] = _merge_asset([(s.name, s.lock.assets.get(url)) for s in sources])
        except _Conflict as exc:
            asset_conflicts[url] = str(exc)
    if base is not None:
        for url, asset in base.assets.items():
            assets.setdefault(url, asset)
    if job_conflicts or asset_conflicts:
        raise MergeConflict(job_conflicts, asset_conflicts)
    return Lock({u: assets[u] for u in sorted(assets)}, jobs)


class _Conflict(Exception):
    pass


def _merge_one(
    found: list[tuple[str, LockEntry | None]], base: LockEntry | None, three_way: bool
) -> LockEntry | None:
    if three_way:
        changed = [(n, e) for n, e in found if e != base]
        if not changed:
            return base
        if all(e is None for _, e in changed):
            return None  # removed by an input, kept as it was by the others
        gone = [n for n, e in changed if e is None]
        if gone:
            kept = next(n for n, e in changed if e is not None)
            raise _Conflict(f"removed in {gone[0]}, changed in {kept}")
        found = changed
    present = [(n, e) for n, e in found if e is not None]
    if not present:
        return None
    name, best = present[0]
    for other_name, other in present[1:]:
        best = _pick(name, best, other_name, other)
        if best is other:
            name = other_name
    return best


def _pick(a_name: str, a: LockEntry, b_name: str, b: LockEntry) -> LockEntry:
    if a == b:
        return a
    if a.key != b.key:
        raise _Conflict(f"different requests: {a_name} has key {a.key[:12]}, {b_name} {b.key[:12]}")
    if a.task_id and b.task_id and a.task_id != b.task_id:
        raise _Conflict(f"different tasks: {a_name} has {a.task_id}, {b_name} {b.task_id}")
    ra, rb = _advance(a), _advance(b)
    if ra == rb:
        raise _Conflict(
            f"{a_name} and {b_name} differ for the same task, neither more advanced ({a.status})"
        )
    return a if ra > rb else b


def _advance(e: LockEntry) -> tuple[int, bool, bool, int]:
    return (
        RANK.get(e.status, -1),
        e.output is not None,
        e.last_frame is not None,
        e.updated_at or 0,
    )


def _merge_asset(found: list[tuple[str, AssetEntry | None]]) -> AssetEntry:
    present = [(n, a) for n, a in found if a is not None]
    passed = {a.passed for _, a in present}
    if len(passed) > 1:
        ok = next(n for n, a in present if a.passed)
        bad = next(n for n, a in present if not a.passed)
        raise _Conflict(f"passed moderation in {ok}, failed in {bad}")
    # Same verdict: keep a deterministic representative.
    return min((a for _, a in present), key=lambda a: (a.asset_url or "", a.reason or ""))
