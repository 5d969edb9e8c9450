"""Scale benchmark of the pure core: load_spec + plan for one job with a big matrix.

    .venv/bin/python bench/plan_scale.py            # 1k, 10k, 100k combinations
    .venv/bin/python bench/plan_scale.py 100000     # one size

Each size runs in a fresh subprocess, so the peak RSS (``ru_maxrss``) is per size.
Goal: >= 20,000 jobs/s and < 500 MB at 100k jobs. jobs/s is wall-clock time; the
CPU column (load_spec + plan against an empty lock, in CPU seconds of this process)
tells a busy machine from a slow program.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

SIZES = {1_000: (10, 10, 10), 10_000: (100, 10, 10), 100_000: (100, 10, 100)}
GOAL_JOBS_PER_S = 20_000
GOAL_RSS_MB = 500


def spec_text(seeds: int, looks: int, takes: int) -> str:
    """One job whose matrix crosses a request parameter with two template variables."""
    return f"""\
version: 1
defaults:
  duration: 5
  ratio: "16:9"
  resolution: 720p
  watermark: false
vars:
  brand: Lumen
assets:
  bottle:
    url: https://cdn.example.com/catalog/bottle.png
    moderate: true
jobs:
  - name: spin
    prompt: >-
      Use image 1 as the subject. The {{{{ brand }}}} bottle,
      {{{{ look }}}} light, take {{{{ take }}}}.
    media:
      - {{asset: bottle, role: reference_image}}
      - {{url: "https://cdn.example.com/bg/{{{{ look }}}}.jpg", role: reference_image}}
    matrix:
      seed: {json.dumps(list(range(1, seeds + 1)))}
      look: {json.dumps([f"look{i}" for i in range(looks)])}
      take: {json.dumps(list(range(1, takes + 1)))}
"""


def measure(n: int) -> dict[str, float]:
    from seedrun.lockfile import FileRef, Lock, LockEntry
    from seedrun.plan import counts, plan
    from seedrun.spec import load_spec

    text = spec_text(*SIZES[n])
    c0 = time.process_time()
    t0 = time.perf_counter()
    spec = load_spec(text, "bench.yaml")
    t1 = time.perf_counter()
    empty = counts(plan(spec.jobs, Lock()))
    t2 = time.perf_counter()
    cpu = time.process_time() - c0
    assert len(spec.jobs) == n and empty == {"create": n}, empty
    out = FileRef("outputs/x.mp4", "0" * 64, 1)
    lock = Lock({}, {j.id: LockEntry(j.key, "succeeded", output=out) for j in spec.jobs})
    t3 = time.perf_counter()
    full = counts(plan(spec.jobs, lock))
    t4 = time.perf_counter()
    assert full == {"unchanged": n}, full
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return {
        "jobs": n,
        "load_s": t1 - t0,
        "plan_empty_s": t2 - t1,
        "plan_full_s": t4 - t3,
        "empty_jobs_per_s": n / (t2 - t0),
        "full_jobs_per_s": n / ((t1 - t0) + (t4 - t3)),
        "empty_cpu_jobs_per_s": n / cpu,
        "peak_rss_mb": rss_kb / 1024,
    }


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        print(json.dumps(measure(int(argv[1]))))
        return 0
    sizes = [int(a) for a in argv] or list(SIZES)
    head = ("jobs", "load s", "empty lock jobs/s", "full lock jobs/s", "(CPU) jobs/s", "RSS MB")
    print(" ".join(h.rjust(w) for h, w in zip(head, (7, 7, 18, 17, 13, 7), strict=True)))
    ok = True
    for n in sizes:
        done = subprocess.run(
            [sys.executable, __file__, "--one", str(n)], capture_output=True, text=True, check=True
        )
        r = json.loads(done.stdout)
        print(
            f"{n:>7} {r['load_s']:>7.2f} {r['empty_jobs_per_s']:>18,.0f} "
            f"{r['full_jobs_per_s']:>17,.0f} {r['empty_cpu_jobs_per_s']:>13,.0f} "
            f"{r['peak_rss_mb']:>7.0f}"
        )
        if n == 100_000:
            slowest = min(r["empty_jobs_per_s"], r["full_jobs_per_s"])
            ok = slowest >= GOAL_JOBS_PER_S and r["peak_rss_mb"] < GOAL_RSS_MB
    print("goal (100k: >= 20,000 jobs/s, < 500 MB):", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
