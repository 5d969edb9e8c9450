from __future__ import annotations

import argparse
import json

from seedrun.lockfile import lock_schema
from seedrun.spec import schema

HELP = "print the spec's JSON Schema"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lock", action="store_true", help="print the lockfile's schema instead")


def run(args: argparse.Namespace) -> int:
    print(json.dumps(lock_schema() if args.lock else schema(), indent=2))
    return 0
