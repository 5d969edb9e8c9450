from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from seedrun.errors import ConfigError
from seedrun.files import read_spec
from seedrun.safetext import clean, json_text
from seedrun.spec import Job, glob_regex, select

HELP = "print the exact request bodies as JSON lines; no network"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec")
    p.add_argument(
        "--select",
        action="append",
        metavar="GLOB",
        help="only these job ids (and the jobs they depend on)",
    )


def run(args: argparse.Namespace) -> int:
    """Print the exact request bodies as JSON lines, dependencies first.

    Values only known at run time show as placeholders: a moderated asset by
    its source URL, a chained frame as ``seedrun://last-frame/<job>@<key>``.
    ``--select`` adds the jobs that selected ones depend on.
    """
    spec = read_spec(Path(args.spec))
    patterns = tuple(args.select or ())
    check_select(spec.jobs, patterns)
    jobs = select(spec.jobs, patterns) if patterns else list(spec.jobs)
    out = sys.stdout
    for job in jobs:
        line = {"id": job.id, "api": job.api, "key": job.key, "body": job.body}
        if job.deps:
            line["after"] = list(job.deps)
        out.write(json_text(json.dumps(line, ensure_ascii=False)) + "\n")
    return 0


def check_select(jobs: Sequence[Job], patterns: Sequence[str]) -> None:
    """A ``--select`` glob that matches no job is a usage error, not an empty run."""
    for pattern in patterns:
        rx = glob_regex(pattern)
        if not any(rx.fullmatch(j.id) for j in jobs):
            shown = ", ".join(clean(j.id) for j in jobs[:3])
            raise ConfigError(f"--select {pattern!r} matches no job; job ids are like: {shown}")
