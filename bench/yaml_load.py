"""How long ``load_yaml`` takes on a large spec, with PyYAML's C loader and without.

    .venv/bin/python bench/yaml_load.py [JOBS]

Prints seconds per load for each loader and the speed-up; the marks each
produces are compared, so a speed-up never comes from losing locations.
"""

from __future__ import annotations

import sys
import time

import yaml

from seedrun import yamlload


def spec_text(jobs: int) -> str:
    lines = ["version: 1", "defaults: {duration: 5, ratio: '16:9'}", "jobs:"]
    for i in range(jobs):
        lines += [
            f"  - name: shot-{i}",
            f"    prompt: 'The bottle turns slowly, take {i}, {{{{ look }}}} light'",
            "    images: [{url: 'https://cdn.example.com/a.png', role: first_frame}]",
            "    matrix:",
            "      look: [dark, bright, warm]",
        ]
    return "\n".join(lines) + "\n"


def timed(text: str) -> tuple[float, yamlload.Marks]:
    started = time.perf_counter()
    _, marks = yamlload.load_yaml(text, "big.yaml")
    return time.perf_counter() - started, marks


def main() -> None:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    text = spec_text(jobs)
    fast, fast_marks = timed(text)
    c_loader = yamlload._FastLoader
    yamlload._FastLoader = yaml.SafeLoader
    try:
        slow, slow_marks = timed(text)
    finally:
        yamlload._FastLoader = c_loader
    assert fast_marks == slow_marks, "the loaders disagree on marks"
    print(f"spec of {jobs:,} jobs, {len(text) / 1e6:.1f} MB")
    print(f"  {c_loader.__name__:>12}: {fast:6.2f} s")
    print(f"  {'SafeLoader':>12}: {slow:6.2f} s")
    print(f"  speed-up: {slow / fast:.1f}x (same marks)")


if __name__ == "__main__":
    main()
