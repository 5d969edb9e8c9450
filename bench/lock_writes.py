"""Cost of recording one state change, at 100, 1,000 and 10,000 jobs.

Drives the runner's own record path (in-memory update + journal append with
fsync, group-committed) for every job of a campaign, twice (task id, then
status change), and the final fold into the lockfile. The per-event cost
should stay flat as the campaign grows; only the final fold is O(jobs).
Run: .venv/bin/python bench/lock_writes.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import trio

from seedrun.lockfile import Lock, LockEntry
from seedrun.runner import Runner, RunOptions
from seedrun.spec import load_spec
from seedrun.store import Journal, journal_path, write_lock

SPEC = """
version: 1
jobs:
  - name: shot
    prompt: "Take {{{{ take }}}}"
    matrix:
      take: {takes}
"""


async def one(n: int, concurrent: int) -> tuple[float, float, float, int]:
    spec = load_spec(SPEC.format(takes=list(range(n))), "bench.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        lock_path = Path(tmp) / "bench.lock"
        journal = Journal(journal_path(lock_path))
        runner = Runner(spec, list(spec.jobs), Lock(), lock_dir=Path(tmp),
                        outputs_dir=Path(tmp), client=None,  # type: ignore[arg-type]
                        journal=journal, options=RunOptions())
        jobs = list(spec.jobs)

        async def record_all(part: list[int]) -> None:
            for i in part:
                job = jobs[i]
                await runner._record(job, LockEntry(key=job.key, status="queued",
                                                    task_id=f"task-{i}", request=job.body))
                await runner._record(job, LockEntry(key=job.key, status="running",
                                                    task_id=f"task-{i}", request=job.body))

        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for c in range(concurrent):
                nursery.start_soon(record_all, list(range(c, n, concurrent)))
        events = 2 * n
        per_event = (time.perf_counter() - t0) / events
        journal.close()
        t1 = time.perf_counter()
        write_lock(lock_path, runner.lock)
        fold = time.perf_counter() - t1
        return per_event * 1e6, fold, journal.fsyncs / events, events


async def main() -> None:
    print("jobs    events  writers  us/event  fsyncs/event  final fold+write (s)")
    for n in (100, 1000, 10000):
        for writers in (1, 50):
            us, fold, fsyncs, events = await one(n, writers)
            print(f"{n:<7} {events:<7} {writers:<8} {us:<9.1f} {fsyncs:<13.3f} {fold:.3f}")


if __name__ == "__main__":
    trio.run(main)
