"""Each fault knob, and that every injected fault is deterministic under the seed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio

from seedrun.sim import SimHandle

from .conftest import SimOpener
from .helpers import MODEL, TASKS, UNIFIED, text_body, until_done

INTERNAL = {"error": {"code": "internal_error", "message": "internal server error; please retry"}}
UNAVAILABLE = {"error": {"code": "service_unavailable",
                         "message": "service temporarily unavailable"}}


async def finished_video_url(sim: SimHandle, client: httpx.AsyncClient, **extra: Any) -> str:
    task_id = (await client.post(TASKS, json=text_body(**extra))).json()["id"]
    await until_done(sim, task_id)
    answer = (await client.get(f"{TASKS}/{task_id}")).json()
    return str(answer["content"]["video_url"])


async def test_rate_limit_answers_429_with_retry_after(open_sim: SimOpener) -> None:
    with trio.fail_after(5):
        async with open_sim(rate_limit_rps=2.0) as (sim, client):
            answers = [await client.get(f"{TASKS}/task_x") for _ in range(3)]
            await trio.sleep(0.55)  # one token back at 2 per second
            after = await client.get(f"{TASKS}/task_x")
    assert [a.status_code for a in answers] == [404, 404, 429]
    assert answers[2].headers["retry-after"] == "1"
    assert answers[2].json() == {"error": {"code": "rate_limited",
                                           "message": "too many requests; retry after 1 s"}}
    assert after.status_code == 404
    assert sim.state.rate_limited == 1


async def test_error_before_create_makes_no_task(open_sim: SimOpener) -> None:
    with trio.fail_after(5):
        async with open_sim(error_rate_before=1.0) as (sim, client):
            official = await client.post(TASKS, json=text_body())
            unified = await client.post(UNIFIED, json={"model": MODEL, "prompt": "p"})
    assert (official.status_code, official.json()) == (500, INTERNAL)
    assert unified.status_code == 500
    assert sim.state.tasks == {}
    assert sim.state.creates == 2


async def test_error_after_create_leaves_a_running_task(open_sim: SimOpener) -> None:
    with trio.fail_after(5):
        async with open_sim(error_rate_after=1.0) as (sim, client):
            answer = await client.post(TASKS, json=text_body())
            [task_id] = sim.state.tasks
            listed = (await client.get(TASKS)).json()
    assert (answer.status_code, answer.json()) == (500, INTERNAL)
    assert [item["id"] for item in listed["items"]] == [task_id]


async def test_create_faults_depend_on_the_body_not_the_arrival_order(
    open_sim: SimOpener,
) -> None:
    bodies = [text_body(f"prompt {i}") for i in range(24)]
    outcomes = []
    for order in (bodies, bodies[::-1]):
        with trio.fail_after(5):
            async with open_sim(error_rate_before=0.5, seed=3) as (sim, client):
                codes = {}
                for body in order:
                    codes[body["content"][0]["text"]] = (
                        await client.post(TASKS, json=body)
                    ).status_code
                outcomes.append((codes, sorted(sim.state.tasks)))
    (first, first_ids), (second, second_ids) = outcomes
    assert first == second
    assert first_ids == second_ids
    assert 0 < list(first.values()).count(500) < 24


async def test_a_failed_create_can_succeed_when_retried(open_sim: SimOpener) -> None:
    with trio.fail_after(5):
        async with open_sim(error_rate_before=0.5, seed=1) as (sim, client):
            codes = [(await client.post(TASKS, json=text_body())).status_code for _ in range(12)]
    assert 200 in codes and 500 in codes
    assert len(sim.state.tasks) == codes.count(200)


async def test_get_errors_answer_503_and_are_per_poll(open_sim: SimOpener) -> None:
    with trio.fail_after(5):
        async with open_sim(get_error_rate=1.0) as (_, client):
            task_id = (await client.post(TASKS, json=text_body())).json()["id"]
            answer = await client.get(f"{TASKS}/{task_id}")
            listed = await client.get(TASKS)
    assert (answer.status_code, answer.json()) == (503, UNAVAILABLE)
    assert listed.status_code == 503
    with trio.fail_after(5):
        async with open_sim(get_error_rate=0.5) as (_, client):
            task_id = (await client.post(TASKS, json=text_body())).json()["id"]
            codes = [(await client.get(f"{TASKS}/{task_id}")).status_code for _ in range(16)]
    assert 200 in codes and 503 in codes


async def test_truncated_download_is_incomplete_then_whole(open_sim: SimOpener) -> None:
    with trio.fail_after(5):
        async with open_sim(truncate_rate=1.0) as (sim, client):
            url = await finished_video_url(sim, client)
            async with httpx.AsyncClient() as files:
                with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                    await files.get(url)
                whole = await files.get(url)
    assert whole.status_code == 200
    assert len(whole.content) == int(whole.headers["content-length"])
    assert (sim.state.downloads, sim.state.truncated) == (2, 1)


async def test_signed_urls_expire_and_each_poll_mints_a_fresh_one(open_sim: SimOpener) -> None:
    with trio.fail_after(5):
        async with open_sim(url_ttl=0.3, task_seconds=(0.1, 0.1)) as (sim, client):
            url = await finished_video_url(sim, client)
            async with httpx.AsyncClient() as files:
                fresh = await files.get(url)
                tampered = await files.get(url.replace("signature=", "signature=0"))
                await trio.sleep(0.35)
                expired = await files.get(url)
                [task_id] = sim.state.tasks
                again = (await client.get(f"{TASKS}/{task_id}")).json()["content"]["video_url"]
                renewed = await files.get(again)
    assert "expires=" in url and "signature=" in url
    assert fresh.status_code == 200
    assert (tampered.status_code, tampered.text) == (403, "Signature does not match")
    assert (expired.status_code, expired.text) == (403, "Request has expired")
    assert again != url
    assert renewed.status_code == 200


async def test_latency_delays_every_api_answer(open_sim: SimOpener) -> None:
    with trio.fail_after(5):
        async with open_sim(latency=0.3) as (_, client):
            before = trio.current_time()
            await client.get(f"{TASKS}/task_x")
            took = trio.current_time() - before
    assert 0.3 <= took < 1.5


async def test_same_seed_same_simulation(open_sim: SimOpener) -> None:
    runs = []
    for seed in (5, 5, 6):
        with trio.fail_after(5):
            async with open_sim(seed=seed) as (sim, client):
                for i in range(3):
                    await client.post(TASKS, json=text_body(f"p{i}"))
            runs.append([(t.id, t.run_seconds, t.seed) for t in sim.state.tasks.values()])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
