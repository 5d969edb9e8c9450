"""Choosing jobs by id glob, with the jobs they depend on. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Protocol, TypeVar

from seedrun.campaign import Job
from seedrun.errors import ConfigError
from seedrun.safetext import clean


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Glob over job ids: only ``*`` and ``?`` are special, so ``[`` in ids stays literal."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)


def check_select(jobs: Sequence[Job], patterns: Iterable[str]) -> None:
    """A ``--select`` glob that matches no job is a usage error, not an empty run."""
    for pattern in patterns:
        rx = glob_regex(pattern)
        if not any(rx.fullmatch(j.id) for j in jobs):
            shown = ", ".join(clean(j.id) for j in jobs[:3])
            raise ConfigError(f"--select {pattern!r} matches no job; job ids are like: {shown}")


def select(jobs: Iterable[Job], patterns: Iterable[str]) -> list[Job]:
    """Jobs whose id matches any pattern, plus every job they depend on."""
    all_jobs = list(jobs)
    rxs = [glob_regex(p) for p in patterns]
    return with_deps(all_jobs, {j.id for j in all_jobs if any(rx.fullmatch(j.id) for rx in rxs)})


class HasDeps(Protocol):
    """What following dependencies needs of a job (``Job`` has both)."""

    @property
    def id(self) -> str: ...

    @property
    def deps(self) -> tuple[str, ...]: ...


J = TypeVar("J", bound=HasDeps)


def with_deps(all_jobs: list[J], wanted: set[str]) -> list[J]:
    """The ``wanted`` jobs and everything they depend on, in the order of ``all_jobs``."""
    by_id = {j.id: j for j in all_jobs}
    wanted = set(wanted)
    todo = list(wanted)
    while todo:
        for dep in by_id[todo.pop()].deps:
            if dep not in wanted and dep in by_id:
                wanted.add(dep)
                todo.append(dep)
    return [j for j in all_jobs if j.id in wanted]
