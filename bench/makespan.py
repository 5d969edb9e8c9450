"""Makespan and status requests per task of apply, in every regime, beside a plain script.

Each regime runs against a fresh simulator four ways, one after the other:
  seedrun GET    the runner polling each task with GET (list endpoint off)
  seedrun list   the runner sweeping with the official list endpoint
  script 2 s     submit everything, then GET every task every 2 s
  script 1 s     the same every second

Regimes (tasks of 2-4 s unless said; the server runs ``cap`` at once, FCFS):
  (a) max_in_flight below the cap      (b) max_in_flight equal to the cap
  (c) max_in_flight 6x the cap: a deep provider queue
  (d) 5, 10 and 15 s videos in one campaign, run times 3x apart
  (e) a resume: the first process is stopped halfway, a second one picks up
  (f) the unified flavour, which reports progress (no list endpoint there)

ideal = the moment the simulator finished the last task, counted from the first
create (the resume: from the first process's first create). makespan = the
moment the run saw the last task end, from the same origin. A script ignores
max_in_flight (it submits everything), so each row is measured against its own
ideal.

Run: .venv/bin/python bench/makespan.py [--quick] [--floor 0.5] [--only c,e]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import trio

from seedrun.client import SeedanceClient
from seedrun.lockfile import Lock
from seedrun.runner import Reporter, Runner, RunOptions
from seedrun.sim import SimConfig, SimHandle, running_sim
from seedrun.spec import Spec, load_spec
from seedrun.store import Journal, journal_path, recover


@dataclass(frozen=True)
class Regime:
    key: str
    title: str
    jobs: int
    cap: int
    in_flight: int
    api: str = "official"
    durations: tuple[int, ...] = (5,)
    task_seconds: tuple[float, float] = (2.0, 4.0)
    kill_at: float | None = None  # the resume: stop the first process after this long


def regimes(quick: bool) -> list[Regime]:
    k = 2 if quick else 1
    return [
        Regime("a", "in flight < cap", 80 // k, 20, 10),
        Regime("b", "in flight = cap", 100 // k, 20, 20),
        Regime("c", "in flight 6x cap", 120 // k, 20, 120 // k),
        Regime("d", "5/10/15 s videos", 90 // k, 20, 90 // k, durations=(5, 10, 15),
               task_seconds=(1.5, 2.5)),
        Regime("e", "resume halfway", 60 // k, 10, 60 // k, kill_at=9.0 / k),
        Regime("f", "unified flavour", 100 // k, 20, 100 // k, api="unified"),
    ]


def spec_text(r: Regime) -> str:
    return f"""
version: 1
settings: {{requests_per_second: 1000}}
defaults: {{ratio: "16:9", api: {r.api}}}
jobs:
  - name: shot
    prompt: "Take {{{{ take }}}} of a paper boat, {{{{ duration }}}} s"
    matrix:
      take: {list(range(1, r.jobs // len(r.durations) + 1))}
      duration: {list(r.durations)}
"""


def sim_config(r: Regime) -> SimConfig:
    return SimConfig(task_seconds=r.task_seconds, concurrency=r.cap, seed=7,
                     scale_by_duration=len(r.durations) > 1)


class Clocked(Reporter):
    def __init__(self) -> None:
        self.last = 0.0

    def job(self, job_id: str, status: str, detail: str = "") -> None:
        if status in ("succeeded", "failed"):
            self.last = max(self.last, time.monotonic())


@dataclass(frozen=True)
class Row:
    regime: str
    run: str
    tasks: int
    makespan: float
    ideal: float
    gets: float
    lists: float

    @property
    def ratio(self) -> float:
        return self.makespan / self.ideal


def row(r: Regime, name: str, sim: SimHandle, last_seen: float) -> Row:
    tasks = list(sim.state.tasks.values())
    first = min(t.created for t in tasks)
    ideal = max(t.end for t in tasks) - first
    n = len(tasks)
    return Row(f"({r.key}) {r.title}", name, n, last_seen - first, ideal,
               sim.state.gets / n, sim.state.lists / n)


async def run_seedrun(r: Regime, use_list: bool, floor: float) -> Row:
    spec = load_spec(spec_text(r), "bench.yaml")
    async with running_sim(sim_config(r)) as sim:
        with tempfile.TemporaryDirectory() as tmp:
            lock_path = Path(tmp) / "bench.lock"
            reporter = Clocked()
            options = RunOptions(max_in_flight=r.in_flight, poll_floor=floor, download=False,
                                 use_list=use_list)
            lock = Lock()
            for stop_after in (r.kill_at, None):
                await _one_process(spec, sim, lock_path, lock, options, reporter, stop_after)
                lock = recover(lock_path)
    return row(r, f"seedrun {'list' if use_list else 'GET'}", sim, reporter.last)


async def _one_process(spec: Spec, sim: SimHandle, lock_path: Path, lock: Lock,
                       options: RunOptions, reporter: Clocked, stop_after: float | None) -> None:
    journal = Journal(journal_path(lock_path))
    async with SeedanceClient(base_url=sim.base_url, api_key=sim.api_key) as client:
        runner = Runner(spec, list(spec.jobs), lock, lock_dir=lock_path.parent,
                        outputs_dir=lock_path.parent / "out", client=client, journal=journal,
                        options=options, reporter=reporter)
        # The resume: the first process stops (as a kill would) and leaves its journal.
        with trio.move_on_after(stop_after if stop_after is not None else float("inf")):
            await runner.run()
    journal.close()


async def run_script(r: Regime, every: float) -> Row:
    spec = load_spec(spec_text(r), "bench.yaml")
    last = 0.0
    async with (
        running_sim(sim_config(r)) as sim,
        SeedanceClient(base_url=sim.base_url, api_key=sim.api_key) as client,
    ):
        ids = [(await client.create(r.api, job.body)).task_id for job in spec.jobs]
        done: set[str] = set()

        async def follow(task_id: str) -> None:
            nonlocal last
            while True:
                if (await client.get(r.api, task_id)).terminal:
                    done.add(task_id)
                    last = max(last, time.monotonic())
                    return
                await trio.sleep(every)

        for stop_after in (r.kill_at, None):  # the resume: start over, same ids
            with trio.move_on_after(stop_after if stop_after is not None else float("inf")):
                async with trio.open_nursery() as nursery:
                    for task_id in ids:
                        if task_id not in done:
                            nursery.start_soon(follow, task_id)
    return row(r, f"script {every:g} s", sim, last)


def table(rows: list[Row], floor: float) -> str:
    head = ("regime", "run", "tasks", "makespan s", "ideal s", "ratio", "GET/task",
            "list/task", "status req/task")
    lines = [head] + [
        (x.regime, x.run, str(x.tasks), f"{x.makespan:.2f}", f"{x.ideal:.2f}",
         f"{x.ratio:.3f}", f"{x.gets:.2f}", f"{x.lists:.3f}", f"{x.gets + x.lists:.2f}")
        for x in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    out.append(f"(seedrun --poll-floor {floor}; tasks scaled down to seconds)")
    return "\n".join(out)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="half the jobs, for a quick look")
    ap.add_argument("--floor", type=float, default=0.5, help="seedrun --poll-floor")
    ap.add_argument("--only", default="", help="regime letters, such as c,e")
    args = ap.parse_args()
    rows: list[Row] = []
    for r in regimes(args.quick):
        if args.only and r.key not in args.only.split(","):
            continue
        rows.append(await run_seedrun(r, False, args.floor))
        if r.api == "official":
            rows.append(await run_seedrun(r, True, args.floor))
        rows.append(await run_script(r, 2.0))
        rows.append(await run_script(r, 1.0))
        print(f"({r.key}) done", flush=True)
    print()
    print(table(rows, args.floor))


if __name__ == "__main__":
    trio.run(main)
