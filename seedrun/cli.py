"""Command-line entry point: ``main(argv) -> int``.

Each command lives in ``seedrun/commands/<name>.py`` with ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. Every SeedrunError becomes
its message on stderr and its documented exit code; no traceback reaches the
user.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from seedrun import __version__
from seedrun.errors import EXIT_INTERRUPTED, EXIT_USAGE, SeedrunError, SpecError

COMMANDS = (
    "validate",
    "plan",
    "render",
    "apply",
    "status",
    "diff",
    "lock",
    "prune",
    "cancel",
    "report",
    "sim",
    "schema",
)


def _core_arguments(name: str, p: argparse.ArgumentParser) -> None:
    """Options of the no-network commands (validate, plan, render, schema)."""
    if name != "schema":
        p.add_argument("spec")
    if name == "plan":
        p.add_argument("--lock", help="lockfile (default: the spec's name with .lock)")
        p.add_argument("--replace", action="append", metavar="GLOB", help="force new tasks")
        p.add_argument("--json", action="store_true", help="one JSON document")
    if name in ("plan", "render"):
        p.add_argument(
            "--select",
            action="append",
            metavar="GLOB",
            help="only these job ids (and the jobs they depend on)",
        )
    if name == "schema":
        p.add_argument("--lock", action="store_true", help="print the lockfile's schema instead")


CORE_HELP = {
    "validate": "check a spec against the schema and lints; no network",
    "plan": "show what apply would do for each job; no network",
    "render": "print the exact request bodies as JSON lines; no network",
    "schema": "print the spec's JSON Schema",
}


def _module(name: str) -> ModuleType | None:
    target = "seedrun.sim.cli" if name == "sim" else f"seedrun.commands.{name}"
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if exc.name == target:
            return None  # a command not built yet
        raise


def _parser() -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    p = argparse.ArgumentParser(
        prog="seedrun",
        description="Declarative, version-controlled batch runs of Seedance video tasks.",
    )
    p.add_argument("--version", action="version", version=f"seedrun {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules: dict[str, ModuleType] = {}
    for name in COMMANDS:
        module = _module(name)
        if module is None:
            continue
        modules[name] = module
        help_text = (
            getattr(module, "HELP", None)
            or CORE_HELP.get(name)
            or "serve the built-in API simulator"
        )
        parser = sub.add_parser(name, help=help_text, description=help_text)
        if hasattr(module, "add_arguments"):
            module.add_arguments(parser)
        else:
            _core_arguments(name, parser)
    return p, modules


def _first_own(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first SeedrunError (or Ctrl-C) in a group; the group itself otherwise."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            exc = _first_own(exc)
        if isinstance(exc, SeedrunError | KeyboardInterrupt | OSError):
            return exc
    return group


def main(argv: Sequence[str] | None = None) -> int:
    parser, modules = _parser()
    args = parser.parse_args(argv)
    try:
        try:
            code: int = modules[args.command].run(args)
            return code
        except BaseExceptionGroup as group:
            # trio wraps errors from inside nurseries; show the first of ours.
            raise _first_own(group) from None
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
    except OSError as exc:
        # A file or folder seedrun was told to use cannot be: say which, and why.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"seedrun: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
