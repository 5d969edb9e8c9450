"""One apply run, shared by ``seedrun apply`` and the Python API's ``Campaign.apply``.

``prepare`` makes every check that can refuse a run before anything is sent
(options, the base URL and key, the spec's place on disk); ``run`` then holds
the run lock, recovers the lockfile, builds the client, the journal, the
uploads and bucket stores and the runner, runs it, and folds the result into
the lockfile even when the run stopped. The CLI and the API differ only in the
reporter they hand in and in how they print the outcome.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import trio

from seedrun import preflight
from seedrun.bucket_outputs import bucket_outputs_for
from seedrun.client import MAX_DOWNLOAD_BYTES, ClientStats, SeedanceClient
from seedrun.config import ApiConfig, resolve
from seedrun.errors import ConfigError, LockError, SeedrunError
from seedrun.lockfile import Lock
from seedrun.outputfiles import clashes, default_report_path, foreign_outputs, missing_outputs
from seedrun.pacer import Pacer
from seedrun.report import write_report
from seedrun.runner import Reporter, Runner, RunOptions
from seedrun.safetext import clean
from seedrun.selection import check_select
from seedrun.shard import in_shard, parse_shard
from seedrun.sim import SimConfig, running_sim
from seedrun.spec import Job, Spec, select
from seedrun.store import Journal, RunLock, journal_path, recover, write_lock
from seedrun.uploads import uploader_for


@dataclass(frozen=True)
class ApplyOptions:
    """Every option of a run; the CLI's flags (``seedrun apply --help``) by name."""

    sim: bool = False
    sim_task_seconds: tuple[float, float] = (2.0, 4.0)
    sim_disk_space: int | None = None
    base_url: str | None = None
    select: Sequence[str] = ()
    replace: Sequence[str] = ()
    keep_seed: bool = False
    retry_failed: bool = True
    resubmit_unknown: bool = False
    download: bool = True
    detach: bool = False
    max_in_flight: int | None = None
    rps: float | None = None
    budget: int | None = None
    poll_floor: float | None = None
    shard: str | None = None
    report: bool = True
    allow_outputs_outside: bool = False
    allow_private_downloads: bool = False


@dataclass(frozen=True)
class Prepared:
    jobs: list[Job]
    api: ApiConfig | None  # None: the built-in simulator
    outputs: Path


@dataclass
class Finished:
    runner: Runner
    report: Path | None


MakeReporter = Callable[[int, ClientStats], Reporter]


def prepare(spec: Spec, spec_path: Path, options: ApplyOptions) -> Prepared:
    """Refuse a run that would be refused anyway, before anything is sent."""
    check_select(spec.jobs, options.select)
    jobs = select(spec.jobs, options.select) if options.select else list(spec.jobs)
    if options.shard:
        index, count = parse_shard(options.shard)
        jobs = in_shard(spec.jobs, jobs, index, count)
    if options.max_in_flight is not None and options.max_in_flight < 1:
        raise ConfigError("--max-in-flight must be at least 1")
    for flag, value in (("--rps", options.rps), ("--poll-floor", options.poll_floor)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{flag} must be a positive number, got {value}")
    if options.budget is not None and options.budget < 1:
        raise ConfigError(f"--budget must be at least 1 token, got {options.budget}")
    low, high = options.sim_task_seconds
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
        raise ConfigError(f"--sim-task-seconds wants 0 < MIN <= MAX, got {low},{high}")
    if options.sim_disk_space is not None and not options.sim:
        raise ConfigError("--sim-disk-space rehearses a full disk, with --sim only")
    api = (
        None
        if options.sim
        else resolve(cli_base_url=options.base_url, spec_base_url=spec.settings.base_url)
    )
    outputs = preflight.check(spec, spec_path, allow_outside=options.allow_outputs_outside)
    return Prepared(jobs, api, outputs)


async def run(
    spec: Spec,
    lock_path: Path,
    prepared: Prepared,
    options: ApplyOptions,
    *,
    make_reporter: MakeReporter,
    on_runner: Callable[[Runner], None] = lambda runner: None,
    locked: bool = False,
) -> Finished:
    """Run the campaign to its end, to Ctrl-C (the main thread's SIGINT) or to
    ``runner.stop``; the lockfile is written in every case. ``locked``: the
    caller already holds the run lock (the CLI takes it before starting trio)."""
    with contextlib.ExitStack() as stack:
        if not locked:
            stack.enter_context(RunLock(lock_path).held())
        runner = await _run(spec, lock_path, prepared, options, make_reporter, on_runner)
    report = None
    if options.report:
        try:
            report = write_report(
                spec, runner.lock, lock_path=lock_path, out=default_report_path(lock_path)
            )
        except SeedrunError as exc:  # a good run is not failed by its report
            print(f"seedrun: report not written: {clean(str(exc))}", file=sys.stderr)
    return Finished(runner, report)


async def _run(
    spec: Spec,
    lock_path: Path,
    prepared: Prepared,
    options: ApplyOptions,
    make_reporter: MakeReporter,
    on_runner: Callable[[Runner], None],
) -> Runner:
    lock = recover(lock_path)
    settings = spec.settings
    run_options = RunOptions(
        max_in_flight=options.max_in_flight or settings.max_in_flight,
        poll_floor=options.poll_floor or settings.poll_min_interval,
        task_timeout=settings.task_timeout,
        retry_failed=options.retry_failed,
        resubmit_unknown=options.resubmit_unknown,
        download=options.download,
        detach=options.detach,
        keep_seed=options.keep_seed,
        replace=tuple(options.replace),
        budget_tokens=options.budget if options.budget is not None else settings.budget_tokens,
    )
    async with _api(prepared.api, options.sim_task_seconds, lock, bool(spec.files)) as conf:
        pacer = Pacer(options.rps or settings.requests_per_second)
        async with SeedanceClient(
            base_url=conf.base_url,
            api_key=conf.api_key,
            pacer=pacer,
            max_download_bytes=settings.max_download_bytes or MAX_DOWNLOAD_BYTES,
            allow_private_downloads=options.allow_private_downloads,
        ) as client:
            # Opened once the client exists: a bad base URL or key must not leave a
            # journal behind (the next run would fold it into an empty lockfile).
            journal = Journal(journal_path(lock_path), space=options.sim_disk_space)
            runner = Runner(
                spec,
                prepared.jobs,
                lock,
                lock_dir=lock_path.parent.resolve(),
                outputs_dir=prepared.outputs,
                client=client,
                journal=journal,
                options=run_options,
                missing_outputs=missing_outputs(lock, lock_path),
                uploads=uploader_for(spec),
                bucket=bucket_outputs_for(spec),
            )
            owned = foreign_outputs(lock_path, lock)
            runner.downloads.foreign = frozenset(owned)
            clash = clashes(runner.planned_outputs(), owned)
            if clash:
                journal.close()
                journal_path(lock_path).unlink(missing_ok=True)
                more = f" (and {len(clash) - 1} more)" if clash[1:] else ""
                raise ConfigError(clash[0] + more)
            reporter = make_reporter(len(prepared.jobs), client.stats)
            runner.reporter = reporter
            on_runner(runner)
            try:
                with contextlib.ExitStack() as stack:
                    if isinstance(reporter, contextlib.AbstractContextManager):
                        stack.enter_context(reporter)
                    async with trio.open_nursery() as nursery:
                        if threading.current_thread() is threading.main_thread():
                            nursery.start_soon(_on_sigint, runner)
                        await runner.run()
                        nursery.cancel_scope.cancel()
            finally:
                journal.close()
                save(lock_path, runner)
    return runner


def save(lock_path: Path, runner: Runner) -> None:
    """Fold the run into the lockfile. Task ids the journal could not take are
    printed first, so a failure here (the same full disk) loses none of them."""
    for job_id, task_id in sorted(runner.outcome.undurable.items()):
        print(
            f"seedrun: NOT RECORDED: job {clean(job_id)} is task {clean(task_id)}; keep "
            "this line to recover it",
            file=sys.stderr,
        )
    try:
        write_lock(lock_path, runner.lock)
    except OSError as exc:
        # The journal (whatever reached it) stays for the next run to fold.
        raise LockError(
            f"{lock_path}: cannot write the lockfile: {exc.strerror or exc}; the journal "
            "beside it is kept and folded by the next apply"
        ) from None
    journal_path(lock_path).unlink(missing_ok=True)


async def _on_sigint(runner: Runner) -> None:
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        async for _ in signals:
            runner.stop("interrupted")
            return


@contextlib.asynccontextmanager
async def _api(
    api: ApiConfig | None, seconds: tuple[float, float], lock: Lock, fetch_images: bool
) -> AsyncIterator[ApiConfig]:
    if api is not None:
        yield api
        return
    # Uploaded images are fetched by moderation, as the real service would.
    config = SimConfig(task_seconds=seconds, concurrency=None, fetch_images=fetch_images)
    async with running_sim(config) as sim:
        # A fresh simulator per run: it must know the asset ids an earlier
        # simulated run got approved, as the real service would.
        sim.state.assets.update(a.asset_url for a in lock.assets.values() if a.asset_url)
        yield ApiConfig(base_url=sim.base_url, api_key=sim.api_key)
