"""The Python API: a campaign to validate, plan, apply, inspect and diff.

```python
import seedrun

campaign = seedrun.load("jobs.yaml")      # SpecError (every problem, with lines) if invalid
plan = campaign.plan()                    # PlanResult: items, counts, estimates
result = campaign.apply(sim=True)         # ApplyResult: where each job ended up
campaign.status().counts                  # the lockfile by state
campaign.diff("HEAD:jobs.lock").changes   # what changed since the last commit
```

Every call is synchronous and safe from a Jupyter cell, where an asyncio loop
is already running in the thread: ``apply`` then runs trio in a worker thread
and waits for it, so trio never takes over that thread's signal handling and
wakeup fd from the loop (and a sync call made from inside trio does not try to
nest ``trio.run``). Ctrl-C stops the run as the CLI does: in-flight creates are
recorded, the lockfile written. Inside trio, use ``await campaign.apply_async()``.
The CLI is a formatter over these calls; the errors are the ones of
``seedrun.errors``, each with its documented ``exit_code``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from seedrun import applying, preflight
from seedrun import plan as planner
from seedrun.cost import Estimate, estimate, usage_table
from seedrun.diff import LockDiff, diff_locks
from seedrun.errors import EXIT_INTERRUPTED, EXIT_JOBS_FAILED, EXIT_OK, EXIT_USAGE, ConfigError
from seedrun.files import default_lock_path, read_lock, read_spec
from seedrun.lockfile import Lock
from seedrun.outputfiles import missing_outputs
from seedrun.selection import check_select
from seedrun.spec import Job, Spec
from seedrun.store import current_lock, read_current

if TYPE_CHECKING:
    from seedrun.applying import MakeReporter
    from seedrun.commands.status import Report as StatusReport
    from seedrun.runner import Outcome, Reporter, Runner

__all__ = [
    "ApplyResult",
    "Campaign",
    "PlanResult",
    "Validation",
    "load",
]

# Actions after which apply has work to do (paid or not); the others leave a job be.
WORK = ("create", "replace", "retry", "resume", "download")


@dataclass(frozen=True)
class Validation:
    """A valid spec: how many jobs it expands to."""

    path: str
    jobs: int
    finals: int  # of them, finals promoted from drafts


@dataclass(frozen=True)
class PlanResult:
    """What apply would do for each job, and what the new tasks may cost."""

    items: tuple[planner.PlanItem, ...]
    counts: Mapping[str, int]
    estimates: Mapping[str, Estimate | None]  # for each job that creates a task
    price_per_million_tokens: float | None = None
    spec: Spec | None = field(default=None, repr=False, compare=False)

    @property
    def creates(self) -> tuple[planner.PlanItem, ...]:
        """The items that create a new, paid task."""
        return tuple(i for i in self.items if i.action in planner.CREATES)

    @property
    def has_changes(self) -> bool:
        """Whether apply would do anything (create, replace, retry, resume, download)."""
        return any(i.action in WORK for i in self.items)

    @property
    def tokens(self) -> int | None:
        """The estimated tokens of the new tasks (None when none can be estimated)."""
        known = [e.tokens for e in self.estimates.values() if e is not None]
        return sum(known) if known else None

    @property
    def cost(self) -> float | None:
        price, tokens = self.price_per_million_tokens, self.tokens
        return None if price is None or tokens is None else tokens * price / 1e6

    def _repr_markdown_(self) -> str:  # Jupyter shows the pull-request view
        from seedrun.markdown import plan_markdown

        if self.spec is None:
            return ", ".join(f"{n} {a}" for a, n in self.counts.items())
        return plan_markdown(self.spec, self.items, self.counts, estimates=self.estimates)


@dataclass(frozen=True)
class ApplyResult:
    """Where each selected job ended up, and the CLI's exit code for it."""

    exit_code: int
    status: Mapping[str, str]
    reasons: Mapping[str, str]
    undone: tuple[str, ...]
    fatal: str | None
    lock_path: Path
    report_path: Path | None
    lock: Lock = field(repr=False)
    outcome: Outcome | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK

    @property
    def interrupted(self) -> bool:
        return self.exit_code == EXIT_INTERRUPTED


def load(path: str | Path, *, lock: str | Path | None = None) -> Campaign:
    """The campaign of the spec at ``path`` (``"-"``: standard input).

    ``lock`` is its lockfile (default: beside the spec, ``jobs.yaml`` ->
    ``jobs.lock``). An invalid spec raises ``SpecError`` carrying every
    diagnostic; an unreadable file, ``ConfigError``.
    """
    spec_path = Path(path)
    spec = read_spec(spec_path)
    return Campaign(spec, path=spec_path, lock_path=None if lock is None else Path(lock))


class Campaign:
    """A loaded spec and the lockfile that records it."""

    def __init__(self, spec: Spec, *, path: Path, lock_path: Path | None = None) -> None:
        self.spec = spec
        self.path = path
        self._lock_path = lock_path

    @property
    def lock_path(self) -> Path:
        """The lockfile: as given, else beside the spec (a spec from stdin has none)."""
        if self._lock_path is None:
            return default_lock_path(self.path)
        return self._lock_path

    def __repr__(self) -> str:
        return f"Campaign({str(self.path)!r}, jobs={len(self.spec.jobs)})"

    @property
    def jobs(self) -> tuple[Job, ...]:
        """The expanded jobs, dependencies before dependents."""
        return self.spec.jobs

    def validate(self) -> Validation:
        """The spec is valid (``load`` raised otherwise), and passes the checks apply
        makes of its place on disk: say how many jobs it has."""
        preflight.check(self.spec, self.path)
        finals = sum(1 for j in self.spec.jobs if j.kind == "final")
        return Validation(self.spec.path, len(self.spec.jobs), finals)

    def lock(self) -> Lock:
        """The lockfile, with any journal a running or stopped apply left (read only)."""
        return current_lock(self.lock_path)

    def plan(
        self,
        *,
        select: Sequence[str] = (),
        replace: Sequence[str] = (),
        retry_failed: bool = True,
        resubmit_unknown: bool = False,
        usage_from: Sequence[str | Path] = (),
    ) -> PlanResult:
        """What apply would do; no network. ``usage_from``: more lockfiles to learn usage from."""
        check_select(self.spec.jobs, select)
        lock = self.lock()
        options = planner.Options(
            replace=tuple(replace),
            select=tuple(select),
            retry_failed=retry_failed,
            resubmit_unknown=resubmit_unknown,
            file_names={ref: f.written for ref, f in self.spec.files.items()},
        )
        missing = missing_outputs(lock, self.lock_path)
        items = planner.plan(self.spec.jobs, lock, options, missing=missing)
        table = usage_table([lock, *(read_lock(Path(p)) for p in usage_from)])
        by_id = self.spec.by_id()
        estimates = {
            i.id: estimate(by_id[i.id], table)
            for i in items
            if i.action in planner.CREATES and i.id in by_id
        }
        return PlanResult(
            tuple(items),
            planner.counts(items),
            estimates,
            self.spec.settings.price_per_million_tokens,
            self.spec,
        )

    def status(self, *, verify: bool = False) -> StatusReport:
        """Where the campaign stands: states, problems, tasks in flight, missing files, usage.

        ``verify`` re-hashes every output against the lockfile.
        """
        import time

        from seedrun.commands.status import build_report

        lock, events = read_current(self.lock_path)
        report = build_report(lock, self.lock_path, self.spec, now=time.time(), verify=verify)
        report.spec_path = str(self.path)
        report.journal_events = events
        return report

    def diff(
        self, old: str | Path | Lock | None = None, new: str | Path | Lock | None = None
    ) -> LockDiff:
        """What changed from ``old`` to ``new``, as ``seedrun diff`` shows it.

        Each side is a ``Lock``, a path, or ``REV:path`` read from git. ``old``
        defaults to the lockfile as last committed (``HEAD``), ``new`` to the
        lockfile in the working copy.
        """
        if old is None:
            from seedrun.gitfiles import read_lock_at_head

            before, _label = read_lock_at_head(self.lock_path)
        else:
            before = _lock_of(old)
        return diff_locks(before, self.lock() if new is None else _lock_of(new))

    def apply(self, **options: Any) -> ApplyResult:
        """Run the campaign (see ``apply_async`` for the options), waiting for the end.

        Works where an event loop is already running in this thread (Jupyter):
        the run then goes in a worker thread.
        """
        control = _Control()
        run = partial(self.apply_async, **options, _control=control)
        if not _loop_running():
            return trio.run(run)
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="seedrun") as pool:
            future = pool.submit(trio.run, run)
            try:
                return future.result()
            except KeyboardInterrupt:
                control.stop()  # as Ctrl-C in the CLI: stop creating, record, write
                return future.result()

    async def apply_async(
        self,
        *,
        reporter: Reporter | None = None,
        _control: _Control | None = None,
        **options: Any,
    ) -> ApplyResult:
        """Moderate, submit, poll and download; record everything in the lockfile.

        The options are the CLI's flags by name (``seedrun apply --help``; the
        fields of ``seedrun.applying.ApplyOptions``): ``sim``, ``sim_task_seconds``,
        ``base_url``, ``select``, ``replace``, ``keep_seed``, ``retry_failed``,
        ``resubmit_unknown``, ``download``, ``detach``, ``max_in_flight``, ``rps``,
        ``budget``, ``poll_floor``, ``shard``, ``report``... ``sim`` runs against a
        fresh built-in simulator. ``reporter`` receives each job's progress
        (default: nothing is printed).
        """
        from seedrun.runner import Reporter

        try:
            chosen = applying.ApplyOptions(**options)
        except TypeError as exc:
            raise ConfigError(f"apply: {exc}") from None
        return await self.apply_with(
            chosen,
            make_reporter=lambda total, stats: reporter or Reporter(),
            control=_control,
        )

    async def apply_with(
        self,
        options: applying.ApplyOptions,
        *,
        make_reporter: MakeReporter,
        prepared: applying.Prepared | None = None,
        control: _Control | None = None,
        locked: bool = False,
    ) -> ApplyResult:
        """``apply_async`` for callers that already hold the pieces: the options as
        a record, a reporter made once the client exists, the checks already made
        (``applying.prepare``), the run lock already taken (the CLI does both)."""
        if prepared is None:
            prepared = applying.prepare(self.spec, self.path, options)
        control = control or _Control()
        done = await applying.run(
            self.spec,
            self.lock_path,
            prepared,
            options,
            make_reporter=make_reporter,
            on_runner=lambda runner: control.started(runner, trio.lowlevel.current_trio_token()),
            locked=locked,
        )
        outcome = done.runner.outcome
        return ApplyResult(
            exit_code=_exit_code(done.runner, detach=options.detach),
            status=dict(outcome.status),
            reasons=dict(outcome.reasons),
            undone=tuple(outcome.undone),
            fatal=outcome.fatal,
            lock_path=self.lock_path,
            report_path=done.report,
            lock=done.runner.lock,
            outcome=outcome,
        )


# ---------------------------------------------------------------- helpers


def _lock_of(side: str | Path | Lock) -> Lock:
    if isinstance(side, Lock):
        return side
    from seedrun.gitfiles import read_lock_arg

    return read_lock_arg(str(side))


def _exit_code(runner: Runner, *, detach: bool) -> int:
    """The CLI's exit code for a run (README, "Exit codes")."""
    outcome = runner.outcome
    if outcome.fatal == "interrupted":
        return EXIT_INTERRUPTED
    if outcome.fatal:
        return EXIT_USAGE
    bad = any(s in ("failed", "blocked", "unknown", "cancelled") for s in outcome.status.values())
    if detach:
        return EXIT_JOBS_FAILED if bad else EXIT_OK
    return EXIT_JOBS_FAILED if bad or outcome.undone else EXIT_OK


def _loop_running() -> bool:
    """Whether this thread already runs an event loop, where ``trio.run`` cannot start.

    asyncio is only asked whether a loop runs here (Jupyter's); seedrun never uses it.
    """
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        pass
    try:
        trio.lowlevel.current_trio_token()
        return True
    except RuntimeError:
        return False


class _Control:
    """Lets another thread stop a run the way Ctrl-C does in the CLI."""

    def __init__(self) -> None:
        self._runner: Runner | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop_early = False

    def started(self, runner: Runner, token: trio.lowlevel.TrioToken) -> None:
        self._runner, self._token = runner, token
        if self._stop_early:
            runner.stop("interrupted")

    def stop(self) -> None:
        runner, token = self._runner, self._token
        if runner is None or token is None:
            self._stop_early = True
            return
        with contextlib.suppress(trio.RunFinishedError):
            trio.from_thread.run_sync(runner.stop, "interrupted", trio_token=token)
