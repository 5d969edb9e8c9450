from __future__ import annotations

import argparse

from seedrun.api import load
from seedrun.errors import EXIT_OK, SeedrunError

HELP = "check specs against the schema and lints; no network"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="+", help="one or more specs (a pre-commit hook passes several)")


def run(args: argparse.Namespace) -> int:
    if len(args.spec) == 1:  # one spec: its errors go through the CLI's handler as before
        _validate(args.spec[0])
        return EXIT_OK
    from seedrun.cli import print_error

    code = EXIT_OK
    for path in args.spec:
        try:
            _validate(path)
        except SeedrunError as exc:
            code = max(code, print_error(exc))
    return code


def _validate(path: str) -> None:
    result = load(path).validate()
    extra = f" ({result.finals} promoted from drafts)" if result.finals else ""
    print(f"{result.path}: valid, {result.jobs} jobs{extra}")
