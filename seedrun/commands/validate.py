from __future__ import annotations

import argparse
from pathlib import Path

from seedrun import preflight
from seedrun.files import default_lock_path, read_spec

HELP = "check a spec against the schema and lints; no network"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec")


def run(args: argparse.Namespace) -> int:
    spec_path = Path(args.spec)
    spec = read_spec(spec_path)
    preflight.check(spec, spec_path, default_lock_path(spec_path))
    finals = sum(1 for j in spec.jobs if j.kind == "final")
    extra = f" ({finals} promoted from drafts)" if finals else ""
    print(f"{args.spec}: valid, {len(spec.jobs)} jobs{extra}")
    return 0
