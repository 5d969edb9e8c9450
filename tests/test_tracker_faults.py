"""The tracker under a misbehaving gateway, against the simulator over loopback:
a 404 during read-after-write lag, and answers that carry another task's id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
from conftest import SimStarter, apply_in_process, prompt_of, write_spec

from seedrun.client import SeedanceClient
from seedrun.errors import BadResponse, TaskNotFound
from seedrun.sim import SimHandle
from seedrun.tracker import Tracker, Watch

TASKS = "/api/v3/contents/generations/tasks"


async def _follow(tracker: Tracker, watches: list[Watch]) -> None:
    async def one(w: Watch) -> None:
        seen = 0
        while not w.done:
            seen = await tracker.wait_change(w, seen)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(tracker.run)
        async with trio.open_nursery() as jobs:
            for w in watches:
                jobs.start_soon(one, w)
        nursery.cancel_scope.cancel()


async def _create(client: SeedanceClient, tracker: Tracker, n: int) -> list[Watch]:
    watches = []
    for i in range(n):
        body = {"model": "doubao-seedance-2.0", "content": [{"type": "text", "text": f"t{i}"}]}
        sent = trio.current_time()
        state = await client.create("official", body)
        watches.append(tracker.watch("official", state, group="g", submitted=sent, deadline=None))
    return watches


def _gets_of(sim: SimHandle, task_id: str) -> list[dict[str, Any]]:
    path = f"{TASKS}/{task_id}"
    return [r for r in sim.state.requests if r["method"] == "GET" and r["path"] == path]


async def test_a_404_during_read_after_write_lag_is_asked_again(start_sim: SimStarter) -> None:
    with trio.fail_after(20):
        async with (
            start_sim(read_lag_gets=3, list_endpoint=False) as sim,
            SeedanceClient(base_url=sim.base_url, api_key=sim.api_key) as client,
        ):
            tracker = Tracker(client, floor=0.05, use_list=False)
            watches = await _create(client, tracker, 2)
            await _follow(tracker, watches)
    for w in watches:
        assert w.error is None and w.state.status == "succeeded"
        statuses = [r["status"] for r in _gets_of(sim, w.task_id)]
        assert statuses[:3] == [404, 404, 404] and statuses[3:] and set(statuses[3:]) == {200}


async def test_a_404_that_lasts_past_the_patience_ends_the_watch(start_sim: SimStarter) -> None:
    with trio.fail_after(20):
        async with (
            start_sim(read_lag_gets=10_000, list_endpoint=False) as sim,
            SeedanceClient(base_url=sim.base_url, api_key=sim.api_key) as client,
        ):
            tracker = Tracker(client, floor=0.05, use_list=False, not_found_patience=0.6)
            (w,) = await _create(client, tracker, 1)
            started = trio.current_time()
            await _follow(tracker, [w])
            ended = trio.current_time()
    assert isinstance(w.error, TaskNotFound)
    assert w.error.message == f"task {w.task_id!r} not found (HTTP 404)"
    assert ended - started >= 0.6  # asked again for the whole patience, not ended at once
    gaps = [b - a for a, b in zip(w.polls, w.polls[1:], strict=False)]
    assert len(gaps) >= 3 and gaps == sorted(gaps)  # with a growing backoff


async def test_an_answer_for_another_task_is_never_merged(start_sim: SimStarter) -> None:
    notes: list[str] = []
    with trio.fail_after(20):
        async with (
            start_sim(wrong_id_rate=0.4, list_endpoint=False) as sim,
            SeedanceClient(base_url=sim.base_url, api_key=sim.api_key) as client,
        ):
            tracker = Tracker(client, floor=0.05, use_list=False, note=notes.append)
            watches = await _create(client, tracker, 4)
            await _follow(tracker, watches)
    assert sim.state.misdirected > 0
    for w in watches:
        assert w.error is None and w.state.status == "succeeded"
        assert w.state.task_id == w.task_id
        assert w.state.video_url and w.task_id in w.state.video_url
    assert notes and all("came back for task" in n for n in notes)
    assert notes[0].endswith("; the answer was ignored and the task is asked again")


async def test_a_gateway_that_always_answers_for_another_task_is_given_up(
    start_sim: SimStarter,
) -> None:
    with trio.fail_after(20):
        async with (
            start_sim(wrong_id_rate=1.0, list_endpoint=False) as sim,
            SeedanceClient(base_url=sim.base_url, api_key=sim.api_key) as client,
        ):
            tracker = Tracker(client, floor=0.05, use_list=False, not_found_patience=0.5)
            watches = await _create(client, tracker, 2)
            await _follow(tracker, watches)
    for w in watches:
        assert isinstance(w.error, BadResponse)
        assert w.state.task_id == w.task_id  # still the create answer, never the other's


async def test_list_items_nobody_asked_for_are_ignored(start_sim: SimStarter) -> None:
    with trio.fail_after(20):
        async with (
            start_sim(wrong_id_rate=0.5) as sim,
            SeedanceClient(base_url=sim.base_url, api_key=sim.api_key) as client,
        ):
            tracker = Tracker(client, floor=0.05)
            first = await _create(client, tracker, 1)
            await _follow(tracker, first)
            watches = await _create(client, tracker, 3)
            await _follow(tracker, watches)
    assert sim.state.misdirected > 0 and sim.state.lists > 0
    for w in first + watches:
        assert w.error is None and w.state.status == "succeeded" and w.state.task_id == w.task_id


def _spec(n: int) -> str:
    jobs = "".join(f"\n  - name: take{i}\n    prompt: Take {i} of a paper boat" for i in range(n))
    return f"version: 1\nsettings: {{requests_per_second: 200}}\njobs:{jobs}\n"


async def test_apply_keeps_each_job_on_its_own_task_when_answers_are_crossed(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(tmp_path, _spec(5))
    with trio.fail_after(30):
        async with start_sim(wrong_id_rate=0.3, list_endpoint=False) as sim:
            done = await apply_in_process(sim, spec_path, use_list=False)
    assert sim.state.misdirected > 0
    assert set(done.outcome.status.values()) == {"succeeded"}
    for job_id, entry in done.lock.jobs.items():
        assert entry.task_id is not None
        # The task this job created is the one whose prompt is the job's.
        own = f"Take {job_id[4:]} of a paper boat"
        assert prompt_of(sim.state.tasks[entry.task_id].body) == own
    assert any("came back for task" in n for n in done.reporter.notes)


async def test_apply_waits_out_read_after_write_lag(tmp_path: Path, start_sim: SimStarter) -> None:
    spec_path = write_spec(tmp_path, _spec(3))
    with trio.fail_after(30):
        async with start_sim(read_lag_gets=2, list_endpoint=False) as sim:
            done = await apply_in_process(sim, spec_path, use_list=False)
    assert set(done.outcome.status.values()) == {"succeeded"}
    assert all(e.status == "succeeded" and e.output for e in done.lock.jobs.values())
    assert sim.state.creates == 3  # nothing paid twice
