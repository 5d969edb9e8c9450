"""``seedrun apply``: make the campaign's videos, incrementally and crash-safe."""

from __future__ import annotations

import argparse
import contextlib
import math
import shlex
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import trio

from seedrun import preflight, prompt
from seedrun.api import Campaign
from seedrun.bucket_outputs import bucket_outputs_for
from seedrun.client import MAX_DOWNLOAD_BYTES, SeedanceClient
from seedrun.config import ApiConfig, resolve
from seedrun.errors import (
    EXIT_INTERRUPTED,
    EXIT_JOBS_FAILED,
    EXIT_OK,
    ConfigError,
    LockError,
    SeedrunError,
)
from seedrun.files import default_lock_path, read_spec
from seedrun.lockfile import Lock
from seedrun.outputfiles import (
    clashes,
    default_report_path,
    foreign_outputs,
    missing_outputs,
)
from seedrun.pacer import Pacer
from seedrun.progress import LiveReporter, PlainReporter
from seedrun.report import write_report
from seedrun.runner import Outcome, Reporter, Runner, RunOptions
from seedrun.safetext import clean
from seedrun.shard import in_shard, parse_shard
from seedrun.sim import SimConfig, running_sim
from seedrun.spec import Job, Spec, select
from seedrun.store import Journal, RunLock, journal_path, recover, write_lock
from seedrun.uploads import uploader_for


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec")
    p.add_argument("--lock", help="lockfile (default: the spec's name with .lock)")
    p.add_argument("--sim", action="store_true", help="run against the built-in simulator")
    p.add_argument(
        "--sim-task-seconds",
        default="2,4",
        metavar="MIN,MAX",
        help="simulated task run time with --sim (default 2,4)",
    )
    p.add_argument("--base-url", help="API base URL (overrides SEEDRUN_BASE_URL and the spec)")
    p.add_argument(
        "--select",
        action="append",
        metavar="GLOB",
        help="only these job ids (and the jobs they depend on)",
    )
    p.add_argument(
        "--replace",
        action="append",
        metavar="GLOB",
        help="force new tasks for these jobs even if they succeeded",
    )
    p.add_argument(
        "--keep-seed",
        action="store_true",
        help="with --replace: send the seed recorded for the job",
    )
    p.add_argument(
        "--no-retry-failed",
        dest="retry_failed",
        action="store_false",
        help="leave failed jobs failed",
    )
    p.add_argument(
        "--resubmit-unknown",
        action="store_true",
        help="create again the jobs whose earlier create had an unknown outcome",
    )
    p.add_argument(
        "--no-download",
        dest="download",
        action="store_false",
        help="record video URLs but do not download",
    )
    p.add_argument(
        "--detach",
        action="store_true",
        help="submit everything, record it and exit; a later apply collects",
    )
    p.add_argument("--max-in-flight", type=int, metavar="N")
    p.add_argument("--rps", type=float, metavar="R", help="cap on API requests per second")
    p.add_argument("--budget", type=int, metavar="TOKENS", help="token budget for this run")
    p.add_argument(
        "--poll-floor", type=float, metavar="S", help="never poll one task more often than this"
    )
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="run only shard I of N (by a hash of the job id; chains stay whole)",
    )
    p.add_argument(
        "--allow-outputs-outside",
        action="store_true",
        help="let the spec's outputs.dir lead out of its repository",
    )
    p.add_argument(
        "--allow-private-downloads",
        action="store_true",
        help="let video URLs point at loopback, private or link-local addresses",
    )
    p.add_argument(
        "--sim-disk-space",
        type=int,
        metavar="BYTES",
        help="with --sim: rehearse a disk that fills after BYTES of journal",
    )
    p.add_argument("--quiet", action="store_true", help="only the final summary")
    p.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="do not ask before creating paid tasks (asked only on a terminal)",
    )
    p.add_argument(
        "--no-report",
        dest="report",
        action="store_false",
        help="do not write <lock name>.report.html beside the lockfile",
    )


HELP = "moderate, submit, poll and download; record everything in the lockfile"


def run(args: argparse.Namespace) -> int:
    spec_path = Path(args.spec)
    spec = read_spec(spec_path)
    lock_path = Path(args.lock) if args.lock else default_lock_path(spec_path)
    jobs = select(spec.jobs, args.select) if args.select else list(spec.jobs)
    if args.select and not jobs:
        raise ConfigError(f"--select {' '.join(args.select)} matches no job")
    if args.shard:
        index, count = parse_shard(args.shard)
        jobs = in_shard(spec.jobs, jobs, index, count)
    if args.max_in_flight is not None and args.max_in_flight < 1:
        raise ConfigError("--max-in-flight must be at least 1")
    for flag, value in (("--rps", args.rps), ("--poll-floor", args.poll_floor)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{flag} must be a positive number, got {value}")
    if args.budget is not None and args.budget < 1:
        raise ConfigError(f"--budget must be at least 1 token, got {args.budget}")
    api = (
        None
        if args.sim
        else resolve(cli_base_url=args.base_url, spec_base_url=spec.settings.base_url)
    )
    sim_seconds = _seconds_pair(args.sim_task_seconds)
    if args.sim_disk_space is not None and not args.sim:
        raise ConfigError("--sim-disk-space rehearses a full disk, with --sim only")
    outputs = preflight.check(spec, spec_path, allow_outside=args.allow_outputs_outside)
    asking = not (args.yes or args.sim) and prompt.on_terminal()
    if asking and not _confirmed(args, Campaign(spec, path=spec_path, lock_path=lock_path), jobs):
        print("seedrun: nothing created", file=sys.stderr)
        return EXIT_JOBS_FAILED
    with RunLock(lock_path).held():
        return trio.run(_apply, args, spec, jobs, spec_path, lock_path, outputs, api, sim_seconds)


def _confirmed(args: argparse.Namespace, campaign: Campaign, jobs: Sequence[Job]) -> bool:
    """Ask before spending, when apply would create paid tasks (see seedrun.prompt)."""
    result = campaign.plan(
        select=tuple(args.select or ()),
        replace=tuple(args.replace or ()),
        retry_failed=args.retry_failed,
        resubmit_unknown=args.resubmit_unknown,
    )
    chosen = {j.id for j in jobs}
    if not any(i.id in chosen for i in result.creates):
        return True  # nothing to pay for: nothing to ask
    return prompt.confirm(prompt.summary(campaign.spec, result, chosen))


def _seconds_pair(text: str) -> tuple[float, float]:
    try:
        low, _, high = text.partition(",")
        pair = (float(low), float(high or low))
    except ValueError:
        raise ConfigError(f"--sim-task-seconds wants MIN,MAX, got {text!r}") from None
    if not all(math.isfinite(x) for x in pair) or pair[0] <= 0 or pair[1] < pair[0]:
        raise ConfigError(f"--sim-task-seconds wants 0 < MIN <= MAX, got {text!r}")
    return pair


@contextlib.asynccontextmanager
async def _api(
    api: ApiConfig | None, seconds: tuple[float, float], lock: Lock, fetch_images: bool = False
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


async def _apply(
    args: argparse.Namespace,
    spec: Spec,
    jobs: list,  # type: ignore[type-arg]
    spec_path: Path,
    lock_path: Path,
    outputs: Path,
    api: ApiConfig | None,
    sim_seconds: tuple[float, float],
) -> int:
    lock = recover(lock_path)
    missing = missing_outputs(lock, lock_path)
    settings = spec.settings
    options = RunOptions(
        max_in_flight=args.max_in_flight or settings.max_in_flight,
        poll_floor=args.poll_floor or settings.poll_min_interval,
        task_timeout=settings.task_timeout,
        retry_failed=args.retry_failed,
        resubmit_unknown=args.resubmit_unknown,
        download=args.download,
        detach=args.detach,
        keep_seed=args.keep_seed,
        replace=tuple(args.replace or ()),
        budget_tokens=args.budget if args.budget is not None else settings.budget_tokens,
    )
    interrupted = False
    async with _api(api, sim_seconds, lock, bool(spec.files)) as conf:
        pacer = Pacer(args.rps or settings.requests_per_second)
        async with SeedanceClient(
            base_url=conf.base_url,
            api_key=conf.api_key,
            pacer=pacer,
            max_download_bytes=settings.max_download_bytes or MAX_DOWNLOAD_BYTES,
            allow_private_downloads=args.allow_private_downloads,
        ) as client:
            # Opened once the client exists: a bad base URL or key must not leave a
            # journal behind (the next run would fold it into an empty lockfile).
            journal = Journal(journal_path(lock_path), space=args.sim_disk_space)
            uploads, bucket = uploader_for(spec), bucket_outputs_for(spec)
            runner = Runner(
                spec,
                jobs,
                lock,
                lock_dir=lock_path.parent.resolve(),
                outputs_dir=outputs,
                client=client,
                journal=journal,
                options=options,
                missing_outputs=missing,
                uploads=uploads,
                bucket=bucket,
            )
            owned = foreign_outputs(lock_path)
            runner.foreign_outputs = frozenset(owned)
            clash = clashes(runner.planned_outputs(), owned)
            if clash:
                journal.close()
                journal_path(lock_path).unlink(missing_ok=True)
                raise ConfigError(clash[0] + (f" (and {len(clash) - 1} more)" if clash[1:] else ""))
            live = sys.stderr.isatty() and not args.quiet
            reporter: Reporter = (
                LiveReporter(len(jobs), client.stats) if live else PlainReporter(quiet=args.quiet)
            )
            runner.reporter = reporter
            try:
                with contextlib.ExitStack() as stack:
                    if isinstance(reporter, LiveReporter):
                        stack.enter_context(reporter)
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(_on_sigint, runner, nursery.cancel_scope)
                        outcome = await runner.run()
                        interrupted = runner.outcome.fatal == "interrupted"
                        nursery.cancel_scope.cancel()
            finally:
                journal.close()
                _save(lock_path, runner)
    report = None
    if args.report:
        try:
            report = write_report(
                spec, runner.lock, lock_path=lock_path, out=default_report_path(lock_path)
            )
        except SeedrunError as exc:  # a good run is not failed by its report
            print(f"seedrun: report not written: {clean(str(exc))}", file=sys.stderr)
    return _summary(runner, outcome, lock_path, spec_path, args, interrupted, report)


def _save(lock_path: Path, runner: Runner) -> None:
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


async def _on_sigint(runner: Runner, scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        async for _ in signals:
            runner.stop("interrupted")
            return


def resume_command(spec_path: Path, args: argparse.Namespace) -> str:
    """The command that picks this run up again: the flags that choose what it
    runs against and on which jobs, repeated as given."""
    words = ["seedrun", "apply", str(spec_path)]
    if args.sim:
        words.append("--sim")
        if args.sim_task_seconds != "2,4":
            words += ["--sim-task-seconds", args.sim_task_seconds]
    for flag, value in (("--lock", args.lock), ("--base-url", args.base_url),
                        ("--shard", args.shard)):
        if value:
            words += [flag, value]
    for glob in args.select or ():
        words += ["--select", glob]
    if args.allow_outputs_outside:
        words.append("--allow-outputs-outside")
    return " ".join(shlex.quote(w) for w in words)


def _summary(
    runner: Runner,
    outcome: Outcome,
    lock_path: Path,
    spec_path: Path,
    args: argparse.Namespace,
    interrupted: bool,
    report: Path | None = None,
) -> int:
    counts = Counter(outcome.status.values())
    line = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    print(f"\n{len(outcome.status)} jobs: {line or 'nothing to do'}")
    # Every job that did not end well says why, an unfinished download included.
    undone = set(outcome.undone)
    problems = {
        j: r
        for j, r in outcome.reasons.items()
        if j in undone
        or outcome.status.get(j) in ("failed", "blocked", "unknown", "cancelled", "pending")
    }
    for job_id, reason in sorted(problems.items()):
        print(f"  {outcome.status[job_id]:<8} {clean(job_id)}: {clean(reason)}")
    unknown = [j for j, s in outcome.status.items() if s == "unknown"]
    if unknown:
        print(
            f"{len(unknown)} job(s) have an unknown outcome; check the provider's console, "
            "then rerun with --resubmit-unknown to create them again"
        )
    print(f"lockfile: {lock_path}")
    if report is not None:
        print(f"report: {report}")
    again = resume_command(spec_path, args)
    if interrupted:
        print(f"interrupted; resume with: {again}")
        return EXIT_INTERRUPTED
    if outcome.fatal:
        print(f"stopped: {clean(outcome.fatal)}", file=sys.stderr)
        return 2
    bad = any(s in ("failed", "blocked", "unknown", "cancelled") for s in outcome.status.values())
    if args.detach:
        print(f"submitted; collect the videos later with: {again}")
        return EXIT_JOBS_FAILED if bad else EXIT_OK
    if outcome.undone:
        print(f"{len(outcome.undone)} job(s) not finished; run again: {again}")
    return EXIT_JOBS_FAILED if bad or outcome.undone else EXIT_OK
