"""Command-line entry point: ``main(argv) -> int``.

Every SeedrunError becomes its message on stderr and its documented exit
code; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from seedrun import __version__
from seedrun.errors import EXIT_INTERRUPTED, EXIT_USAGE, SeedrunError, SpecError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="seedrun",
        description="Declarative, version-controlled batch runs of Seedance video tasks.",
    )
    p.add_argument("--version", action="version", version=f"seedrun {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    v = sub.add_parser("validate", help="check a spec; no network")
    v.add_argument("spec")

    pl = sub.add_parser("plan", help="show what apply would do; no network")
    pl.add_argument("spec")
    pl.add_argument("--lock", help="lockfile (default: the spec's name with .lock)")
    pl.add_argument("--select", action="append", metavar="GLOB", help="only these job ids")
    pl.add_argument("--replace", action="append", metavar="GLOB", help="force new tasks")
    pl.add_argument("--json", action="store_true", help="one JSON document")

    r = sub.add_parser("render", help="print the exact request bodies as JSON lines")
    r.add_argument("spec")
    r.add_argument("--select", action="append", metavar="GLOB", help="only these job ids")

    a = sub.add_parser("apply", help="moderate, submit, poll and download; record in the lockfile")
    importlib.import_module("seedrun.commands.apply").add_arguments(a)

    sm = sub.add_parser("sim", help="serve the built-in API simulator")
    importlib.import_module("seedrun.sim.cli").add_arguments(sm)

    s = sub.add_parser("schema", help="print the spec's JSON Schema")
    s.add_argument("--lock", action="store_true", help="print the lockfile's schema instead")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    name = "seedrun.sim.cli" if args.command == "sim" else f"seedrun.commands.{args.command}"
    module = importlib.import_module(name)
    try:
        code: int = module.run(args)
        return code
    except SpecError as exc:
        for diag in exc.diagnostics:
            print(diag, file=sys.stderr)
        n = len(exc.diagnostics)
        print(f"seedrun: {n} error{'s' if n != 1 else ''} in spec", file=sys.stderr)
        return EXIT_USAGE
    except SeedrunError as exc:
        print(f"seedrun: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("seedrun: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
