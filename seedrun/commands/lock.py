"""``seedrun lock merge``: combine lockfiles (CI shards, or branches) into one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seedrun.errors import EXIT_OK, LockError
from seedrun.gitfiles import read_lock_arg
from seedrun.lockfile import dumps
from seedrun.merge import Source, merge_locks
from seedrun.store import RunLock, atomic_write_text, journal_path

HELP = "work on lockfiles: `seedrun lock merge A.lock B.lock ... -o jobs.lock`"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="lock_command", required=True, metavar="SUBCOMMAND")
    m = sub.add_parser(
        "merge",
        help="merge lockfiles; the same job with another request or task is a conflict",
        description=(
            "Merge lockfiles into one. Identical entries are kept once; states of the "
            "same task keep the most advanced (succeeded > failed = cancelled > running "
            "> queued > unknown > blocked); another key or task id for one job is a "
            "conflict (exit 2, nothing written)."
        ),
    )
    m.add_argument("inputs", nargs="+", metavar="LOCK", help="lockfiles: paths or REV:path")
    m.add_argument("-o", "--output", required=True, metavar="PATH", help="where to write")
    m.add_argument(
        "--base",
        metavar="LOCK",
        help="the lockfile the inputs started from; entries equal to it count as untouched",
    )


def run(args: argparse.Namespace) -> int:
    # Only one subcommand so far; argparse makes it required.
    return _merge(args)


def _merge(args: argparse.Namespace) -> int:
    sources = [Source(name, read_lock_arg(name)) for name in args.inputs]
    base = read_lock_arg(args.base) if args.base else None
    out = Path(args.output)
    # Hold the output's run lock: an apply running on it would overwrite the merge.
    with RunLock(out).held():
        if out.exists() and str(out) not in args.inputs and journal_path(out).exists():
            raise LockError(f"{journal_path(out)}: a stopped apply left a journal beside the "
                            "output; run apply (or plan) on it first, or merge it as an input")
        merged = merge_locks(sources, base)
        atomic_write_text(out, dumps(merged))
        journal_path(out).unlink(missing_ok=True)  # folded: it was one of the inputs
    n, a = len(merged.jobs), len(merged.assets)
    print(
        f"merged {len(sources)} lockfile{'s' if len(sources) != 1 else ''} into {out}: "
        f"{n} job{'s' if n != 1 else ''}, {a} asset{'s' if a != 1 else ''}",
        file=sys.stderr,
    )
    return EXIT_OK
