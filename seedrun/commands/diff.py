"""``seedrun diff``: what changed between two lockfiles, job by job."""

from __future__ import annotations

import argparse
import json

from seedrun.diff import diff_locks, render_text
from seedrun.errors import EXIT_JOBS_FAILED, EXIT_OK
from seedrun.gitfiles import find_lock, read_lock_arg, read_lock_at_head
from seedrun.lockfile import Lock
from seedrun.markdown import diff_markdown
from seedrun.safetext import guard, json_text

HELP = "compare two lockfiles (paths or REV:path); no arguments: HEAD vs the working copy"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "old",
        nargs="?",
        help="old lockfile: a path or REV:path (default: HEAD's version of the lockfile)",
    )
    p.add_argument(
        "new",
        nargs="?",
        help="new lockfile: a path or REV:path (default: the lockfile in the working copy)",
    )
    p.add_argument("--lock", help="the lockfile to compare (default: the only *.lock here)")
    p.add_argument(
        "--format",
        choices=("text", "markdown", "json"),
        default="text",
        help="text (default), markdown (a pull-request comment) or json",
    )
    p.add_argument(
        "--link-base",
        metavar="URL",
        help="markdown: link output files as URL/<path> (paths are relative to the lockfile)",
    )
    p.add_argument("--exit-code", action="store_true", help="exit 1 when there are differences")


def run(args: argparse.Namespace) -> int:
    old, old_label, new, new_label = _sides(args)
    result = diff_locks(old, new)
    if args.format == "json":
        print(json_text(json.dumps(result.to_json(), indent=2, ensure_ascii=False)))
    elif args.format == "markdown":
        text = diff_markdown(
            result, old_label=old_label, new_label=new_label, link_base=args.link_base
        )
        print(guard(text), end="")
    else:
        # Lockfiles come from pull requests: no line of theirs may become a CI command.
        print(guard(render_text(result)), end="")
    return EXIT_JOBS_FAILED if args.exit_code and result.changes else EXIT_OK


def _sides(args: argparse.Namespace) -> tuple[Lock, str, Lock, str]:
    if args.old is not None and args.new is not None:
        return read_lock_arg(args.old), args.old, read_lock_arg(args.new), args.new
    path = find_lock(args.lock)
    new = read_lock_arg(str(path))
    if args.old is not None:  # one side given: compare it with the working copy
        return read_lock_arg(args.old), args.old, new, str(path)
    old, label = read_lock_at_head(path)
    return old, label, new, str(path)
