"""Peak RSS of apply with 10,000 jobs in flight at once.

The simulator runs in its own process (`seedrun sim`, no server cap, tasks
long enough that all 10,000 are queued or running together), so the figure is
the runner's alone: spec, lock, one trio task per job, the tracker and httpx.
Run: .venv/bin/python bench/memory.py [--jobs 10000]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEC = """
version: 1
jobs:
  - name: shot
    prompt: "Take {{{{ take }}}} of a paper boat on a pond, in the style of a 1970s film"
    matrix:
      take: {takes}
settings:
  max_in_flight: {n}
  requests_per_second: 2000
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=10000)
    ap.add_argument("--task-seconds", default="40,45")
    args = ap.parse_args()
    n = args.jobs
    with tempfile.TemporaryDirectory() as tmp:
        sim = subprocess.Popen(
            [sys.executable, "-m", "seedrun", "sim", "--port", "0", "--concurrency", "0",
             "--task-seconds", args.task_seconds],
            stdout=subprocess.PIPE, text=True,
        )
        try:
            assert sim.stdout is not None
            line = sim.stdout.readline()
            m = re.search(r"listening on (\S+) .*key: (\S+)", line)
            if not m:
                raise SystemExit(f"simulator did not start: {line!r}")
            spec = Path(tmp) / "jobs.yaml"
            spec.write_text(SPEC.format(takes=list(range(n)), n=n))
            env = {**os.environ, "SEEDRUN_API_KEY": m.group(2), "SEEDRUN_BASE_URL": m.group(1)}
            t0 = time.monotonic()
            # The child prints its own peak RSS, so the simulator's memory is not counted.
            code = (
                "import resource, sys\n"
                "from seedrun.cli import main\n"
                "rc = main(sys.argv[1:])\n"
                "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
                "sys.exit(rc)\n"
            )
            run = subprocess.run(
                [sys.executable, "-c", code, "apply", str(spec), "--no-download",
                 "--quiet", "--poll-floor", "5"],
                env=env, capture_output=True, text=True,
            )
            wall = time.monotonic() - t0
        finally:
            sim.terminate()
            sim.wait(10)
    peak = re.search(r"PEAK_KB (\d+)", run.stdout)
    peak_mb = int(peak.group(1)) / 1024 if peak else float("nan")
    tail = [t for t in run.stdout.strip().splitlines() if not t.startswith("PEAK_KB")][-3:]
    print(f"jobs={n} in flight at once; apply exit={run.returncode}; wall={wall:.1f}s")
    print(f"peak RSS of apply (largest child process): {peak_mb:.0f} MB")
    for t in tail:
        print("  " + t)
    if run.returncode != 0:
        print(run.stderr[-2000:])


if __name__ == "__main__":
    main()
