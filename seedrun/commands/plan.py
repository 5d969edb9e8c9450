from __future__ import annotations

import argparse
import json
from pathlib import Path

from seedrun import plan as planner
from seedrun.files import default_lock_path, read_lock, read_spec
from seedrun.spec import select

HELP = "show what apply would do for each job; no network"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec")
    p.add_argument("--lock", help="lockfile (default: the spec's name with .lock)")
    p.add_argument("--select", action="append", metavar="GLOB", help="only these job ids")
    p.add_argument("--replace", action="append", metavar="GLOB", help="force new tasks")
    p.add_argument("--json", action="store_true", help="one JSON document")


def run(args: argparse.Namespace) -> int:
    spec_path = Path(args.spec)
    spec = read_spec(spec_path)
    lock_path = Path(args.lock) if args.lock else default_lock_path(spec_path)
    lock = read_lock(lock_path)
    jobs = select(spec.jobs, args.select) if args.select else list(spec.jobs)
    options = planner.Options(replace=tuple(args.replace or ()))
    items = planner.plan(jobs, lock, options)
    counts = planner.counts(items)
    if args.json:
        doc = {
            "jobs": [_item_json(i) for i in items],
            "counts": counts,
        }
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return 0
    width = max((len(i.action) for i in items), default=6)
    for item in items:
        reason = f"  ({item.reason})" if item.reason else ""
        print(f"{item.action:<{width}}  {item.id}  {item.key[:12]}{reason}")
    summary = ", ".join(f"{n} {a}" for a, n in counts.items()) or "nothing to do"
    print(f"\nPlan for {spec_path} against {lock_path}: {summary}")
    return 0


def _item_json(item: planner.PlanItem) -> dict[str, object]:
    out: dict[str, object] = {"id": item.id, "action": item.action, "key": item.key}
    if item.reason:
        out["reason"] = item.reason
    if item.old_key:
        out["old_key"] = item.old_key
    return out
