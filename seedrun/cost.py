"""Token estimates and spend from recorded usage. Pure.

An estimate is the median ``total_tokens`` of succeeded tasks with the same
model, resolution, ratio, duration and draft flag; with no such data it is
``None`` ("unknown") — never an invented number.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import Any

from seedrun.lockfile import Lock, LockEntry
from seedrun.spec import Job

SHAPE_FIELDS = ("model", "resolution", "ratio", "duration", "draft")


def shape_of_request(request: Mapping[str, Any] | None, api: str) -> tuple[Any, ...]:
    """The usage-determining shape of a sent request body."""
    body = dict(request or {})
    meta = dict(body.get("metadata") or {}) if api == "unified" else body
    duration = body.get("duration") if api == "official" else body.get("seconds")
    return (
        body.get("model"),
        meta.get("resolution"),
        meta.get("ratio"),
        None if duration is None else int(duration),
        bool(meta.get("draft")),
    )


def shape_of_job(job: Job) -> tuple[Any, ...]:
    p = job.params
    duration = p.get("duration")
    return (
        job.body.get("model"),
        p.get("resolution"),
        p.get("ratio"),
        None if duration is None else int(duration),
        bool(p.get("draft")) and job.kind != "final",
    )


def usage_table(locks: Iterable[Lock]) -> dict[tuple[Any, ...], list[int]]:
    table: dict[tuple[Any, ...], list[int]] = {}
    for lock in locks:
        for entry in lock.jobs.values():
            total = total_tokens(entry)
            if total is not None and entry.status == "succeeded":
                table.setdefault(shape_of_request(entry.request, entry.api), []).append(total)
    return table


def estimate_tokens(
    job: Job, *locks: Lock, table: Mapping[tuple[Any, ...], list[int]] | None = None
) -> int | None:
    data = table if table is not None else usage_table(locks)
    samples = data.get(shape_of_job(job))
    return int(statistics.median(samples)) if samples else None


def spent_tokens(lock: Lock) -> int:
    return sum(total_tokens(e) or 0 for e in lock.jobs.values())


def total_tokens(entry: LockEntry) -> int | None:
    """The task's recorded total tokens; None when it has no usage."""
    if not entry.usage:
        return None
    value = entry.usage.get("total_tokens", entry.usage.get("completion_tokens"))
    return int(value) if value is not None else None
