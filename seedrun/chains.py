"""Chained frames and promotion: which jobs depend on which. Pure.

A `from:` media item names another job, whose last frame it needs: linking
resolves those names (or says why one does not resolve), and the jobs are then
ordered dependencies first. ``promote:`` picks drafts, each of which gets a
final job of its own.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from seedrun.campaign import FINAL_SUFFIX, Job
from seedrun.matrix import canonical_id, excluded, job_id
from seedrun.problems import Problems
from seedrun.protos import Chain, Proto
from seedrun.requests import build_final_body, content_key
from seedrun.selection import glob_regex
from seedrun.yamlload import Path


class Chains:
    """Links `from:` sources and checks `promote:` patterns.

    It knows what failed to expand, so as not to report a link to it a second time.
    """

    def __init__(
        self,
        problems: Problems,
        *,
        failed_names: set[str],
        failed_ids: set[str],
        matrices: Mapping[str, Mapping[str, Any]],
    ) -> None:
        self.problems = problems
        self.failed_names = failed_names  # jobs not expanded at all
        self.failed_ids = failed_ids  # combinations that failed to render
        self.matrices = matrices

    def link(self, by_id: dict[str, Proto]) -> list[str]:
        """Resolve `from:` references; return ids with dependencies first."""
        names = sorted({p.name for p in by_id.values()} | self.failed_names)
        for p in by_id.values():
            if p.fixed:
                continue  # no `from:` items
            for i, m in enumerate(p.media):
                if not isinstance(m, Chain):
                    continue
                source = m.source if m.source in by_id else canonical_id(m.source)
                if source in by_id:
                    p.media[i] = m._replace(source=source)
                    if source not in p.deps:
                        p.deps = (*p.deps, source)
                    continue
                self._missing_source(p, source, m.path, by_id, names)
        if not any(p.deps for p in by_id.values()):
            return list(by_id)  # no chains: spec order is already dependencies-first
        return self._toposort(by_id)

    def _missing_source(
        self, p: Proto, source: str, path: Path, by_id: dict[str, Proto], names: list[str]
    ) -> None:
        base = source.split("[", 1)[0]
        if source in self.failed_ids or base in self.failed_names:
            return  # its own error is reported already
        where = (*path, "from")
        if base not in names:
            near = difflib.get_close_matches(source, names, n=1)
            hint = f"did you mean {near[0]!r}?" if near else f"job names: {', '.join(names)}"
            self.problems.add(
                where, f"job {p.id}: unknown source job {source!r}; {hint}", once="src"
            )
            return
        matrix = self.matrices.get(base)
        if matrix is not None and source in {job_id(base, c) for c in excluded(matrix)}:
            self.problems.add(
                where,
                f"job {p.id}: source {source!r} is excluded by the matrix of job {base!r}",
                once="src",
            )
            return
        siblings = sorted(q.id for q in by_id.values() if q.name == base)
        shown = ", ".join(siblings[:5]) + (", ..." if len(siblings) > 5 else "")
        self.problems.add(
            where,
            f"job {p.id}: source {source!r} is not a job of this spec; {base} makes: {shown}",
            once="src",
        )

    def _toposort(self, by_id: dict[str, Proto]) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}  # 1 = on the stack, 2 = done
        for root in by_id:
            if state.get(root):
                continue
            stack: list[tuple[str, Iterator[str]]] = [(root, iter(by_id[root].deps))]
            state[root] = 1
            while stack:
                node, deps = stack[-1]
                nxt = next(deps, None)
                if nxt is None:
                    stack.pop()
                    state[node] = 2
                    order.append(node)
                elif state.get(nxt) == 1:
                    ids = [n for n, _ in stack]
                    cycle = ids[ids.index(nxt) :]
                    where = " -> ".join(f"{n} (line {by_id[n].line})" for n in cycle)
                    self.problems.add(
                        by_id[nxt].path, f"dependency cycle: {where} -> {nxt}", once="cycle"
                    )
                elif not state.get(nxt):
                    state[nxt] = 1
                    stack.append((nxt, iter(by_id[nxt].deps)))
        return order

    def promote_targets(self, patterns: Sequence[str], by_id: dict[str, Proto]) -> set[str]:
        """Ids of the drafts to promote; reports patterns that match no job or a non-draft."""
        targets: set[str] = set()
        for i, pattern in enumerate(patterns):
            rx = glob_regex(pattern)
            hits = [p for p in by_id.values() if rx.fullmatch(p.id)]
            if not hits:
                if not (self.failed_names or self.failed_ids):
                    shown = ", ".join(list(by_id)[:3])
                    self.problems.add(
                        ("promote", i), f"{pattern!r} matches no job; job ids are like: {shown}"
                    )
                continue
            plain = [p.id for p in hits if not p.params.get("draft")]
            if plain:
                more = f" and {len(plain) - 1} more" if len(plain) > 1 else ""
                self.problems.add(
                    ("promote", i),
                    f"{pattern!r} matches {plain[0]}{more}, which is not a draft; "
                    "set draft: true on it, or narrow the pattern",
                )
            targets.update(p.id for p in hits if p.params.get("draft"))
        return targets


def finals(jobs: list[Job], targets: set[str]) -> list[Job]:
    """One final video per promoted draft, in the drafts' order."""
    out: list[Job] = []
    for job in jobs:
        if job.id not in targets:
            continue
        body, slots = build_final_body(job.api, job.params, job.prompt, job.id, job.key)
        out.append(
            Job(
                job.id + FINAL_SUFFIX,
                job.name,
                job.index,
                "final",
                job.api,
                body,
                content_key(body),
                job.prompt,
                {**job.params, "draft": False},
                job.matrix,
                slots,
                (job.id,),
                job.line,
            )
        )
    return out
