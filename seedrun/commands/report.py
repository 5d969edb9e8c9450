"""``seedrun report``: the campaign gallery, one self-contained HTML page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seedrun.files import default_lock_path, read_spec
from seedrun.outputfiles import default_report_path
from seedrun.report import write_report
from seedrun.store import current_lock

HELP = "write a static HTML gallery of the campaign's videos"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec")
    p.add_argument("--lock", help="lockfile (default: the spec's name with .lock)")
    p.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="where to write the page (default: <lock name>.report.html beside the lockfile)",
    )


def run(args: argparse.Namespace) -> int:
    spec_path = Path(args.spec)
    spec = read_spec(spec_path)
    lock_path = Path(args.lock) if args.lock else default_lock_path(spec_path)
    if not lock_path.exists():
        print(f"no lockfile at {lock_path}: every job is shown as pending", file=sys.stderr)
    lock = current_lock(lock_path)
    out = Path(args.output) if args.output else default_report_path(lock_path)
    print(f"report: {write_report(spec, lock, lock_path=lock_path, out=out)}")
    return 0
