from __future__ import annotations

import argparse
import json
from pathlib import Path

from seedrun import plan as planner
from seedrun.commands.render import check_select
from seedrun.files import default_lock_path, read_lock, read_spec


def run(args: argparse.Namespace) -> int:
    """Show what apply would do for each job; ``--select`` adds the jobs selected ones need."""
    spec_path = Path(args.spec)
    spec = read_spec(spec_path)
    lock_path = Path(args.lock) if args.lock else default_lock_path(spec_path)
    lock = read_lock(lock_path)
    select = tuple(args.select or ())
    check_select(spec.jobs, select)
    options = planner.Options(replace=tuple(args.replace or ()), select=select)
    items = planner.plan(spec.jobs, lock, options)
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
