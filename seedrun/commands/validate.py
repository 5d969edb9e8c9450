from __future__ import annotations

import argparse
import sys
from functools import partial

import trio

from seedrun.api import load
from seedrun.errors import EXIT_OK, EXIT_USAGE, SeedrunError
from seedrun.remote_check import check_remote, remote_images
from seedrun.safetext import clean

HELP = "check specs against the schema and lints (and local images); no network"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="+", help="one or more specs (a pre-commit hook passes several)")
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
    if len(args.spec) == 1:  # one spec: its errors go through the CLI's handler as before
        return _validate(args.spec[0], args)
    from seedrun.cli import print_error

    code = EXIT_OK
    for path in args.spec:
        try:
            code = max(code, _validate(path, args))
        except SeedrunError as exc:
            code = max(code, print_error(exc))
    return code


def _validate(path: str, args: argparse.Namespace) -> int:
    campaign = load(path)
    result = campaign.validate()
    extra = f" ({result.finals} promoted from drafts)" if result.finals else ""
    if args.online:
        urls = remote_images(campaign.spec)
        problems = trio.run(
            partial(check_remote, urls, allow_private=args.allow_private_downloads)
        )
        for problem in problems:
            print(clean(f"{path}: {problem}"), file=sys.stderr)
        if problems:
            print(
                f"seedrun: {len(problems)} of {len(urls)} remote image(s) unusable", file=sys.stderr
            )
            return EXIT_USAGE
        extra += f"; {len(urls)} remote image(s) reachable and within limits"
    print(f"{clean(str(result.path))}: valid, {result.jobs} jobs{extra}")
    return EXIT_OK
