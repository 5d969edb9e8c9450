from __future__ import annotations

import argparse
from pathlib import Path

from seedrun.files import read_spec
from seedrun.hosts import check_spec_base_url

HELP = "check a spec against the schema and lints; no network"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec")


def run(args: argparse.Namespace) -> int:
    spec = read_spec(Path(args.spec))
    if spec.settings.base_url:  # the rule apply applies (config.resolve)
        check_spec_base_url(spec.settings.base_url)
    finals = sum(1 for j in spec.jobs if j.kind == "final")
    extra = f" ({finals} promoted from drafts)" if finals else ""
    print(f"{args.spec}: valid, {len(spec.jobs)} jobs{extra}")
    return 0
