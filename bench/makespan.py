"""Makespan, status requests per task and completion-detection latency of apply.

500 jobs against the simulator (server cap 50, tasks of 2–4 s), run three ways
in one go and printed side by side:
  seedrun (list)  the runner with the official list endpoint (batch polling)
  seedrun (GET)   the runner with the list endpoint switched off
  baseline        a straightforward script: submit everything, then GET every
                  task every 2 s

ideal = FCFS scheduling of the very same task durations over the cap, from t=0.
Run: .venv/bin/python bench/makespan.py [--jobs 500] [--cap 50]
"""

from __future__ import annotations

import argparse
import heapq
import statistics
import tempfile
import time
from pathlib import Path

import trio

from seedrun.client import SeedanceClient
from seedrun.lockfile import Lock
from seedrun.runner import Reporter, Runner, RunOptions
from seedrun.sim import SimConfig, running_sim
from seedrun.sim.state import SimState
from seedrun.spec import load_spec
from seedrun.store import Journal


def spec_text(n: int) -> str:
    return f"""
version: 1
defaults: {{duration: 5, ratio: "16:9"}}
jobs:
  - name: shot
    prompt: "Take {{{{ take }}}} of a paper boat on a pond"
    matrix:
      take: {list(range(1, n + 1))}
"""


class Clocked(Reporter):
    def __init__(self) -> None:
        self.done: dict[str, float] = {}

    def job(self, job_id: str, status: str, detail: str = "") -> None:
        if status in ("succeeded", "failed"):
            self.done.setdefault(job_id, time.monotonic())


def ideal_makespan(durations: list[float], cap: int) -> float:
    slots = [0.0] * cap
    end = 0.0
    for d in durations:
        start = heapq.heappop(slots)
        heapq.heappush(slots, start + d)
        end = max(end, start + d)
    return end


def figures(name: str, state: SimState, t0: float, t_end: float, cap: int,
            detected: dict[str, float]) -> dict[str, object]:
    tasks = sorted(state.tasks.values(), key=lambda t: t.seq)
    ideal = ideal_makespan([t.run_seconds for t in tasks], cap)
    lat = sorted(detected[t.id] - t.end for t in tasks if t.id in detected)
    n = len(tasks)
    return {
        "run": name,
        "tasks": n,
        "makespan_s": round(t_end - t0, 2),
        "ideal_s": round(ideal, 2),
        "ratio": round((t_end - t0) / ideal, 3),
        "gets_per_task": round(state.gets / n, 2),
        "lists_per_task": round(state.lists / n, 3),
        "status_req_per_task": round((state.gets + state.lists) / n, 3),
        "latency_p50_s": round(statistics.median(lat), 3) if lat else None,
        "latency_p95_s": round(lat[int(0.95 * (len(lat) - 1))], 3) if lat else None,
    }


async def run_seedrun(n: int, cap: int, use_list: bool, in_flight: int, floor: float
                      ) -> dict[str, object]:
    spec = load_spec(spec_text(n), "bench.yaml")
    conf = SimConfig(task_seconds=(2.0, 4.0), concurrency=cap, seed=7, list_endpoint=use_list)
    async with running_sim(conf) as sim:
        with tempfile.TemporaryDirectory() as tmp:
            journal = Journal(Path(tmp) / "bench.lock.journal")
            reporter = Clocked()
            async with SeedanceClient(base_url=sim.base_url, api_key=sim.api_key) as client:
                runner = Runner(spec, list(spec.jobs), Lock(), lock_dir=Path(tmp),
                                outputs_dir=Path(tmp) / "out", client=client, journal=journal,
                                options=RunOptions(max_in_flight=in_flight, poll_floor=floor,
                                                   download=False),
                                reporter=reporter)
                t0 = time.monotonic()
                await runner.run()
                t_end = time.monotonic()
            journal.close()
        # The sim's clock is time.monotonic too, so ends and detections compare directly.
        name = f"seedrun ({'list' if use_list else 'GET'})"
        by_task = {runner.lock.jobs[j].task_id: t for j, t in reporter.done.items()}
        return figures(name, sim.state, t0, t_end, cap, {k: v for k, v in by_task.items() if k})


async def run_baseline(n: int, cap: int) -> dict[str, object]:
    spec = load_spec(spec_text(n), "bench.yaml")
    conf = SimConfig(task_seconds=(2.0, 4.0), concurrency=cap, seed=7)
    detected: dict[str, float] = {}
    async with running_sim(conf) as sim:
        async with SeedanceClient(base_url=sim.base_url, api_key=sim.api_key) as client:
            t0 = time.monotonic()
            ids: list[str] = []
            for job in spec.jobs:
                ids.append((await client.create("official", job.body)).task_id)

            async def follow(task_id: str) -> None:
                while True:
                    state = await client.get("official", task_id)
                    if state.terminal:
                        detected[task_id] = time.monotonic()
                        return
                    await trio.sleep(2.0)

            async with trio.open_nursery() as nursery:
                for task_id in ids:
                    nursery.start_soon(follow, task_id)
            t_end = time.monotonic()
        return figures("baseline (2 s GET)", sim.state, t0, t_end, cap, detected)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=500)
    ap.add_argument("--cap", type=int, default=50)
    ap.add_argument("--in-flight", type=int, default=75, help="seedrun --max-in-flight")
    ap.add_argument("--floor", type=float, default=0.5, help="seedrun --poll-floor")
    args = ap.parse_args()
    rows = [
        await run_seedrun(args.jobs, args.cap, True, args.in_flight, args.floor),
        await run_seedrun(args.jobs, args.cap, False, args.in_flight, args.floor),
        await run_baseline(args.jobs, args.cap),
    ]
    keys = list(rows[0])
    widths = [max(len(k), *(len(str(r[k])) for r in rows)) for k in keys]
    print("  ".join(k.ljust(w) for k, w in zip(keys, widths, strict=True)))
    for r in rows:
        print("  ".join(str(r[k]).ljust(w) for k, w in zip(keys, widths, strict=True)))
    print(f"(jobs={args.jobs}, server cap={args.cap}, tasks 2-4 s, seedrun "
          f"--max-in-flight {args.in_flight} --poll-floor {args.floor})")


if __name__ == "__main__":
    trio.run(main)
