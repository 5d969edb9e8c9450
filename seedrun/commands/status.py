"""``seedrun status``: what the lockfile says, and whether the files still match it.

Read-only: a journal left by a running or stopped run is folded in memory,
never written. Plain text when stdout is not a terminal (CI logs, tests), rich
tables on a terminal; both show the same report.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from seedrun import bucket_outputs
from seedrun.bucket_outputs import is_bucket_url
from seedrun.cost import FormulaCheck, formula_check, spent_tokens
from seedrun.errors import EXIT_JOBS_FAILED, EXIT_OK, ConfigError
from seedrun.files import default_lock_path, read_spec
from seedrun.gitfiles import find_lock
from seedrun.lockfile import IN_FLIGHT, STATUSES, FileRef, Lock, LockEntry
from seedrun.spec import Spec
from seedrun.store import read_current

HELP = "summarize the lockfile: states, failures, in-flight tasks, missing files, usage"
PROBLEMS = ("failed", "cancelled", "unknown", "blocked")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?", help="the spec (for pending jobs, asset users and price)")
    p.add_argument("--spec", dest="spec_opt", metavar="SPEC", help="same as the SPEC argument")
    p.add_argument("--lock", help="lockfile (default: the spec's, else the only *.lock here)")
    p.add_argument(
        "--verify",
        action="store_true",
        help="re-hash every output file against the lockfile; exit 1 on any mismatch",
    )


def now() -> float:
    """The clock ages are measured with (a seam for tests)."""
    return time.time()


@dataclass
class Report:
    lock_path: Path
    spec_path: str | None
    counts: dict[str, int]  # lockfile entries by status
    pending: int | None = None  # in the spec, not in the lockfile (with a spec)
    orphaned: int | None = None  # in the lockfile, not in the spec (with a spec)
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # id, status, why
    rejected: list[tuple[str, str, list[str]]] = field(default_factory=list)  # url, why, jobs
    missing: list[tuple[str, str]] = field(default_factory=list)  # id, path
    in_flight: list[tuple[str, str, str, str]] = field(default_factory=list)  # id, st, task, age
    tokens: int = 0
    price: float | None = None
    journal_events: int = 0
    verified: int | None = None  # files that matched, with --verify
    mismatches: list[tuple[str, str, str]] = field(default_factory=list)  # id, path, why
    formula: FormulaCheck | None = None  # the token formula against the usage billed


def run(args: argparse.Namespace) -> int:
    if args.spec and args.spec_opt and args.spec != args.spec_opt:
        raise ConfigError("give the spec once: as SPEC or as --spec, not both")
    spec_arg = args.spec or args.spec_opt
    spec = read_spec(Path(spec_arg)) if spec_arg else None
    if args.lock:
        lock_path = Path(args.lock)
    elif spec_arg:
        lock_path = default_lock_path(Path(spec_arg))
    else:
        lock_path = find_lock(None)
    # A crash's journal alone is a lockfile too.
    lock, events = read_current(lock_path, required=True)
    report = build_report(lock, lock_path, spec, now=now(), verify=args.verify)
    report.spec_path = spec_arg
    report.journal_events = events
    if sys.stdout.isatty():
        _print_rich(report)
    else:
        print(render_plain(report), end="")
    bad = report.verified is not None and bool(report.mismatches or report.missing)
    return EXIT_JOBS_FAILED if bad else EXIT_OK


# ---------------------------------------------------------------- the report


def build_report(
    lock: Lock, lock_path: Path, spec: Spec | None, *, now: float, verify: bool = False
) -> Report:
    states = Counter(e.status for e in lock.jobs.values())
    counts = {s: states[s] for s in STATUSES if states[s]}
    report = Report(lock_path, None, counts, tokens=spent_tokens(lock), formula=formula_check(lock))
    if spec is not None:
        report.pending = sum(1 for j in spec.jobs if j.id not in lock.jobs)
        report.orphaned = sum(1 for j in lock.jobs if j not in spec.by_id())
        report.price = spec.settings.price_per_million_tokens
    for jid, e in sorted(lock.jobs.items()):
        if e.status in PROBLEMS:
            report.problems.append((jid, e.status, _error_text(e)))
        if e.status in IN_FLIGHT:
            age = _age(now - e.created_at) if e.created_at else "age unknown"
            report.in_flight.append((jid, e.status, e.task_id or "-", age))
    report.rejected = _rejected(lock, spec)
    folder = lock_path.parent
    verified = 0
    for jid, what, ref in _files(lock):
        path = folder / ref.path
        if is_bucket_url(ref.path):  # kept in a bucket: checked there, with --verify only
            why = bucket_outputs.verify(spec, ref) if verify else ""
            if why == bucket_outputs.MISSING:
                report.missing.append((jid, ref.path))
            elif why:
                report.mismatches.append((jid, ref.path, why))
            elif verify:
                verified += 1
            continue
        if not path.is_file():
            report.missing.append((jid, ref.path if what == "output" else f"{ref.path} ({what})"))
        elif verify:
            why = _check(path, ref)
            if why:
                report.mismatches.append((jid, ref.path, why))
            else:
                verified += 1
    if verify:
        report.verified = verified
    return report


def _error_text(e: LockEntry) -> str:
    if not e.error:
        return ""
    code, message = e.error.get("code", ""), e.error.get("message", "")
    return f"{code}: {message}" if code and message else code or message


def _age(seconds: float) -> str:
    s = max(0, int(seconds))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {s}s"
    return f"{s}s"


def _rejected(lock: Lock, spec: Spec | None) -> list[tuple[str, str, list[str]]]:
    out: list[tuple[str, str, list[str]]] = []
    for url, asset in sorted(lock.assets.items()):
        if asset.passed:
            continue
        if spec is not None:
            users = sorted(j.id for j in spec.jobs if url in j.moderated_urls)
        else:  # without the spec, the blocked entries name the asset in their error
            users = sorted(
                jid
                for jid, e in lock.jobs.items()
                if e.status == "blocked" and url in _error_text(e)
            )
        out.append((url, asset.reason or "rejected", users))
    return out


def _files(lock: Lock) -> list[tuple[str, str, FileRef]]:
    out: list[tuple[str, str, FileRef]] = []
    for jid, e in sorted(lock.jobs.items()):
        if e.output is not None:
            out.append((jid, "output", e.output))
        if e.last_frame is not None:
            out.append((jid, "last frame", e.last_frame))
    return out


def _check(path: Path, ref: FileRef) -> str:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    if size != ref.bytes:
        return f"{size} bytes, lockfile says {ref.bytes}"
    if digest.hexdigest() != ref.sha256:
        return f"sha256 {digest.hexdigest()[:12]}, lockfile says {ref.sha256[:12]}"
    return ""


def _n(count: int, word: str) -> str:
    many = word[:-1] + "ies" if word.endswith("y") else word + "s"
    return f"{count} {word if count == 1 else many}"


def _verified(n: int) -> str:
    return f"verify: {_n(n, 'file')} {'matches' if n == 1 else 'match'} the lockfile"


def _money(report: Report) -> str:
    if report.price is None:
        return ""
    cost = report.tokens / 1_000_000 * report.price
    return f" (≈ {cost:,.2f} at {report.price:g} per million tokens)"


# ---------------------------------------------------------------- output


def render_plain(r: Report) -> str:
    head = f"lockfile: {r.lock_path}" + (f" (spec: {r.spec_path})" if r.spec_path else "")
    lines = [head]
    if r.journal_events:
        lines.append(
            f"note: {_n(r.journal_events, 'journal event')} not yet folded in: a run is in "
            "progress, or stopped; the next apply folds them"
        )
    lines += ["", f"{'state':<12}{'jobs':>6}"]
    lines += [f"{s:<12}{n:>6}" for s, n in r.counts.items()]
    lines.append(f"{'total':<12}{sum(r.counts.values()):>6}")
    if r.pending is not None:
        lines.append(f"pending: {_n(r.pending, 'job')} in the spec, not in the lockfile")
    if r.orphaned:
        lines.append(f"orphaned: {_n(r.orphaned, 'entry')} not in the spec (see seedrun prune)")
    if r.problems:
        lines += ["", "problems:"]
        w = max(len(j) for j, _, _ in r.problems)
        lines += [f"  {s:<9} {j:<{w}}  {why}".rstrip() for j, s, why in r.problems]
    if r.rejected:
        lines += ["", "assets that failed moderation:"]
        for url, why, users in r.rejected:
            blocks = f"; blocks {', '.join(users)}" if users else ""
            lines.append(f"  {url}: {why}{blocks}")
    if r.in_flight:
        lines += ["", "in flight:"]
        w = max(len(j) for j, _, _, _ in r.in_flight)
        lines += [f"  {s:<9} {j:<{w}}  task {t}  {age}" for j, s, t, age in r.in_flight]
    if r.missing:
        lines += ["", "outputs missing on disk:"]
        w = max(len(j) for j, _ in r.missing)
        lines += [f"  {j:<{w}}  {p}" for j, p in r.missing]
    if r.verified is not None:
        lines += [
            "",
            _verified(r.verified),
        ]
        lines += [f"  MISMATCH {j}  {p}: {why}" for j, p, why in r.mismatches]
    lines += ["", f"usage: {r.tokens:,} tokens{_money(r)}"]
    if r.formula is not None:
        lines.append(formula_line(r.formula))
    return "\n".join(lines) + "\n"


def formula_line(check: FormulaCheck) -> str:
    """How far plan's formula estimate was from the bill, for the tasks billed so far."""
    return (
        f"formula vs bill: {check.formula:,} tokens estimated by the formula, "
        f"{check.billed:,} billed, over {_n(check.tasks, 'task')} ({check.deviation:+.1%})"
    )


def _print_rich(r: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    title = f"{r.lock_path}" + (f" (spec: {r.spec_path})" if r.spec_path else "")
    states = Table(title=title, show_footer=True)
    states.add_column("state", footer="total")
    states.add_column("jobs", justify="right", footer=str(sum(r.counts.values())))
    for s, n in r.counts.items():
        states.add_row(s, str(n))
    console.print(states)
    if r.pending is not None:
        console.print(f"pending: {_n(r.pending, 'job')} in the spec, not in the lockfile")
    if r.orphaned:
        console.print(f"orphaned: {_n(r.orphaned, 'entry')} not in the spec (see seedrun prune)")
    if r.journal_events:
        console.print(f"[yellow]{_n(r.journal_events, 'journal event')} not yet folded in[/]")
    sections: list[tuple[str, tuple[str, ...], list[tuple[str, ...]]]] = [
        ("problems", ("status", "job", "error"), [(s, j, w) for j, s, w in r.problems]),
        (
            "assets that failed moderation",
            ("asset", "reason", "blocks"),
            [(u, w, ", ".join(users)) for u, w, users in r.rejected],
        ),
        (
            "in flight",
            ("status", "job", "task", "age"),
            [(s, j, t, a) for j, s, t, a in r.in_flight],
        ),
        ("outputs missing on disk", ("job", "path"), list(r.missing)),
        ("verify mismatches", ("job", "path", "problem"), list(r.mismatches)),
    ]
    for name, columns, rows in sections:
        if not rows:
            continue
        table = Table(title=name)
        for col in columns:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    if r.verified is not None:
        console.print(_verified(r.verified))
    console.print(f"usage: {r.tokens:,} tokens{_money(r)}")
    if r.formula is not None:
        console.print(formula_line(r.formula))
