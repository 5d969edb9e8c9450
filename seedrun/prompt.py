"""Ask before spending: what ``apply`` is about to create, and a yes/no question.

Asked only on a terminal (standard input and error are both TTYs), only when
there is something to pay for, and never with ``--yes`` or ``--sim``; without a
terminal (CI, scripts, pipes) apply runs as it always did. Anything but "y" or
"yes" is a no, and nothing is sent.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection
from typing import TextIO

from seedrun import plan as planner
from seedrun.api import PlanResult
from seedrun.spec import Spec

SHOWN = 10  # jobs listed by name; the rest are counted


def on_terminal() -> bool:
    """Someone can answer: standard input and error are both a terminal."""
    try:
        return bool(sys.stdin and sys.stdin.isatty() and sys.stderr and sys.stderr.isatty())
    except ValueError:  # a closed stream
        return False


def summary(spec: Spec, plan: PlanResult, only: Collection[str] | None = None) -> list[str]:
    """The lines shown before the question: counts, the estimate, the first jobs."""
    from seedrun.commands.plan import estimate_line

    creates = [i for i in plan.creates if only is None or i.id in only]
    counts = planner.counts(creates)
    head = ", ".join(f"{n} {a}" for a, n in counts.items())
    n = len(creates)
    lines = [f"apply will create {n} paid task{'s' if n != 1 else ''}: {head}"]
    estimates = {i.id: plan.estimates.get(i.id) for i in creates}
    lines.append(estimate_line(spec, estimates))
    width = max(len(i.action) for i in creates)
    for item in creates[:SHOWN]:
        why = f"  ({item.reason})" if item.reason else ""
        lines.append(f"  {item.action:<{width}}  {item.id}{why}")
    if n > SHOWN:
        lines.append(f"  … and {n - SHOWN} more (seedrun plan lists them all)")
    return lines


def confirm(
    lines: list[str],
    *,
    ask: Callable[[str], str] = input,
    out: TextIO | None = None,
) -> bool:
    """Show ``lines`` and ask; True only for an explicit yes. End of input is a no."""
    stream = out or sys.stderr
    for line in lines:
        print(line, file=stream)
    stream.flush()
    try:
        answer = ask("Create them? Only 'yes' goes on [y/N]: ")
    except EOFError:
        answer = ""
    return answer.strip().lower() in ("y", "yes")
