"""tracker.py: one loop follows every task in flight.

The first tests use MockClock (``autojump_clock``) with httpx.MockTransport: no
socket anywhere. The last ones use the simulator over loopback with the real clock.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio
from conftest import SimStarter

from seedrun.client import SeedanceClient
from seedrun.errors import TaskNotFound
from seedrun.models import TaskState
from seedrun.sim import SimHandle
from seedrun.tracker import Tracker, Watch

TASKS = "/api/v3/contents/generations/tasks"
UNIFIED = "/v1/video/generations"


@dataclass
class FakeApi:
    """Tasks that end at fixed (mock clock) times; records every request it sees."""

    ends: dict[str, float]
    unified: set[str] = field(default_factory=set)
    list_ok: bool = True
    lists: list[tuple[float, list[str]]] = field(default_factory=list)
    gets: list[tuple[float, str]] = field(default_factory=list)
    seen_done: set[str] = field(default_factory=set)
    list_misses: list[tuple[set[str], set[str]]] = field(default_factory=list)

    def task(self, task_id: str, now: float, *, unified: bool) -> dict[str, Any]:
        done = now >= self.ends[task_id]
        body: dict[str, Any] = {"id": task_id, "status": "succeeded" if done else "running"}
        url = f"https://files.test/{task_id}.mp4"
        if done:
            body.update({"metadata": {"url": url}} if unified else {"content": {"video_url": url}})
        return body

    def handler(self, request: httpx.Request) -> httpx.Response:
        now = trio.current_time()
        path = request.url.path
        if path == TASKS and request.method == "GET":
            wanted = request.url.params.get_list("filter.task_ids")
            self.lists.append((now, wanted))
            if not self.list_ok:
                return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})
            # Every official task still in flight must be in the sweep.
            in_flight = {t for t in self.ends if t not in self.unified} - self.seen_done
            if set(wanted) != in_flight:
                self.list_misses.append((set(wanted), in_flight))
            items = [self.task(t, now, unified=False) for t in wanted if t in self.ends]
            self.seen_done |= {i["id"] for i in items if i["status"] == "succeeded"}
            return httpx.Response(200, json={"items": items, "total": len(items)})
        for prefix, unified in ((TASKS + "/", False), (UNIFIED + "/", True)):
            if path.startswith(prefix):
                task_id = path.removeprefix(prefix)
                self.gets.append((now, task_id))
                if task_id not in self.ends or (task_id in self.unified) != unified:
                    return httpx.Response(
                        404, json={"error": {"code": "not_found", "message": "gone"}}
                    )
                return httpx.Response(200, json=self.task(task_id, now, unified=unified))
        return httpx.Response(500, text=json.dumps({"unexpected": path}))


def _client(api: FakeApi) -> SeedanceClient:
    return SeedanceClient(
        base_url="http://api.test", api_key="k", transport=httpx.MockTransport(api.handler)
    )


async def _follow_all(tracker: Tracker, watches: list[Watch]) -> None:
    """Wait, as job tasks do, until every watch has ended."""

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


def _watch(tracker: Tracker, api: str, task_id: str) -> Watch:
    return tracker.watch(
        api,
        TaskState(task_id=task_id, status="queued"),
        group=api,
        submitted=trio.current_time(),
        deadline=None,
    )


async def test_one_list_sweep_covers_every_official_task(autojump_clock: Any) -> None:
    ends = {f"task_{i}": 30.0 + 7.0 * i for i in range(8)}
    api = FakeApi(ends)
    with trio.fail_after(3600):
        async with _client(api) as client:
            tracker = Tracker(client, floor=1.0)
            watches = [_watch(tracker, "official", t) for t in ends]
            await _follow_all(tracker, watches)
    assert api.gets == []  # nothing polled one by one
    assert api.list_misses == []  # every sweep asked for every task still in flight
    assert tracker.sweeps == len(api.lists)
    # Far fewer requests than one GET per task per poll would have cost.
    assert len(api.lists) < 3 * len(ends)
    for w in watches:
        assert w.state.status == "succeeded" and w.error is None
        assert w.state.video_url == f"https://files.test/{w.task_id}.mp4"
        assert w.last_poll >= ends[w.task_id]


async def test_without_the_list_endpoint_each_task_gets_its_own_get(
    autojump_clock: Any,
) -> None:
    ends = {f"task_{i}": 20.0 + 5.0 * i for i in range(4)}
    api = FakeApi(ends, list_ok=False)
    with trio.fail_after(3600):
        async with _client(api) as client:
            tracker = Tracker(client, floor=1.0)
            watches = [_watch(tracker, "official", t) for t in ends]
            await _follow_all(tracker, watches)
    assert len(api.lists) == 1  # probed once, then never again
    assert tracker.use_list is False
    assert {t for _, t in api.gets} == set(ends)
    for w in watches:
        assert w.state.status == "succeeded" and w.error is None
        last_get = max(at for at, t in api.gets if t == w.task_id)
        assert last_get >= ends[w.task_id]


async def test_unified_tasks_are_polled_by_get_beside_the_sweep(autojump_clock: Any) -> None:
    ends = {"task_a": 15.0, "task_b": 25.0, "video_c": 20.0, "video_d": 40.0}
    api = FakeApi(ends, unified={"video_c", "video_d"})
    with trio.fail_after(3600):
        async with _client(api) as client:
            tracker = Tracker(client, floor=1.0)
            watches = [
                _watch(tracker, "unified" if t.startswith("video") else "official", t)
                for t in ends
            ]
            await _follow_all(tracker, watches)
    assert {t for _, t in api.gets} == {"video_c", "video_d"}
    assert {t for _, ids in api.lists for t in ids} == {"task_a", "task_b"}
    assert api.list_misses == []
    assert all(w.state.status == "succeeded" for w in watches)


async def test_a_task_that_is_gone_ends_its_watch_with_task_not_found(
    autojump_clock: Any,
) -> None:
    api = FakeApi({"video_here": 5.0}, unified={"video_here"})
    with trio.fail_after(3600):
        async with _client(api) as client:
            tracker = Tracker(client, floor=1.0)
            gone = _watch(tracker, "unified", "video_gone")
            here = _watch(tracker, "unified", "video_here")
            await _follow_all(tracker, [gone, here])
    assert isinstance(gone.error, TaskNotFound)
    assert here.error is None and here.state.status == "succeeded"


# ---------------------------------------------------------------- against the simulator


async def _sim_tasks(sim: SimHandle, n: int) -> tuple[Tracker, list[Watch], SeedanceClient]:
    client = SeedanceClient(base_url=sim.base_url, api_key=sim.api_key)
    tracker = Tracker(client, floor=0.05)
    watches = []
    for i in range(n):
        body = {"model": "doubao-seedance-2.0", "content": [{"type": "text", "text": f"t{i}"}]}
        state = await client.create("official", body)
        watches.append(
            tracker.watch(
                "official", state, group="g", submitted=trio.current_time(), deadline=None
            )
        )
    return tracker, watches, client


def _task_gets(sim: SimHandle) -> list[dict[str, Any]]:
    return [
        r for r in sim.state.requests if r["method"] == "GET" and r["path"].startswith(TASKS + "/")
    ]


async def test_sweeps_against_the_simulator(start_sim: SimStarter) -> None:
    n = 6
    with trio.fail_after(20):
        async with start_sim(task_seconds=(0.2, 0.5)) as sim:
            tracker, watches, client = await _sim_tasks(sim, n)
            async with client:
                await _follow_all(tracker, watches)
    assert all(w.state.status == "succeeded" and w.state.video_url for w in watches)
    assert _task_gets(sim) == []
    assert sim.state.lists == tracker.sweeps > 0


async def test_get_fallback_against_the_simulator(start_sim: SimStarter) -> None:
    n = 6
    with trio.fail_after(20):
        async with start_sim(task_seconds=(0.2, 0.5), list_endpoint=False) as sim:
            tracker, watches, client = await _sim_tasks(sim, n)
            async with client:
                await _follow_all(tracker, watches)
    assert all(w.state.status == "succeeded" and w.state.video_url for w in watches)
    list_calls = [r for r in sim.state.requests if r["path"] == TASKS and r["method"] == "GET"]
    assert [r["status"] for r in list_calls] == [404]
    assert {r["path"].rsplit("/", 1)[-1] for r in _task_gets(sim)} == {w.task_id for w in watches}


async def test_a_task_that_waited_ten_minutes_is_asked_about_once_a_minute(
    autojump_clock: Any,
) -> None:
    # Flex tasks may wait for hours; two of them, one ending much later.
    ends = {"task_a": 1500.0, "task_b": 2400.0}
    for use_list in (True, False):
        start = trio.current_time()
        api = FakeApi({t: start + end for t, end in ends.items()})
        with trio.fail_after(7200):
            async with _client(api) as client:
                tracker = Tracker(client, floor=1.0, use_list=use_list)
                watches = [_watch(tracker, "official", t) for t in ends]
                await _follow_all(tracker, watches)
        for task_id in ends:
            asked = [at - start for at, ids in api.lists if task_id in ids]
            asked += [at - start for at, t in api.gets if t == task_id]
            late = sorted(at for at in asked if at >= 600.0)
            assert late, (use_list, task_id)
            gaps = [b - a for a, b in itertools.pairwise(late)]
            assert all(gap >= 59.0 for gap in gaps), (use_list, task_id, gaps)
            # And still seen soon after its end: within a tenth of its wait.
            assert late[-1] - ends[task_id] <= 0.1 * ends[task_id] + 1.0
