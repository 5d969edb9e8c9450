"""Split a campaign's jobs into N shards that run on N machines. Pure.

A job's shard depends on its own id only (a sha256 of it), so adding or
removing a job never moves another one. Chains are never split: every job
goes to the shard of its chain's root (the job with no dependencies that the
chain starts from), so a dependent always runs where its source's result is.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from seedrun.errors import ConfigError
from seedrun.selection import HasDeps, J, with_deps

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def shard_index(job_id: str, n: int) -> int:
    """The 0-based shard of ``job_id`` among ``n``: stable across runs and machines."""
    if n < 1:
        raise ValueError(f"shard count must be at least 1, got {n}")
    digest = hashlib.sha256(job_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> ``(2, 4)``: the 1-based shard I of N (as in a CI matrix)."""
    m = _SHARD.fullmatch(text)
    if m is None:
        raise ConfigError(f"--shard wants I/N (for example 1/4), got {text!r}")
    i, n = int(m.group(1)), int(m.group(2))
    if not 1 <= i <= n:
        raise ConfigError(f"--shard wants I/N with 1 <= I <= N, got {text!r}")
    return i, n


def chain_roots(jobs: Iterable[HasDeps]) -> dict[str, str]:
    """Each job id -> the id its chain is sharded by.

    Jobs linked through dependencies form one group (a job with two sources
    joins their groups). A group is named by the smallest id among its roots,
    so a group's name changes only when a new job links it to another group.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    all_jobs = list(jobs)
    for job in all_jobs:
        find(job.id)
        for dep in job.deps:
            a, b = find(job.id), find(dep)
            if a != b:
                parent[max(a, b)] = min(a, b)
    roots: dict[str, str] = {}
    for job in all_jobs:
        if not job.deps:
            group = find(job.id)
            roots[group] = min(roots.get(group, job.id), job.id)
    # A group without a root is a dependency cycle, which the spec refuses; be total anyway.
    return {job.id: roots.get(find(job.id), find(job.id)) for job in all_jobs}


def shard_of(jobs: Iterable[HasDeps], n: int) -> dict[str, int]:
    """Each job id -> its 0-based shard among ``n``, chains kept together.

    Compute it over all of the spec's jobs, not a selection, so a job's shard
    does not depend on what else was selected.
    """
    return {jid: shard_index(root, n) for jid, root in chain_roots(jobs).items()}


def in_shard(jobs: Iterable[J], selected: Iterable[J], i: int, n: int) -> list[J]:
    """The ``selected`` jobs of 1-based shard ``i`` of ``n``, plus the jobs they depend on.

    ``jobs`` is every job of the spec (for stable assignment); the result keeps
    the order of ``jobs`` (dependencies before dependents).
    """
    all_jobs = list(jobs)
    shards = shard_of(all_jobs, n)
    return with_deps(all_jobs, {j.id for j in selected if shards.get(j.id) == i - 1})
