from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seedrun.files import read_spec
from seedrun.safetext import json_text
from seedrun.selection import check_select
from seedrun.spec import select

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


