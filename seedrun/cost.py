"""Token estimates and spend. Pure.

``estimate_tokens`` is the median ``total_tokens`` of succeeded tasks with the
same model, resolution, ratio, duration and draft flag; with no such data it is
``None``. The runner's budget uses it, so a shape never seen is probed, not
guessed.

``estimate`` is what a reviewer reads before the first run: that median when
there is one ("history of N tasks"), else the documented output-token formula,
width x height x 24 fps x duration / 1024 ("formula"). ``formula_check``
measures how far the formula was from what tasks were billed.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from seedrun import api_facts
from seedrun.lockfile import Lock, LockEntry
from seedrun.spec import Job

FORMULA = "formula"

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


@dataclass(frozen=True)
class Estimate:
    """A task's expected tokens and where the number comes from."""

    tokens: int
    source: str  # "formula" | "history of N tasks"


def formula_tokens(shape: tuple[Any, ...]) -> int | None:
    """Output tokens by the documented formula for a shape; None for a size it lacks.

    Unset values are the service's defaults (720p, 16:9, 5 s); a draft renders
    at 480p, and is counted at that size (a draft discount, if any, is left to
    the history to learn).
    """
    _model, resolution, ratio, duration, draft = shape
    if draft:
        resolution = api_facts.DRAFT_RESOLUTION
    table = api_facts.OUTPUT_PIXELS.get(resolution or api_facts.DEFAULT_RESOLUTION)
    if table is None:
        return None
    ratio = ratio or api_facts.DEFAULT_RATIO
    size = table.get(api_facts.DEFAULT_RATIO if ratio == "adaptive" else ratio)
    if size is None:
        return None
    seconds = api_facts.DEFAULT_DURATION if duration is None else int(duration)
    return size[0] * size[1] * api_facts.OUTPUT_FPS * seconds // 1024


def history_source(samples: int) -> str:
    return f"history of {samples} task{'s' if samples != 1 else ''}"


def estimate(job: Job, table: Mapping[tuple[Any, ...], list[int]]) -> Estimate | None:
    """The recorded median for the job's shape, else the formula."""
    shape = shape_of_job(job)
    samples = table.get(shape)
    if samples:
        return Estimate(int(statistics.median(samples)), history_source(len(samples)))
    tokens = formula_tokens(shape)
    return None if tokens is None else Estimate(tokens, FORMULA)


@dataclass(frozen=True)
class FormulaCheck:
    """The formula against the bill, over succeeded tasks with recorded usage."""

    tasks: int
    formula: int  # tokens the formula gives for those tasks
    billed: int  # tokens they were billed

    @property
    def deviation(self) -> float:
        """(formula - billed) / billed: +0.10 means the formula said 10 % more."""
        return (self.formula - self.billed) / self.billed if self.billed else 0.0


def formula_check(lock: Lock) -> FormulaCheck | None:
    """How far the formula was from the usage recorded; None with no usage yet."""
    tasks = formula = billed = 0
    for entry in lock.jobs.values():
        total = total_tokens(entry)
        if entry.status != "succeeded" or total is None or entry.request is None:
            continue
        guess = formula_tokens(shape_of_request(entry.request, entry.api))
        if guess is None:
            continue
        tasks, formula, billed = tasks + 1, formula + guess, billed + total
    return FormulaCheck(tasks, formula, billed) if tasks else None
