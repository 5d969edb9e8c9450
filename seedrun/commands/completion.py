"""``seedrun completion bash|zsh``: the shell completion script (made by shtab).

Commands, flags and their choices complete from the parser itself, spec
arguments complete as files, and ``--select`` / ``--replace`` complete the job
ids of the spec already on the command line: the script calls
``seedrun completion --jobs SPEC``, which prints them one per line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seedrun.errors import EXIT_OK, ConfigError, SeedrunError
from seedrun.files import read_spec

HELP = "print the bash or zsh completion script (or, with --jobs SPEC, a spec's job ids)"
SHELLS = ("bash", "zsh")

# The completers named by the parser's `complete` attributes. Each looks for the
# first *.yaml / *.yml word on the line and asks seedrun for that spec's job ids;
# a spec that does not load completes nothing (the error is not shown mid-line).
BASH_PREAMBLE = r"""
# $1=the word being completed
_seedrun_job_ids() {
  local w spec=""
  for w in "${COMP_WORDS[@]}"; do
    case "$w" in *.yaml|*.yml) spec="$w"; break;; esac
  done
  [ -n "$spec" ] || return 0
  local IFS=$'\n'
  compgen -W "$(command seedrun completion --jobs "$spec" 2>/dev/null)" -- "$1"
}
"""
ZSH_PREAMBLE = r"""
_seedrun_job_ids() {
  local w spec
  for w in "${words[@]}"; do
    case "$w" in (*.yaml|*.yml) spec="$w"; break;; esac
  done
  [[ -n "$spec" ]] || return 1
  local -a ids
  ids=("${(@f)$(command seedrun completion --jobs "$spec" 2>/dev/null)}")
  compadd -a ids
}
"""
JOB_IDS = {"bash": "_seedrun_job_ids", "zsh": "_seedrun_job_ids"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", nargs="?", choices=SHELLS, help="the shell to complete for")
    p.add_argument("--jobs", metavar="SPEC", help="print the job ids of SPEC, one per line")


def run(args: argparse.Namespace) -> int:
    if args.jobs:
        try:
            spec = read_spec(Path(args.jobs))
        except SeedrunError:
            return EXIT_OK  # completing: an unreadable spec offers nothing, quietly
        sys.stdout.write("".join(j.id + "\n" for j in spec.jobs))
        return EXIT_OK
    if not args.shell:
        raise ConfigError("completion: name a shell: seedrun completion bash|zsh")
    sys.stdout.write(script(args.shell))
    return EXIT_OK


def script(shell: str) -> str:
    """The completion script for ``shell`` (bash or zsh)."""
    import shtab

    from seedrun.cli import build_parser

    parser = build_parser()
    preamble = {"bash": BASH_PREAMBLE, "zsh": ZSH_PREAMBLE}[shell]
    text: str = shtab.complete(parser, shell=shell, preamble=preamble)
    return text if text.endswith("\n") else text + "\n"
