"""How fast each hostile template of issue 13 (and its matrix bomb) ends at its limit.

    .venv/bin/python bench/hostile_templates.py

Each used to take gigabytes or minutes; the goal is under a second each, with
the process staying small. Prints seconds per template, the limit it met, and
the peak RSS of the whole run.
"""

from __future__ import annotations

import resource
import time

from seedrun.errors import SpecError
from seedrun.render import RenderError, SpecBudget, render
from seedrun.spec import load_spec

ATTACKS = [
    "{{ 'a' | center(1000000000) }}",
    "{{ '%1000000000d' % 1 }}",
    "{{ '{:>1000000000}'.format('a') }}",
    "{{ 'a' | indent(10**9) }}",
    "{{ 'a b' | wordwrap(1, wrapstring='x' * 50000) }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{{ ((10**1000)**1000)**1000 }}",
    "{% set a = ['x' * 50000] %}{% set b = [a, a] %}{% set c = [b, b] %}{{ c }}",
    "{{ (['a' * 100000] * 100000) | join }}",
    "{{ [1] | slice(10**9) | list }}",
    "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}",
    "{% set ns = namespace(x='a' * 1000) %}{% for i in range(40) %}"
    "{% set ns.x = ns.x ~ ns.x %}{% endfor %}{{ ns.x | length }}",
]


def main() -> None:
    worst = 0.0
    for source in ATTACKS:
        started = time.perf_counter()
        try:
            render(source, {}, SpecBudget())
            outcome = "rendered (no limit met!)"
        except RenderError as exc:
            outcome = str(exc).removeprefix("template exceeds a limit: ")
        took = time.perf_counter() - started
        worst = max(worst, took)
        print(f"{took:6.3f} s  {outcome[:70]:<70}  {source[:40]}")
    # The 375-byte spec whose 7 x 10 matrix used to die of MemoryError after 65 s.
    axes = "".join(f"      a{i}: [{', '.join(map(str, range(10)))}]\n" for i in range(7))
    bomb = "version: 1\njobs:\n  - name: bomb\n    prompt: x\n    matrix:\n" + axes
    started = time.perf_counter()
    try:
        load_spec(bomb, "bomb.yaml")
        outcome = "loaded (no limit met!)"
    except SpecError as exc:
        outcome = str(exc).split(": ", 3)[-1]
    took = time.perf_counter() - started
    worst = max(worst, took)
    print(f"{took:6.3f} s  {outcome[:70]:<70}  {len(bomb)}-byte matrix spec")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"worst {worst:.3f} s, peak RSS {rss:.0f} MB")
    print(f"goal (each < 1 s, RSS < 200 MB): {'met' if worst < 1 and rss < 200 else 'NOT met'}")


if __name__ == "__main__":
    main()
