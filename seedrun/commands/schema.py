from __future__ import annotations

import argparse
import json

from seedrun.lockfile import lock_schema
from seedrun.spec import schema


def run(args: argparse.Namespace) -> int:
    print(json.dumps(lock_schema() if args.lock else schema(), indent=2))
    return 0
