"""Both API flavours over real loopback sockets: shapes, lifecycle, queue, cancel, auth."""

from __future__ import annotations

import time

import httpx
import trio

from seedrun.sim import SimHandle

from .conftest import SimOpener
from .helpers import MODEL, POLICY, TASKS, UNIFIED, invalid, text_body, until_done, until_started

Pair = tuple[SimHandle, httpx.AsyncClient]


def epochs(sim: SimHandle, task_id: str) -> tuple[int, int, int]:
    """(created, started, ended) of a task in epoch seconds, as answers report them."""
    task, engine = sim.state.tasks[task_id], sim.state.engine
    return engine.epoch(task.created), engine.epoch(task.start), engine.epoch(task.end)


async def test_official_create_and_poll_to_success(open_sim: SimOpener) -> None:
    with trio.fail_after(5):
        async with open_sim(task_seconds=(0.4, 0.4)) as (sim, client):
            body = text_body("a cubic city", seed=42, duration=8, resolution="1080p",
                             ratio="9:16", return_last_frame=True)
            created = await client.post(TASKS, json=body)
            assert created.status_code == 200
            task_id = created.json()["id"]
            at, started, ended = epochs(sim, task_id)
            assert abs(at - time.time()) < 2
            assert created.json() == {
                "id": task_id, "model": MODEL, "status": "running", "created_at": at,
                "updated_at": at, "service_tier": "default", "execution_expires_after": 172800,
            }
            running = await client.get(f"{TASKS}/{task_id}")
            assert running.json() == {"id": task_id, "model": MODEL, "status": "running",
                                      "created_at": at, "updated_at": started}
            await until_done(sim, task_id)
            done = await client.get(f"{TASKS}/{task_id}")
    assert done.json() == {
        "id": task_id,
        "model": MODEL,
        "status": "succeeded",
        "content": {
            "video_url": f"{sim.files_url}/files/videos/{task_id}.mp4",
            "last_frame_url": f"{sim.files_url}/files/frames/{task_id}.png",
        },
        "seed": 42,
        "revised_prompt": "A cubic city.",
        "usage": {"completion_tokens": 391680, "total_tokens": 391680},
        "created_at": at,
        "updated_at": ended,
    }
    assert sim.state.tasks[task_id].body["seed"] == 42
    assert (sim.state.creates, sim.state.gets) == (1, 2)


async def test_official_failure_and_queued_shapes(open_sim: SimOpener) -> None:
    with trio.fail_after(5):
        async with open_sim(concurrency=1, task_seconds=(0.4, 0.4)) as (sim, client):
            bad = (await client.post(TASKS, json=text_body("riot [policy-fail]"))).json()["id"]
            queued = await client.post(TASKS, json=text_body("later", service_tier="flex"))
            later = queued.json()["id"]
            at = epochs(sim, later)[0]
            assert queued.json() == {
                "id": later, "model": MODEL, "status": "queued", "created_at": at,
                "updated_at": at, "service_tier": "flex", "execution_expires_after": 172800,
            }
            assert (await client.get(f"{TASKS}/{later}")).json() == {
                "id": later, "model": MODEL, "status": "queued", "created_at": at, "updated_at": at,
            }
            await until_done(sim, bad)
            failed = await client.get(f"{TASKS}/{bad}")
    created, _, ended = epochs(sim, bad)
    assert failed.json() == {
        "id": bad, "model": MODEL, "status": "failed",
        "error": {"code": "task_failed", "message": POLICY},
        "created_at": created, "updated_at": ended,
    }


async def test_unified_create_and_poll_to_completion(sim_client: Pair) -> None:
    sim, client = sim_client
    body = {"model": MODEL, "prompt": "a cubic city", "seconds": "5",
            "metadata": {"resolution": "1080p", "ratio": "16:9", "return_last_frame": True}}
    with trio.fail_after(5):
        created = await client.post(UNIFIED, json=body)
        task_id = created.json()["id"]
        at = epochs(sim, task_id)[0]
        assert task_id.startswith("video_")
        assert created.json() == {"id": task_id, "task_id": task_id, "object": "video",
                                  "model": MODEL, "status": "queued", "progress": 0,
                                  "created_at": at}
        task = sim.state.tasks[task_id]
        await trio.sleep(task.run_seconds / 2)
        running = (await client.get(f"{UNIFIED}/{task_id}")).json()
        assert running["status"] == "in_progress"
        assert 10 <= running["progress"] <= 95
        await until_done(sim, task_id)
        done = await client.get(f"{UNIFIED}/{task_id}")
    assert done.json() == {
        "id": task_id, "task_id": task_id, "object": "video", "model": MODEL,
        "status": "completed", "progress": 100, "created_at": at,
        "metadata": {"url": f"{sim.files_url}/files/videos/{task_id}.mp4",
                     "last_frame_url": f"{sim.files_url}/files/frames/{task_id}.png"},
    }


async def test_unified_failure_and_flavours_do_not_mix(sim_client: Pair) -> None:
    sim, client = sim_client
    with trio.fail_after(5):
        created = await client.post(UNIFIED, json={"model": MODEL, "prompt": "x [policy-fail]"})
        task_id = created.json()["id"]
        other = await client.get(f"{TASKS}/{task_id}")
        await until_done(sim, task_id)
        failed = await client.get(f"{UNIFIED}/{task_id}")
    assert other.status_code == 404
    assert failed.json() == {
        "id": task_id, "task_id": task_id, "object": "video", "model": MODEL,
        "status": "failed", "progress": 100, "created_at": epochs(sim, task_id)[0],
        "error": {"code": "task_failed", "message": POLICY},
    }


async def test_auth_is_required_on_every_api_endpoint(sim_client: Pair) -> None:
    sim, _ = sim_client
    calls = [("POST", TASKS), ("GET", TASKS), ("GET", f"{TASKS}/x"), ("DELETE", f"{TASKS}/x"),
             ("POST", UNIFIED), ("GET", f"{UNIFIED}/x"), ("POST", "/v1/images/moderations"),
             ("POST", "/v1/assets/moderations")]
    with trio.fail_after(5):
        async with httpx.AsyncClient(base_url=sim.base_url) as anonymous:
            missing = [await anonymous.request(m, p, json={}) for m, p in calls]
            wrong = await anonymous.get(f"{TASKS}/x", headers={"Authorization": "Bearer nope"})
    assert {r.status_code for r in missing} == {401}
    assert missing[0].json() == {"error": {
        "code": "unauthorized",
        "message": "missing Authorization header; send Authorization: Bearer <API key>"}}
    assert wrong.status_code == 401
    assert wrong.json() == {"error": {"code": "unauthorized", "message": "invalid API key"}}
    assert (sim.state.creates, sim.state.gets) == (0, 0)


async def test_validation_answers_400_with_the_parameter_named(sim_client: Pair) -> None:
    sim, client = sim_client
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    with trio.fail_after(5):
        not_json = await client.post(TASKS, content=b"{oops")
        inline = await client.post(TASKS, json=text_body(content=[image]))
        ratio = await client.post(UNIFIED, json={"model": MODEL, "prompt": "p",
                                                 "metadata": {"ratio": "2:1"}})
        unknown = await client.post(TASKS, json=text_body(callback_url="https://e.com/hook"))
    assert (not_json.status_code, not_json.json()) == (400, invalid(
        "request body must be valid JSON"))
    assert (inline.status_code, inline.json()) == (400, invalid(
        "content[0].image_url.url: base64 and inline binary content are not supported; "
        "pass a public http(s) URL or an approved asset://<asset ID>"))
    assert ratio.json() == invalid(
        'metadata.ratio must be one of 16:9, 4:3, 1:1, 3:4, 9:16, 21:9, adaptive (got "2:1")')
    assert unknown.status_code == 200  # unknown top-level parameters are ignored
    assert len(sim.state.tasks) == 1


async def test_fcfs_cap_queues_beyond_concurrency_and_time_alone_advances(
    open_sim: SimOpener,
) -> None:
    with trio.fail_after(5):
        async with open_sim(concurrency=2, task_seconds=(0.3, 0.3)) as (sim, client):
            ids = [(await client.post(TASKS, json=text_body(f"p{i}"))).json()["id"]
                   for i in range(4)]
            first = [(await client.get(f"{TASKS}/{i}")).json()["status"] for i in ids]
            # No polling at all until the last planned end: everything still finishes.
            await until_done(sim, *ids)
            last = [(await client.get(f"{TASKS}/{i}")).json()["status"] for i in ids]
    assert first == ["running", "running", "queued", "queued"]
    assert last == ["succeeded"] * 4
    tasks = [sim.state.tasks[i] for i in ids]
    assert sorted([tasks[2].start, tasks[3].start]) == sorted([tasks[0].end, tasks[1].end])


async def test_cancel_only_queued_tasks(open_sim: SimOpener) -> None:
    with trio.fail_after(5):
        async with open_sim(concurrency=1, task_seconds=(2.0, 2.0)) as (sim, client):
            running, doomed, waiting = [
                (await client.post(TASKS, json=text_body(p))).json()["id"] for p in "abc"
            ]
            cancel = await client.delete(f"{TASKS}/{doomed}")
            again = await client.delete(f"{TASKS}/{doomed}")
            busy = await client.delete(f"{TASKS}/{running}")
            unknown = await client.delete(f"{TASKS}/task_nope")
            shown = await client.get(f"{TASKS}/{doomed}")
    assert (cancel.status_code, cancel.json()) == (200, {})
    assert (again.status_code, again.json()) == (400, invalid(
        f"task {doomed} is cancelled; only a queued task can be cancelled"))
    assert (busy.status_code, busy.json()) == (400, invalid(
        f"task {running} is running; only a queued task can be cancelled"))
    assert (unknown.status_code, unknown.json()) == (404, {"error": {
        "code": "not_found", "message": "task task_nope not found"}})
    created = epochs(sim, doomed)[0]
    cancelled_at = sim.state.engine.epoch(sim.state.tasks[doomed].cancelled_at or 0)
    assert shown.json() == {"id": doomed, "model": MODEL, "status": "cancelled",
                            "created_at": created, "updated_at": cancelled_at}
    # The cancelled task's slot went to the next one in line.
    assert sim.state.tasks[waiting].start == sim.state.tasks[running].end
    assert sim.state.cancels == 4


async def test_list_paginates_and_filters(open_sim: SimOpener) -> None:
    with trio.fail_after(5):
        async with open_sim(concurrency=2, task_seconds=(2.0, 2.0)) as (sim, client):
            ids = [(await client.post(TASKS, json=text_body(f"p{i}"))).json()["id"]
                   for i in range(4)]
            flex = (await client.post(TASKS, json=text_body("f", service_tier="flex"))).json()
            await client.post(UNIFIED, json={"model": MODEL, "prompt": "not listed"})
            everything = (await client.get(TASKS)).json()
            page = (await client.get(TASKS, params={"page_num": 2, "page_size": 2})).json()
            queued = (await client.get(TASKS, params={"filter.status": "queued"})).json()
            chosen = (await client.get(TASKS, params=[("filter.task_ids", ids[0]),
                                                      ("filter.task_ids", ids[3])])).json()
            tier = (await client.get(TASKS, params={"filter.service_tier": "flex",
                                                    "filter.model": MODEL})).json()
            too_big = await client.get(TASKS, params={"page_size": 501})
            bad_status = await client.get(TASKS, params={"filter.status": "done"})
    newest_first = [flex["id"], *reversed(ids)]
    assert everything["total"] == 5
    assert [item["id"] for item in everything["items"]] == newest_first
    assert everything["items"][-1] == {
        "id": ids[0], "model": MODEL, "status": "running",
        "created_at": epochs(sim, ids[0])[0], "updated_at": epochs(sim, ids[0])[1],
    }
    assert (page["total"], [i["id"] for i in page["items"]]) == (5, newest_first[2:4])
    assert [i["id"] for i in queued["items"]] == newest_first[:3]
    assert [i["id"] for i in chosen["items"]] == [ids[3], ids[0]]
    assert [i["id"] for i in tier["items"]] == [flex["id"]]
    assert (too_big.status_code, too_big.json()) == (400, invalid(
        'page_size must be an integer from 1 to 500 (got "501")'))
    assert bad_status.json() == invalid(
        "filter.status must be one of queued, running, succeeded, failed, cancelled "
        '(got "done")')
    assert sim.state.lists == 7


async def test_list_endpoint_can_be_switched_off(open_sim: SimOpener) -> None:
    with trio.fail_after(5):
        async with open_sim(list_endpoint=False) as (_, client):
            answer = await client.get(TASKS)
    assert (answer.status_code, answer.json()) == (404, {"error": {
        "code": "not_found", "message": "the task list endpoint is not available"}})


async def test_tasks_past_retention_are_gone(open_sim: SimOpener) -> None:
    with trio.fail_after(5):
        async with open_sim(retention_seconds=0.3, task_seconds=(0.1, 0.1)) as (sim, client):
            task_id = (await client.post(TASKS, json=text_body())).json()["id"]
            await until_done(sim, task_id)
            fresh = await client.get(f"{TASKS}/{task_id}")
            video = fresh.json()["content"]["video_url"]
            await trio.sleep(0.3)
            old = await client.get(f"{TASKS}/{task_id}")
            listed = (await client.get(TASKS)).json()
            async with httpx.AsyncClient() as files:
                gone = await files.get(video)
    assert fresh.json()["status"] == "succeeded"
    assert (old.status_code, old.json()) == (404, {"error": {
        "code": "not_found", "message": f"task {task_id} not found"}})
    assert listed == {"total": 0, "items": []}
    assert gone.status_code == 404


async def test_server_chosen_seed_and_usage_are_deterministic(open_sim: SimOpener) -> None:
    answers = []
    for _ in range(2):
        with trio.fail_after(5):
            async with open_sim(task_seconds=(0.1, 0.1)) as (sim, client):
                draft = (await client.post(TASKS, json=text_body(seed=-1, draft=True))).json()
                plain = (await client.post(TASKS, json=text_body())).json()
                await until_done(sim, draft["id"], plain["id"])
                answers.append([(await client.get(f"{TASKS}/{t['id']}")).json()
                                for t in (draft, plain)])
    first, second = answers
    assert [(a["id"], a["seed"], a["usage"]) for a in first] == [
        (a["id"], a["seed"], a["usage"]) for a in second
    ]
    assert first[0]["seed"] != -1
    assert first[0]["usage"] == {"completion_tokens": 29160, "total_tokens": 29160}
    assert first[1]["usage"] == {"completion_tokens": 102960, "total_tokens": 102960}


async def test_draft_task_items_must_name_a_succeeded_draft(open_sim: SimOpener) -> None:
    def based_on(task_id: str) -> dict[str, object]:
        return text_body(content=[{"type": "text", "text": "final"},
                                  {"type": "draft_task", "draft_task": {"id": task_id}}])

    with trio.fail_after(5):
        async with open_sim(task_seconds=(0.4, 0.4), draft_speedup=2.0) as (sim, client):
            draft = (await client.post(TASKS, json=text_body(draft=True))).json()["id"]
            early = await client.post(TASKS, json=based_on(draft))
            plain = (await client.post(TASKS, json=text_body("plain"))).json()["id"]
            unknown = await client.post(TASKS, json=based_on("task_nope"))
            await until_done(sim, draft, plain)
            not_draft = await client.post(TASKS, json=based_on(plain))
            ok = await client.post(TASKS, json=based_on(draft))
    where = "content[1].draft_task.id"
    assert early.json() == invalid(
        f"{where}: draft task {draft} is running; only a succeeded draft task can be used")
    assert unknown.json() == invalid(f"{where}: draft task task_nope not found")
    assert not_draft.json() == invalid(
        f"{where}: task {plain} is not a draft task (create drafts with draft: true)")
    assert ok.status_code == 200
    assert sim.state.tasks[draft].run_seconds == 0.2


async def test_created_tasks_start_on_time_even_when_nobody_polls(open_sim: SimOpener) -> None:
    with trio.fail_after(5):
        async with open_sim(concurrency=1, task_seconds=(0.2, 0.2)) as (sim, client):
            first = (await client.post(TASKS, json=text_body("a"))).json()["id"]
            second = (await client.post(TASKS, json=text_body("b"))).json()["id"]
            await until_started(sim, second)
            answer = (await client.get(f"{TASKS}/{second}")).json()
    assert answer["status"] == "running"
    assert sim.state.tasks[second].start == sim.state.tasks[first].end
    assert sim.state.gets == 1
