"""``seedrun apply``: make the campaign's videos, incrementally and crash-safe."""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from collections import Counter
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import trio

from seedrun import prompt
from seedrun.api import ApplyResult, Campaign, load
from seedrun.applying import ApplyOptions, prepare
from seedrun.client import ClientStats
from seedrun.errors import EXIT_JOBS_FAILED, ConfigError
from seedrun.progress import LiveReporter, PlainReporter
from seedrun.runner import Reporter
from seedrun.safetext import clean
from seedrun.spec import Job
from seedrun.store import RunLock


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
    """The CLI on top of the Python API: ``Campaign.apply_async`` with a live view
    (or log lines), the spend prompt, and a summary of how each job ended."""
    campaign = load(args.spec, lock=args.lock)
    options = ApplyOptions(
        sim=args.sim,
        sim_task_seconds=_seconds_pair(args.sim_task_seconds),
        sim_disk_space=args.sim_disk_space,
        base_url=args.base_url,
        select=tuple(args.select or ()),
        replace=tuple(args.replace or ()),
        keep_seed=args.keep_seed,
        retry_failed=args.retry_failed,
        resubmit_unknown=args.resubmit_unknown,
        download=args.download,
        detach=args.detach,
        max_in_flight=args.max_in_flight,
        rps=args.rps,
        budget=args.budget,
        poll_floor=args.poll_floor,
        shard=args.shard,
        report=args.report,
        allow_outputs_outside=args.allow_outputs_outside,
        allow_private_downloads=args.allow_private_downloads,
    )
    # Every refusal before anything is sent, and before asking to spend.
    prepared = prepare(campaign.spec, campaign.path, options)
    asking = not (args.yes or args.sim) and prompt.on_terminal()
    if asking and not _confirmed(args, campaign, prepared.jobs):
        print("seedrun: nothing created", file=sys.stderr)
        return EXIT_JOBS_FAILED

    def reporter(total: int, stats: ClientStats) -> Reporter:
        if sys.stderr.isatty() and not args.quiet:
            return LiveReporter(total, stats)
        return PlainReporter(quiet=args.quiet)

    # The run lock first: a second apply on this lockfile stops here, before trio.
    with RunLock(campaign.lock_path).held():
        run = partial(
            campaign.apply_with, options, make_reporter=reporter, prepared=prepared, locked=True
        )
        result = trio.run(run)
    return _summary(result, campaign.path, args)


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


def _summary(result: ApplyResult, spec_path: Path, args: argparse.Namespace) -> int:
    """Print how each job ended; the exit code is the API's (README, "Exit codes")."""
    counts = Counter(result.status.values())
    line = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    print(f"\n{len(result.status)} jobs: {line or 'nothing to do'}")
    # Every job that did not end well says why, an unfinished download included.
    undone = set(result.undone)
    problems = {
        j: r
        for j, r in result.reasons.items()
        if j in undone
        or result.status.get(j) in ("failed", "blocked", "unknown", "cancelled", "pending")
    }
    for job_id, reason in sorted(problems.items()):
        print(f"  {result.status[job_id]:<8} {clean(job_id)}: {clean(reason)}")
    unknown = [j for j, s in result.status.items() if s == "unknown"]
    if unknown:
        print(
            f"{len(unknown)} job(s) have an unknown outcome; check the provider's console, "
            "then rerun with --resubmit-unknown to create them again"
        )
    print(f"lockfile: {result.lock_path}")
    if result.report_path is not None:
        print(f"report: {result.report_path}")
    again = resume_command(spec_path, args)
    if result.interrupted:
        print(f"interrupted; resume with: {again}")
    elif result.fatal:
        print(f"stopped: {clean(result.fatal)}", file=sys.stderr)
    elif args.detach:
        print(f"submitted; collect the videos later with: {again}")
    elif result.undone:
        print(f"{len(result.undone)} job(s) not finished; run again: {again}")
    return result.exit_code
