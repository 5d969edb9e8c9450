"""Each polling regime at small scale, apply against the simulator over loopback.

The simulator's request log and its tasks' timelines share one clock
(time.monotonic), so the moment of every poll is compared with the moment the
task could have started or ended, as the model (seedrun.eta) predicts them.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import trio
from conftest import SimStarter, apply_in_process, write_spec

from seedrun.sim import SimHandle
from seedrun.sim.engine import SimTask
from seedrun.spec import load_spec

TASKS = "/api/v3/contents/generations/tasks"
UNIFIED = "/v1/video/generations"
FLOOR = 0.05


def _spec(n: int, *, api: str = "official", durations: tuple[int, ...] = (5,)) -> str:
    jobs = "".join(
        f"\n  - name: take{i}\n    prompt: Take {i} of a paper boat\n"
        f"    duration: {durations[i % len(durations)]}"
        for i in range(n)
    )
    return (f"version: 1\nsettings: {{requests_per_second: 500}}\n"
            f"defaults: {{api: {api}}}\njobs:{jobs}\n")


def _tasks(sim: SimHandle) -> list[SimTask]:
    return sorted(sim.state.tasks.values(), key=lambda t: t.seq)


def _gets(sim: SimHandle, task: SimTask) -> list[float]:
    path = (TASKS if task.flavour == "official" else UNIFIED) + "/" + task.id
    return [r["time"] for r in sim.state.requests if r["method"] == "GET" and r["path"] == path]


def _detected(sim: SimHandle, task: SimTask) -> float:
    """The first poll after the task's end: when the run saw it."""
    return min(t for t in _gets(sim, task) if t >= task.end)


async def test_a_task_behind_two_waves_is_not_polled_before_they_could_end(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(tmp_path, _spec(6))
    with trio.fail_after(30):
        async with start_sim(concurrency=2, task_seconds=(0.4, 0.6)) as sim:
            done = await apply_in_process(sim, spec_path, max_in_flight=6, use_list=False)
    assert set(done.outcome.status.values()) == {"succeeded"}
    tasks = _tasks(sim)
    first_end = min(t.end for t in tasks[:2])
    for task in tasks[4:]:  # the third wave: behind two waves of two
        # Its earliest start is when the second wave could first end.
        assert min(_gets(sim, task)) >= first_end + 0.4
    # Not one poll of a queued task while nothing could have moved in the queue.
    for task in tasks[2:]:
        assert min(_gets(sim, task)) >= first_end
    # The end of the run is seen promptly, and few polls were spent.
    last = max(tasks, key=lambda t: t.end)
    assert _detected(sim, last) - last.end <= 0.5
    assert sim.state.gets <= 4 * len(tasks)


async def test_below_the_cap_each_task_is_polled_once_its_run_could_be_over(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(tmp_path, _spec(8))
    with trio.fail_after(30):
        async with start_sim(concurrency=4, task_seconds=(0.4, 0.6)) as sim:
            done = await apply_in_process(sim, spec_path, max_in_flight=2, use_list=False)
    assert set(done.outcome.status.values()) == {"succeeded"}
    tasks = _tasks(sim)
    learnt = [t for t in tasks if sum(1 for s in tasks if _detected(sim, s) <= t.created) >= 3]
    assert learnt
    for task in learnt:
        gets = _gets(sim, task)
        # Run time is learnt (0.4 to 0.6 s): not polled at the floor from the start.
        assert min(gets) >= task.start + 0.3
        assert len(gets) <= 4
        assert _detected(sim, task) - task.end <= 0.5


async def test_mixed_durations_are_learnt_per_group(tmp_path: Path, start_sim: SimStarter) -> None:
    # 5 s videos run 0.3 s, 15 s videos 0.9 s: three times as long.
    spec_path = write_spec(tmp_path, _spec(12, durations=(5, 15)))
    with trio.fail_after(30):
        async with start_sim(concurrency=4, task_seconds=(0.3, 0.3), scale_by_duration=True) as sim:
            done = await apply_in_process(sim, spec_path, max_in_flight=2, use_list=False)
    assert set(done.outcome.status.values()) == {"succeeded"}
    tasks = _tasks(sim)
    for task in tasks:
        same = [s for s in tasks if s.request.duration == task.request.duration]
        if sum(1 for s in same if _detected(sim, s) <= task.created) < 3:
            continue
        first = min(_gets(sim, task))
        if task.request.duration == 15:
            # Not polled at the pace of the short ones: later than a short task's
            # whole run (0.3 s) after it started (a loaded machine shifts it a little).
            assert first >= task.start + 0.35
        else:
            assert first <= task.end + 0.3  # not at the pace of the long ones


async def test_a_resumed_run_polls_by_the_queue_not_by_the_age(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(tmp_path, _spec(4))
    with trio.fail_after(30):
        async with start_sim(concurrency=1, task_seconds=(0.4, 0.5)) as sim:
            await apply_in_process(sim, spec_path, detach=True)
            await trio.sleep(0.2)
            resumed_at = sim.state.now()
            done = await apply_in_process(sim, spec_path, max_in_flight=4, use_list=False)
    assert done.stats.creates == 0
    assert set(done.outcome.status.values()) == {"succeeded"}
    tasks = _tasks(sim)
    for task in tasks:
        assert min(_gets(sim, task)) >= resumed_at  # first thing: ask where it is
    # Polls stay few, and the end is seen. (Which of the tasks created in one
    # second comes first in the queue is a guess, so the delay to see an end
    # varies with it; bench/makespan.py measures it.)
    last = max(tasks, key=lambda t: t.end)
    assert _detected(sim, last) - last.end <= 2.0
    assert sim.state.gets <= 6 * len(tasks)
    # Queued ones are not polled while nothing in the queue could have moved.
    first_end = min(t.end for t in tasks)
    for task in tasks:
        if task.start > first_end:
            after_first = [g for g in _gets(sim, task) if g > min(_gets(sim, task))]
            assert after_first and min(after_first) >= first_end


async def test_unified_progress_finds_each_end_promptly(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(tmp_path, _spec(4, api="unified"))
    with trio.fail_after(30):
        async with start_sim(concurrency=2, task_seconds=(0.8, 1.0)) as sim:
            done = await apply_in_process(sim, spec_path, max_in_flight=4)
    assert set(done.outcome.status.values()) == {"succeeded"}
    tasks = _tasks(sim)
    for task in tasks:
        assert _detected(sim, task) - task.end <= 0.6
        assert len(_gets(sim, task)) <= 10
    # The second pair waits behind the first: not polled before a slot could free.
    first_end = min(t.end for t in tasks[:2])
    started_late = [t for t in tasks[2:] if t.start >= first_end]
    assert started_late
    for task in started_late:
        queued_polls = [g for g in _gets(sim, task) if g < task.start]
        assert len(queued_polls) <= 4


async def test_list_sweeps_keep_to_the_floor_and_ask_only_tasks_in_flight(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(tmp_path, _spec(9))
    with trio.fail_after(30):
        async with start_sim(concurrency=3, task_seconds=(0.4, 0.6)) as sim:
            done = await apply_in_process(sim, spec_path, max_in_flight=3)
    assert set(done.outcome.status.values()) == {"succeeded"}
    sweeps = [r for r in sim.state.requests if r["method"] == "GET" and r["path"] == TASKS]
    times = [r["time"] for r in sweeps]
    assert all(b - a >= FLOOR * 0.9 for a, b in itertools.pairwise(times))
    assert sim.state.gets == 0 and len(sweeps) <= 3 * 9
    by_id = {t.id: t for t in _tasks(sim)}
    for r in sweeps:
        for part in r["query"].split("&"):
            if part.startswith("filter.task_ids="):
                task = by_id[part.split("=", 1)[1]]
                assert r["time"] >= task.created  # never a task already seen done twice
    last = max(by_id.values(), key=lambda t: t.end)
    assert min(t for t in times if t >= last.end) - last.end <= 0.3


async def test_the_lockfile_gives_the_next_run_a_warm_start(tmp_path: Path) -> None:
    from seedrun.lockfile import Lock, LockEntry
    from seedrun.runner import Runner, RunOptions

    spec = load_spec(_spec(3), "spec.yaml")
    jobs = list(spec.jobs)
    entries = {
        j.id: LockEntry(key=j.key, status="succeeded", api="official", kind=j.kind,
                        task_id=f"task_{i}", created_at=1000, updated_at=1000 + 40 + i)
        for i, j in enumerate(jobs)
    }
    runner = Runner(spec, jobs, Lock({}, entries), lock_dir=tmp_path, outputs_dir=tmp_path,
                    client=Any, journal=Any, options=RunOptions())  # type: ignore[arg-type]
    group = runner._group(jobs[0])
    assert runner.tracker.model.samples(group) == [40.0, 41.0, 42.0]


async def test_unified_queue_is_found_without_asking_every_task(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    """16 unified tasks, 2 run at a time: every create answers queued, yet the
    tasks waiting are not each asked where they are; a few questions find where
    the queue starts (first come, first served), and each end is still seen."""
    spec_path = write_spec(tmp_path, _spec(16, api="unified"))
    with trio.fail_after(60):
        async with start_sim(concurrency=2, task_seconds=(0.5, 0.6)) as sim:
            done = await apply_in_process(sim, spec_path, max_in_flight=16)
    assert set(done.outcome.status.values()) == {"succeeded"}
    tasks = _tasks(sim)
    # Asked while waiting in the queue: the probes, and a few guesses that came
    # early. Asking each waiting task once would be 14 before the first end alone.
    first_end = min(t.end for t in tasks)
    early = [g for task in tasks[2:] for g in _gets(sim, task) if g < first_end]
    assert len(early) <= 5
    queued_polls = sum(1 for task in tasks for g in _gets(sim, task) if g < task.start)
    assert queued_polls <= 12
    assert sim.state.gets <= 4 * len(tasks)
    last = max(tasks, key=lambda t: t.end)
    assert _detected(sim, last) - last.end <= 0.3


async def test_the_lockfile_keeps_what_the_next_run_polls_by(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    """Each succeeded entry keeps when its create was answered and how long it ran
    (queue time excluded), close to the simulator's own timeline."""
    import time as wall

    spec_path = write_spec(tmp_path, _spec(6))
    before = wall.time()
    with trio.fail_after(30):
        async with start_sim(concurrency=2, task_seconds=(0.4, 0.5)) as sim:
            done = await apply_in_process(sim, spec_path, max_in_flight=6, use_list=False)
    after = wall.time()
    assert set(done.outcome.status.values()) == {"succeeded"}
    by_task = {t.id: t for t in _tasks(sim)}
    measured = 0
    for entry in done.lock.jobs.values():
        assert entry.submitted_at is not None and before <= entry.submitted_at <= after
        task = by_task[entry.task_id or ""]
        if entry.run_seconds is not None:
            measured += 1
            # The queued ones waited up to 1.5 s: none of that is in the run time.
            assert abs(entry.run_seconds - (task.end - task.start)) <= 0.25
    assert measured >= 2


async def test_measured_run_times_in_the_lockfile_count_as_this_runs_own(
    tmp_path: Path,
) -> None:
    from seedrun.lockfile import Lock, LockEntry
    from seedrun.runner import Runner, RunOptions

    spec = load_spec(_spec(5), "spec.yaml")
    jobs = list(spec.jobs)

    def entry(i: int, **kw: Any) -> LockEntry:
        return LockEntry(key=jobs[i].key, status="succeeded", api="official",
                         kind=jobs[i].kind, task_id=f"task_{i}", created_at=1000,
                         updated_at=1100, **kw)

    entries = {
        jobs[0].id: entry(0, submitted_at=1000.5, run_seconds=40.0),
        jobs[1].id: entry(1, submitted_at=1000.6, run_seconds=41.0),
        jobs[2].id: entry(2, submitted_at=1000.7, run_seconds=42.0),
        # Measured too roughly to keep a run time: created to updated (100 s, time
        # queued included) is not taken either, since this version wrote it.
        jobs[3].id: entry(3, submitted_at=1000.8),
    }
    runner = Runner(spec, jobs, Lock({}, entries), lock_dir=tmp_path, outputs_dir=tmp_path,
                    client=Any, journal=Any, options=RunOptions())  # type: ignore[arg-type]
    model = runner.tracker.model
    group = runner._group(jobs[0])
    assert model.samples(group) == [40.0, 41.0, 42.0]
    # Three tasks of a resume (the long ones more likely running then) do not
    # push them out: they are measurements of the same kind.
    for run in (60.0, 61.0, 62.0):
        model.observe(group, run)
    assert model.samples(group) == [40.0, 41.0, 42.0, 60.0, 61.0, 62.0]
