from __future__ import annotations

import argparse
import json
from typing import Any

from seedrun import plan as planner
from seedrun.api import load
from seedrun.cost import Estimate
from seedrun.errors import EXIT_OK, EXIT_PLAN_CHANGES
from seedrun.markdown import plan_markdown
from seedrun.safetext import clean, guard, json_text
from seedrun.spec import Spec

HELP = "show what apply would do for each job, and what it may cost; no network"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec")
    p.add_argument("--lock", help="lockfile (default: the spec's name with .lock)")
    p.add_argument(
        "--select",
        action="append",
        metavar="GLOB",
        help="only these job ids (and the jobs they depend on)",
    )
    p.add_argument("--replace", action="append", metavar="GLOB", help="force new tasks")
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    p.add_argument("--json", action="store_true", help="same as --format json")
    p.add_argument(
        "--usage-from",
        action="append",
        metavar="LOCK",
        default=[],
        help="also learn token usage from this lockfile (repeatable)",
    )
    p.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help=f"exit 0 when apply has nothing to do, {EXIT_PLAN_CHANGES} when it has (for CI)",
    )


def run(args: argparse.Namespace) -> int:
    """Show what apply would do for each job; ``--select`` adds the jobs selected ones need."""
    campaign = load(args.spec, lock=args.lock)
    result = campaign.plan(
        select=tuple(args.select or ()),
        replace=tuple(args.replace or ()),
        usage_from=tuple(args.usage_from),
    )
    spec, lock_path = campaign.spec, campaign.lock_path
    items, counts, estimates = list(result.items), dict(result.counts), dict(result.estimates)
    by_id = spec.by_id()
    code = EXIT_PLAN_CHANGES if args.detailed_exitcode and result.has_changes else EXIT_OK
    fmt = "json" if args.json else args.format
    if fmt == "markdown":
        print(guard(plan_markdown(spec, items, counts, estimates=estimates)), end="")
        print(estimate_line(spec, estimates))
        return code
    if fmt == "json":
        doc = {
            "jobs": [_item_json(i, by_id, estimates) for i in items],
            "counts": counts,
            "estimate": _estimate_json(spec, estimates),
        }
        print(json_text(json.dumps(doc, indent=2, ensure_ascii=False)))
        return code
    width = max((len(i.action) for i in items), default=6)
    for item in items:
        # Ids and reasons come from the spec and the lockfile: one escaped line each.
        reason = f"  ({clean(item.reason)})" if item.reason else ""
        job = by_id.get(item.id)
        deps = ", ".join(clean(d) for d in job.deps) if job is not None else ""
        after = f"  after {deps}" if deps else ""
        print(guard(f"{item.action:<{width}}  {clean(item.id)}  {item.key[:12]}{after}{reason}"))
    summary = ", ".join(f"{n} {a}" for a, n in counts.items()) or "nothing to do"
    print(guard(f"\nPlan for {clean(str(args.spec))} against {clean(str(lock_path))}: {summary}"))
    print(estimate_line(spec, estimates))
    return code


def _estimate_json(spec: Spec, estimates: dict[str, Estimate | None]) -> dict[str, Any]:
    known = [e for e in estimates.values() if e is not None]
    out: dict[str, Any] = {
        "jobs": len(estimates),
        "known": len(known),
        "tokens": sum(e.tokens for e in known) if known else None,
    }
    if known:
        sources: dict[str, int] = {}
        for e in known:
            sources[e.source] = sources.get(e.source, 0) + 1
        out["sources"] = dict(sorted(sources.items(), key=lambda kv: (-kv[1], kv[0])))
    price = spec.settings.price_per_million_tokens
    if price is not None and known:
        out["cost"] = round(out["tokens"] * price / 1e6, 4)
    return out


def estimate_line(spec: Spec, estimates: dict[str, Estimate | None]) -> str:
    e = _estimate_json(spec, estimates)
    if not e["jobs"]:
        return "Estimate: nothing new to pay for"
    if not e["known"]:
        return f"Estimate: unknown for {e['jobs']} new task(s)"
    unknown = e["jobs"] - e["known"]
    text = f"Estimate: {e['tokens']:,} tokens for {e['known']} of {e['jobs']} new task(s)"
    if not unknown:
        text = f"Estimate: {e['tokens']:,} tokens for {e['jobs']} new task(s)"
    text += " (" + ", ".join(f"{n} from the {src}" for src, n in e["sources"].items()) + ")"
    if "cost" in e:
        text += f", {e['cost']:.2f} at {spec.settings.price_per_million_tokens}/M tokens"
    if unknown:
        text += f"; unknown for {unknown}"
    return text


def _item_json(
    item: planner.PlanItem, by_id: dict[str, Any], estimates: dict[str, Estimate | None]
) -> dict[str, object]:
    out: dict[str, object] = {"id": item.id, "action": item.action, "key": item.key}
    if item.reason:
        out["reason"] = item.reason
    if item.old_key:
        out["old_key"] = item.old_key
    job = by_id.get(item.id)
    if job is not None and job.deps:
        out["after"] = list(job.deps)
    if item.id in estimates:
        found = estimates[item.id]
        out["estimate_tokens"] = None if found is None else found.tokens
        out["estimate_source"] = None if found is None else found.source
    return out
