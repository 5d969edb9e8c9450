"""Command-line entry point: ``main(argv) -> int``.

Each command lives in ``seedrun/commands/<name>.py`` with ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. Every SeedrunError becomes
its message on stderr and its documented exit code; no traceback reaches the
user. A mistyped command, flag or choice gets the closest valid one suggested.
A closed stdout (``seedrun render x.yaml | head -1``) ends the command quietly
with 141, as a Unix tool killed by SIGPIPE does.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import re
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from seedrun import __version__
from seedrun.errors import EXIT_INTERRUPTED, EXIT_USAGE, SeedrunError, SpecError

COMMANDS = (
    "init",
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
    "completion",
)
EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a tool killed by SIGPIPE

# Completion hints for shtab, by argument dest (see commands/completion.py).
_FILE_DESTS = frozenset({"spec", "spec_opt", "lock", "usage_from", "out", "output", "base"})
_DIR_DESTS = frozenset({"dir"})
_JOB_DESTS = frozenset({"select", "replace"})


class _Parser(argparse.ArgumentParser):
    """argparse, plus "did you mean" for a mistyped command or choice."""

    def error(self, message: str) -> NoReturn:
        found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if found:
            choices = re.findall(r"'([^']*)'", found.group(2))
            hint = closest(found.group(1), choices)
            if hint:
                message += f"; did you mean {hint!r}?"
        super().error(message)


def closest(word: str, candidates: Sequence[str]) -> str | None:
    """The candidate ``word`` most likely is a typo of, if any is close enough."""
    got = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return got[0] if got else None


def _module(name: str) -> ModuleType:
    return importlib.import_module(
        "seedrun.sim.cli" if name == "sim" else f"seedrun.commands.{name}"
    )


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    p = _Parser(
        prog="seedrun",
        description="Declarative, version-controlled batch runs of Seedance video tasks.",
    )
    p.add_argument("--version", action="version", version=f"seedrun {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parsers: dict[str, argparse.ArgumentParser] = {}
    for name in COMMANDS:
        module = _module(name)
        help_text = getattr(module, "HELP", "serve the built-in API simulator")
        child = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(child)
        child.set_defaults(_run=module.run)
        parsers[name] = child
    return p, parsers


def build_parser() -> argparse.ArgumentParser:
    """The whole parser, with completion hints on file and job-id arguments."""
    from seedrun.commands.completion import JOB_IDS

    parser, subs = _parser()
    file_hint = {"bash": "_shtab_compgen_files", "zsh": "_files"}
    for child in subs.values():
        for action in _all_actions(child):
            if action.dest in _FILE_DESTS:
                action.complete = file_hint  # type: ignore[attr-defined]
            elif action.dest in _DIR_DESTS:
                action.complete = {"bash": "_shtab_compgen_dirs", "zsh": "_files -/"}  # type: ignore[attr-defined]
            elif action.dest in _JOB_DESTS:
                action.complete = JOB_IDS  # type: ignore[attr-defined]
    return parser


def _all_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    out = list(parser._actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                out += _all_actions(child)
    return out


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [s for a in _all_actions(parser) for s in a.option_strings if s.startswith("--")]


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser, subs = _parser()
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0].startswith("--"):  # `seedrun --verison`: before any command
        flag = words[0].split("=", 1)[0]
        top = [s for a in parser._actions for s in a.option_strings if s.startswith("--")]
        hint = None if flag in top else closest(flag, top)
        if hint:
            parser.error(f"unrecognized arguments: {flag}; did you mean {hint}?")
    args, extra = parser.parse_known_args(words)
    if extra:
        # The top-level parser would report these with its own usage and no hint:
        # report them as the command's, with the closest flag it has.
        child = subs[args.command]
        bad = extra[0]
        message = f"unrecognized arguments: {' '.join(extra)}"
        if bad.startswith("-"):
            hint = closest(bad.split("=", 1)[0], _options(child))
            if hint:
                message += f"; did you mean {hint}?"
        child.error(message)
    return args


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


def _first_own(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first SeedrunError (or Ctrl-C) in a group; the group itself otherwise."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            exc = _first_own(exc)
        if isinstance(exc, SeedrunError | KeyboardInterrupt | OSError):
            return exc
    return group


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real stdout (captured in tests): nothing to redirect
        pass


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    args = _parse(argv)
    try:
        try:
            code: int = args._run(args)
            sys.stdout.flush()  # a closed pipe shows here, inside our handler
            return code
        except BaseExceptionGroup as group:
            # trio wraps errors from inside nurseries; show the first of ours.
            raise _first_own(group) from None
    except BrokenPipeError:
        raise
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
