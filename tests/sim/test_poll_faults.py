"""The knobs that rehearse a gateway's polling faults: read-after-write lag,
answers carrying another task, and run time that grows with the video."""

from __future__ import annotations

import pytest
import trio

from seedrun.sim import SimConfig

from .conftest import SimOpener
from .helpers import TASKS, text_body

NOT_FOUND = "task {} not found"


async def test_read_lag_answers_404_to_a_tasks_first_gets(open_sim: SimOpener) -> None:
    with trio.fail_after(5):
        async with open_sim(read_lag_gets=2) as (_sim, client):
            a = (await client.post(TASKS, json=text_body("a"))).json()["id"]
            b = (await client.post(TASKS, json=text_body("b"))).json()["id"]
            first = [await client.get(f"{TASKS}/{a}") for _ in range(3)]
            other = await client.get(f"{TASKS}/{b}")  # each task has its own lag
    assert [r.status_code for r in first] == [404, 404, 200]
    assert first[0].json() == {"error": {"code": "not_found", "message": NOT_FOUND.format(a)}}
    assert first[2].json()["id"] == a
    assert other.status_code == 404


async def test_wrong_id_answers_carry_another_tasks_object(open_sim: SimOpener) -> None:
    with trio.fail_after(5):
        async with open_sim(wrong_id_rate=1.0) as (sim, client):
            a = (await client.post(TASKS, json=text_body("a"))).json()["id"]
            b = (await client.post(TASKS, json=text_body("b"))).json()["id"]
            got_b = (await client.get(f"{TASKS}/{b}")).json()
            listed = (await client.get(TASKS, params={"filter.task_ids": [b]})).json()
    assert got_b["id"] == a  # asked for b, answered for a
    assert [item["id"] for item in listed["items"]] == [b, a]  # an item nobody asked for
    assert sim.state.misdirected == 2


async def test_run_time_scales_with_the_video_duration(open_sim: SimOpener) -> None:
    with trio.fail_after(5):
        async with open_sim(task_seconds=(0.2, 0.2), scale_by_duration=True) as (sim, client):
            short = (await client.post(TASKS, json=text_body("s", duration=5))).json()["id"]
            long = (await client.post(TASKS, json=text_body("l", duration=15))).json()["id"]
    runs = {t: sim.state.tasks[t].run_seconds for t in (short, long)}
    assert runs[short] == pytest.approx(0.2) and runs[long] == pytest.approx(0.6)


def test_the_knobs_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="read_lag_gets must be at least 0, got -1"):
        SimConfig(read_lag_gets=-1)
    with pytest.raises(ValueError, match=r"wrong_id_rate must be between 0 and 1, got 1\.5"):
        SimConfig(wrong_id_rate=1.5)
