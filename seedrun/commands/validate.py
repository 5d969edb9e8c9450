from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import trio

from seedrun import preflight
from seedrun.errors import EXIT_USAGE
from seedrun.files import default_lock_path, read_spec
from seedrun.remote_check import check_remote, remote_images
from seedrun.safetext import clean

HELP = "check a spec against the schema and lints (and local images); no network"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec")
    p.add_argument(
        "--online",
        action="store_true",
        help="also check that remote image URLs answer and are within the API's limits "
        "(HEAD and the first bytes only)",
    )
    p.add_argument(
        "--allow-private-downloads",
        action="store_true",
        help="with --online: let the checks reach loopback and private addresses",
    )


def run(args: argparse.Namespace) -> int:
    spec_path = Path(args.spec)
    spec = read_spec(spec_path)
    preflight.check(spec, spec_path, default_lock_path(spec_path))
    finals = sum(1 for j in spec.jobs if j.kind == "final")
    extra = f" ({finals} promoted from drafts)" if finals else ""
    if args.online:
        urls = remote_images(spec)
        problems = trio.run(
            partial(check_remote, urls, allow_private=args.allow_private_downloads)
        )
        for problem in problems:
            print(clean(f"{args.spec}: {problem}"), file=sys.stderr)
        if problems:
            print(
                f"seedrun: {len(problems)} of {len(urls)} remote image(s) unusable", file=sys.stderr
            )
            return EXIT_USAGE
        extra += f"; {len(urls)} remote image(s) reachable and within limits"
    print(f"{clean(args.spec)}: valid, {len(spec.jobs)} jobs{extra}")
    return 0
