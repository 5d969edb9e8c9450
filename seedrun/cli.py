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


def _module(name: str) -> ModuleType:
    return importlib.import_module(
        "seedrun.sim.cli" if name == "sim" else f"seedrun.commands.{name}"
    )


def _parser() -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    p = argparse.ArgumentParser(
        prog="seedrun",
        description="Declarative, version-controlled batch runs of Seedance video tasks.",
    )
    p.add_argument("--version", action="version", version=f"seedrun {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules: dict[str, ModuleType] = {}
    for name in COMMANDS:
        module = modules[name] = _module(name)
        help_text = getattr(module, "HELP", "serve the built-in API simulator")
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return p, modules


def _first_own(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first SeedrunError (or Ctrl-C) in a group; the group itself otherwise."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            exc = _first_own(exc)
        if isinstance(exc, SeedrunError | KeyboardInterrupt | OSError):
            return exc
    return group


def print_error(exc: SeedrunError) -> int:
    """Print one of seedrun's errors as the user sees it; return its exit code."""
    if isinstance(exc, SpecError):
        for diag in exc.diagnostics:
            print(diag, file=sys.stderr)
        n = len(exc.diagnostics)
        print(f"seedrun: {n} error{'s' if n != 1 else ''} in spec", file=sys.stderr)
        return EXIT_USAGE
    print(f"seedrun: {exc}", file=sys.stderr)
    return exc.exit_code


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
    except SeedrunError as exc:
        return print_error(exc)
    except KeyboardInterrupt:
        print("seedrun: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        # A file or folder seedrun was told to use cannot be: say which, and why.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"seedrun: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
