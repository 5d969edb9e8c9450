"""The task-service extras end to end against the simulator (real sockets, real clock):
storyboard chains, drafts and promotion, cancel, detach, batch polling, budget,
``extra:`` pass-through, a gateway lacking a feature, ``--keep-seed`` and retention.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import (
    SimStarter,
    apply_in_process,
    cli_env,
    prompt_of,
    run_cli,
    sha256_of,
    write_spec,
)

from seedrun.cli import main
from seedrun.files import read_lock
from seedrun.lockfile import Lock
from seedrun.sim import SimHandle, media
from seedrun.store import write_lock

# CLI runs poll at the scale of the simulator's short tasks and write no report.
CLI_OPTIONS = ("--poll-floor", "0.05", "--no-report")


def plan_actions(spec_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """``seedrun plan SPEC --json`` (no network, no trio.run): each job's action."""
    capsys.readouterr()
    assert main(["plan", str(spec_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    return {item["id"]: item["action"] for item in doc["jobs"]}


def lock_on_disk(spec_path: Path) -> Lock:
    return read_lock(spec_path.with_suffix(".lock"))


def body_of(sim: SimHandle, lock: Lock, job_id: str) -> dict[str, Any]:
    task_id = lock.jobs[job_id].task_id
    assert task_id is not None
    return sim.state.tasks[task_id].body


# ---------------------------------------------------------------- 1. storyboard chains

STORYBOARD = """
version: 1
settings: {{requests_per_second: 50}}
vars:
  sea: {sea}
defaults:
  duration: 5
  ratio: "16:9"
jobs:
  - name: shot1
    prompt: "A lighthouse, {{{{ look }}}} grade{{% if look=='warm' %}}, {{{{ sea }}}}{{% endif %}}"
    matrix:
      look: [warm, cold]
  - name: shot2
    prompt: "Continue from image 1: the lamp turns on, {{{{ look }}}} grade"
    media:
      - {{from: "shot1[look={{{{ look }}}}]", frame: last, role: first_frame}}
    matrix:
      look: [warm, cold]
  - name: shot3
    prompt: "Continue from image 1: a ship passes, {{{{ look }}}} grade"
    media:
      - {{from: "shot2[look={{{{ look }}}}]", frame: last, role: first_frame}}
    matrix:
      look: [warm, cold]
"""
LOOKS = ("warm", "cold")


async def test_storyboard_chain_across_a_matrix_then_an_upstream_change_cascades(
    tmp_path: Path, start_sim: SimStarter, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_path = write_spec(tmp_path, STORYBOARD.format(sea="calm sea"))
    with trio.fail_after(30):
        async with start_sim() as sim:
            first = await apply_in_process(sim, spec_path)
            ids = [f"shot{n}[look={look}]" for look in LOOKS for n in (1, 2, 3)]
            assert first.outcome.status == dict.fromkeys(ids, "succeeded")
            lock = lock_on_disk(spec_path)
            for look in LOOKS:
                for n in (1, 2):
                    src_id, dep_id = f"shot{n}[look={look}]", f"shot{n + 1}[look={look}]"
                    src, dep = lock.jobs[src_id], lock.jobs[dep_id]
                    assert src.task_id is not None and dep.task_id is not None
                    src_task = sim.state.tasks[src.task_id]
                    assert src_task.body["return_last_frame"] is True
                    # The frame file: downloaded beside the video, recorded with its hash.
                    assert src.last_frame is not None
                    stem = f"shot{n}__look={look}"
                    assert src.last_frame.path == f"outputs/{stem}.last.png"
                    frame_file = tmp_path / src.last_frame.path
                    assert src.last_frame.sha256 == sha256_of(frame_file)
                    assert src.last_frame.bytes == frame_file.stat().st_size
                    assert frame_file.read_bytes() == media.frame_png(src.task_id)
                    # The dependent was created after its source ended, from its frame.
                    dep_task = sim.state.tasks[dep.task_id]
                    assert dep_task.created >= src_task.end
                    item = dep_task.body["content"][1]
                    assert item["role"] == "first_frame"
                    assert item["image_url"]["url"] == src.last_frame_url
                    assert f"/files/frames/{src.task_id}.png" in item["image_url"]["url"]
                # The end of the chain returns no frame: nothing depends on it.
                assert "return_last_frame" not in body_of(sim, lock, f"shot3[look={look}]")

            # A change to shot1 for one look only replaces that look's chain.
            write_spec(tmp_path, STORYBOARD.format(sea="stormy sea"))
            assert plan_actions(spec_path, capsys) == {
                "shot1[look=warm]": "replace",
                "shot1[look=cold]": "unchanged",
                "shot2[look=warm]": "replace",
                "shot2[look=cold]": "unchanged",
                "shot3[look=warm]": "replace",
                "shot3[look=cold]": "unchanged",
            }
            before = set(sim.state.tasks)
            second = await apply_in_process(sim, spec_path)
    assert second.stats.creates == 3
    assert set(second.outcome.status.values()) == {"succeeded"}
    new = sorted((sim.state.tasks[t] for t in set(sim.state.tasks) - before), key=lambda t: t.seq)
    assert [prompt_of(t.body) for t in new] == [
        "A lighthouse, warm grade, stormy sea",
        "Continue from image 1: the lamp turns on, warm grade",
        "Continue from image 1: a ship passes, warm grade",
    ]
    after = lock_on_disk(spec_path)
    for n in (1, 2, 3):
        cold = f"shot{n}[look=cold]"
        assert after.jobs[cold] == lock.jobs[cold]
        assert after.jobs[f"shot{n}[look=warm]"].task_id in {t.id for t in new}


# ---------------------------------------------------------------- 2. drafts, then promotion

DRAFTS = """
version: 1
settings: {requests_per_second: 50}
jobs:
  - name: teaser
    prompt: "A slow push-in on the lighthouse, {{ look }} grade"
    draft: true
    matrix:
      look: [warm, cold]
  - name: risky
    prompt: "A storm wrecks the lighthouse [policy-fail]"
    draft: true
promote:
  - "teaser[look=warm]"
  - risky
"""


async def test_promoted_draft_makes_a_final_and_a_failed_draft_blocks_its_final(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(tmp_path, DRAFTS)
    with trio.fail_after(20):
        async with start_sim() as sim:
            done = await apply_in_process(sim, spec_path)
    assert done.outcome.status == {
        "teaser[look=warm]": "succeeded",
        "teaser[look=cold]": "succeeded",
        "risky": "failed",
        "teaser[look=warm]#final": "succeeded",
        "risky#final": "blocked",
    }
    lock = lock_on_disk(spec_path)
    draft, final = lock.jobs["teaser[look=warm]"], lock.jobs["teaser[look=warm]#final"]
    assert (draft.kind, final.kind) == ("draft", "final")
    assert draft.status == final.status == "succeeded"
    assert body_of(sim, lock, "teaser[look=warm]")["draft"] is True
    assert body_of(sim, lock, "teaser[look=warm]#final")["content"] == [
        {"type": "draft_task", "draft_task": {"id": draft.task_id}}
    ]
    assert final.output is not None and draft.output is not None
    assert final.output.path != draft.output.path
    # Only the promoted draft got a final; the failed draft's final was never sent.
    assert "teaser[look=cold]#final" not in lock.jobs
    blocked = lock.jobs["risky#final"]
    assert blocked.status == "blocked" and blocked.kind == "final" and blocked.task_id is None
    assert blocked.error == {"code": "blocked", "message": "source risky is failed"}
    assert done.outcome.reasons["risky#final"] == "source risky is failed"
    assert len(sim.state.tasks) == 4


# ---------------------------------------------------------------- 3. cancel

THREE = """
version: 1
settings: {requests_per_second: 50}
jobs:
  - name: one
    prompt: A kite over dunes
  - name: two
    prompt: A kite over snow
  - name: three
    prompt: A kite over the sea
"""


async def test_cancel_cancels_queued_tasks_and_reports_the_running_one(
    tmp_path: Path,
    start_sim: SimStarter,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    clean_env: None,
) -> None:
    spec_path = write_spec(tmp_path, THREE)
    with trio.fail_after(20):
        async with start_sim(concurrency=1, task_seconds=(3.0, 3.0)) as sim:
            await apply_in_process(sim, spec_path, detach=True)
            assert len(sim.state.tasks) == 3
            monkeypatch.setenv("SEEDRUN_API_KEY", sim.api_key)
            monkeypatch.setenv("SEEDRUN_BASE_URL", sim.base_url)
            capsys.readouterr()
            # main() calls trio.run itself: give it a thread of its own.
            code = await trio.to_thread.run_sync(main, ["cancel", str(spec_path)])
            out = capsys.readouterr().out
            now = sim.state.now()
            status = {t.id: t.status_at(now) for t in sim.state.tasks.values()}
            lock = lock_on_disk(spec_path)
            actions = plan_actions(spec_path, capsys)
    assert code == 1  # one task could not be cancelled
    assert sorted(status.values()) == ["cancelled", "cancelled", "running"]
    by_job = {job_id: e.task_id for job_id, e in lock.jobs.items()}
    assert set(by_job) == {"one", "two", "three"}  # nothing dropped
    running = next(j for j, t in by_job.items() if t is not None and status[t] == "running")
    for job_id, task_id in by_job.items():
        entry = lock.jobs[job_id]
        if job_id == running:
            assert entry.status == "running"
            assert (
                f"{job_id}: task {task_id} is running and cannot be cancelled "
                "(only queued tasks can be)"
            ) in out
            assert actions[job_id] == "resume"
        else:
            assert entry.status == "cancelled" and status[str(task_id)] == "cancelled"
            assert entry.error == {"code": "cancelled", "message": "cancelled with seedrun cancel"}
            assert f"cancelled {job_id} (task {task_id})" in out
            assert actions[job_id] == "retry"
    assert sim.state.cancels == 3


# ---------------------------------------------------------------- 4. detach, then collect


async def test_detach_exits_zero_and_says_how_to_collect(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(tmp_path, THREE)
    with trio.fail_after(30):
        async with start_sim(task_seconds=(1.0, 1.5)) as sim:
            ran = await run_cli(
                "apply", str(spec_path), "--detach", *CLI_OPTIONS, env=cli_env(sim), cwd=tmp_path
            )
            assert ran.code == 0, ran.output
            assert f"submitted; collect the videos later with: seedrun apply {spec_path}" in (
                ran.stdout
            )
            detached = lock_on_disk(spec_path)
            assert set(detached.jobs) == {"one", "two", "three"}
            for entry in detached.jobs.values():
                assert entry.status in ("queued", "running") and entry.task_id in sim.state.tasks
            assert not (tmp_path / "outputs").exists()
            creates = sim.state.creates
            collected = await apply_in_process(sim, spec_path)
    assert collected.stats.creates == 0 and sim.state.creates == creates == 3
    assert collected.outcome.status == dict.fromkeys(("one", "two", "three"), "succeeded")
    for job_id, entry in lock_on_disk(spec_path).jobs.items():
        assert entry.task_id == detached.jobs[job_id].task_id
        assert entry.output is not None
        assert entry.output.sha256 == sha256_of(tmp_path / entry.output.path)


# ---------------------------------------------------------------- 5. batch polling


def _many(n: int) -> str:
    jobs = "".join(f"\n  - name: take{i}\n    prompt: Take {i} of a paper boat" for i in range(n))
    return f"version: 1\nsettings: {{requests_per_second: 50}}\njobs:{jobs}\n"


@pytest.mark.parametrize("list_endpoint", [True, False])
async def test_batch_polling_with_the_list_endpoint_and_the_get_fallback(
    list_endpoint: bool, tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(tmp_path, _many(6))
    with trio.fail_after(20):
        async with start_sim(list_endpoint=list_endpoint) as sim:
            done = await apply_in_process(sim, spec_path)
    assert set(done.outcome.status.values()) == {"succeeded"} and len(done.outcome.status) == 6
    list_calls = [
        r for r in sim.state.requests if r["method"] == "GET" and r["path"].endswith("/tasks")
    ]
    if list_endpoint:
        assert sim.state.lists > 0 and done.stats.lists == sim.state.lists
        assert sim.state.gets == 0  # every task in flight was in each sweep's answer
    else:
        assert [r["status"] for r in list_calls] == [404]  # probed once, then never again
        assert sim.state.lists == 0
        assert sim.state.gets >= 6


# ---------------------------------------------------------------- 6. budget


def _same_shape(names: list[str]) -> str:
    jobs = "".join(f"\n  - name: {n}\n    prompt: A paper boat, take {n}" for n in names)
    return (
        "version: 1\nsettings: {requests_per_second: 50}\n"
        f'defaults: {{duration: 5, ratio: "16:9"}}\njobs:{jobs}\n'
    )


async def test_budget_stops_creating_then_a_later_apply_finishes(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(tmp_path, _same_shape(["a", "b"]))
    new = ["c", "d", "e", "f"]
    with trio.fail_after(30):
        async with start_sim() as sim:
            first = await apply_in_process(sim, spec_path)
            assert set(first.outcome.status.values()) == {"succeeded"}
            recorded = lock_on_disk(spec_path)
            usage = [dict(e.usage or {}).get("total_tokens") for e in recorded.jobs.values()]
            assert usage[0] is not None and usage == [usage[0]] * 2
            per_task = usage[0]
            # Already spent: two tasks. Room for two more, not three.
            budget = 4 * per_task + per_task // 2
            write_spec(tmp_path, _same_shape(["a", "b", *new]))
            creates = sim.state.creates
            ran = await run_cli(
                "apply",
                str(spec_path),
                "--budget",
                str(budget),
                *CLI_OPTIONS,
                env=cli_env(sim),
                cwd=tmp_path,
            )
            assert ran.code == 1, ran.output
            assert sim.state.creates - creates == 2
            budgeted = lock_on_disk(spec_path)
            made = sorted(j for j in new if j in budgeted.jobs)
            undone = sorted(set(new) - set(made))
            assert len(made) == 2
            for job_id in undone:
                assert f"pending   {job_id}  budget reached; not created" in ran.stdout
            assert f"2 job(s) not finished; run again: seedrun apply {spec_path}" in ran.stdout
            for job_id in ("a", "b"):
                assert budgeted.jobs[job_id] == recorded.jobs[job_id]
            for job_id in made:
                assert budgeted.jobs[job_id].status == "succeeded"

            rest = await apply_in_process(sim, spec_path)
    assert rest.stats.creates == 2
    assert set(rest.outcome.status.values()) == {"succeeded"} and len(rest.outcome.status) == 6
    final = lock_on_disk(spec_path)
    for job_id in ("a", "b", *made):
        assert final.jobs[job_id] == budgeted.jobs[job_id]


# ---------------------------------------------------------------- 7. extra: pass-through


async def test_extra_fields_reach_the_server_in_each_flavour(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(
        tmp_path,
        """
        version: 1
        settings: {requests_per_second: 50}
        defaults:
          extra: {callback_url: "https://hooks.example.com/done"}
        jobs:
          - name: official
            prompt: A paper boat on a stream
            extra: {priority_hint: 3}
          - name: unified
            api: unified
            prompt: A paper boat on a lake
            extra: {priority_hint: 4}
        """,
    )
    with trio.fail_after(20):
        async with start_sim() as sim:
            done = await apply_in_process(sim, spec_path)
    assert set(done.outcome.status.values()) == {"succeeded"}
    lock = lock_on_disk(spec_path)
    official = body_of(sim, lock, "official")
    assert official["callback_url"] == "https://hooks.example.com/done"
    assert official["priority_hint"] == 3
    assert "metadata" not in official
    unified = body_of(sim, lock, "unified")
    assert unified["metadata"] == {
        "callback_url": "https://hooks.example.com/done",
        "priority_hint": 4,
    }
    assert "callback_url" not in unified and "priority_hint" not in unified
    assert dict(lock.jobs["unified"].request or {}) == unified


# ---------------------------------------------------------------- 8. a gateway lacking a feature


async def test_a_gateway_without_drafts_fails_that_job_only(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(
        tmp_path,
        """
        version: 1
        settings: {requests_per_second: 50}
        jobs:
          - name: sketch
            prompt: A rough sketch of a harbour
            draft: true
          - name: harbour
            prompt: A harbour at noon
          - name: harbour-uni
            api: unified
            prompt: A harbour at night
        """,
    )
    message = "unknown parameter: draft is not supported by this endpoint"
    with trio.fail_after(30):
        async with start_sim(unsupported_params=("draft",)) as sim:
            ran = await run_cli(
                "apply", str(spec_path), *CLI_OPTIONS, env=cli_env(sim), cwd=tmp_path
            )
    assert ran.code == 1, ran.output
    lock = lock_on_disk(spec_path)
    sketch = lock.jobs["sketch"]
    assert sketch.status == "failed" and sketch.task_id is None
    assert sketch.error is not None and sketch.error["code"] == "invalid_request"
    assert message in sketch.error["message"]
    assert f"failed    sketch  create rejected (HTTP 400): {message}" in ran.stdout
    assert lock.jobs["harbour"].status == lock.jobs["harbour-uni"].status == "succeeded"
    assert sim.state.creates == 3  # a 400 is not retried
    assert len(sim.state.tasks) == 2


async def test_a_gateway_without_last_frames_fails_the_source_and_blocks_the_chain(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(
        tmp_path,
        """
        version: 1
        settings: {requests_per_second: 50}
        jobs:
          - name: open
            prompt: A door opens
          - name: walk
            prompt: "Continue from image 1 into the garden."
            media:
              - {from: open, frame: last, role: first_frame}
          - name: alone
            prompt: A garden gate
        """,
    )
    with trio.fail_after(20):
        async with start_sim(unsupported_params=("return_last_frame",)) as sim:
            done = await apply_in_process(sim, spec_path)
    assert done.outcome.status == {"open": "failed", "walk": "blocked", "alone": "succeeded"}
    assert "return_last_frame" in done.outcome.reasons["open"]
    assert done.outcome.reasons["walk"] == "source open is failed"
    assert len(sim.state.tasks) == 1


# ---------------------------------------------------------------- 9. --replace --keep-seed


async def test_replace_with_keep_seed_sends_the_recorded_seed(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(
        tmp_path,
        """
        version: 1
        settings: {requests_per_second: 50}
        jobs:
          - name: still
            prompt: A still life with pears
          - name: still-uni
            api: unified
            prompt: A still life with plums
          - name: other
            prompt: A still life with apples
        """,
    )
    with trio.fail_after(20):
        async with start_sim() as sim:
            await apply_in_process(sim, spec_path)
            first = lock_on_disk(spec_path)
            seed = first.jobs["still"].seed
            # None was sent: the server chose it.
            assert "seed" not in body_of(sim, first, "still") and isinstance(seed, int)
            # The unified answer reports no seed, so there is none to keep for it.
            assert first.jobs["still-uni"].seed is None
            again = await apply_in_process(sim, spec_path, replace=("still*",), keep_seed=True)
    assert again.stats.creates == 2
    second = lock_on_disk(spec_path)
    assert second.jobs["other"] == first.jobs["other"]
    for job_id in ("still", "still-uni"):
        assert second.jobs[job_id].task_id != first.jobs[job_id].task_id
    assert body_of(sim, second, "still")["seed"] == seed
    assert second.jobs["still"].seed == seed
    assert "seed" not in body_of(sim, second, "still-uni").get("metadata", {})


# ---------------------------------------------------------------- 10. retention, 404


async def test_tasks_past_retention_or_unknown_to_the_server_become_unknown(
    tmp_path: Path, start_sim: SimStarter, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_path = write_spec(tmp_path, THREE)
    lock_path = spec_path.with_suffix(".lock")
    with trio.fail_after(30):
        async with start_sim() as sim:
            await apply_in_process(sim, spec_path, detach=True)
            detached = lock_on_disk(spec_path)
            old_task = detached.jobs["one"].task_id
            assert old_task is not None
            eight_days_ago = int(time.time()) - 8 * 86400
            lost_task = "task_0000000000000000"
            assert lost_task not in sim.state.tasks
            edited = detached.with_job(
                "one", detached.jobs["one"].with_(created_at=eight_days_ago)
            ).with_job("two", detached.jobs["two"].with_(task_id=lost_task))
            write_lock(lock_path, edited)
            seen = len(sim.state.requests)

            # A 404 is asked again for a while (read-after-write lag); here, briefly.
            done = await apply_in_process(sim, spec_path, not_found_patience=0.5)
            assert done.stats.creates == 0
            # The task past retention was not asked about, in a GET or a list.
            later = sim.state.requests[seen:]
            assert not [r for r in later if old_task in r["path"] + r["query"]]
            assert done.outcome.status == {"one": "unknown", "two": "unknown", "three": "succeeded"}
            assert done.outcome.reasons["one"] == (
                f"task {old_task} cannot be read (older than the 7-day retention); if the "
                "provider's console has no such task, --resubmit-unknown creates it again"
            )
            assert done.outcome.reasons["two"] == (
                f"task {lost_task} cannot be read (GET answered 404); the next apply "
                "checks it again; if the provider's console has no such task, "
                "--resubmit-unknown creates it again"
            )
            gone = lock_on_disk(spec_path)
            for job_id, code in (("one", "past_retention"), ("two", "task_gone")):
                assert gone.jobs[job_id].status == "unknown"
                assert gone.jobs[job_id].error == {
                    "code": code,
                    "message": done.outcome.reasons[job_id],
                }
            # A 404 is looked at again; a task past retention cannot be.
            assert plan_actions(spec_path, capsys) == {
                "one": "unknown",
                "two": "resume",
                "three": "unchanged",
            }
            # Without the flag, seedrun never creates them again on its own.
            stays = await apply_in_process(sim, spec_path, not_found_patience=0.5)
            assert stays.stats.creates == 0
            assert stays.outcome.status["two"] == "unknown"  # asked again, still 404
            resubmitted = await apply_in_process(sim, spec_path, resubmit_unknown=True)
    assert resubmitted.stats.creates == 2
    assert set(resubmitted.outcome.status.values()) == {"succeeded"}
    final = lock_on_disk(spec_path)
    assert final.jobs["one"].task_id not in (old_task, None)
    assert final.jobs["two"].task_id not in (lost_task, None)
    assert final.jobs["three"] == gone.jobs["three"]


# ---------------------------------------------------------------- detach with chains, budget


async def test_detach_leaves_dependents_of_sources_in_flight_pending_not_blocked(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(
        tmp_path,
        """
        version: 1
        settings: {requests_per_second: 50}
        jobs:
          - name: open
            prompt: A door opens
          - name: walk
            prompt: "Continue from image 1 into the garden."
            media:
              - {from: open, frame: last, role: first_frame}
          - name: sketch
            prompt: A rough sketch of the garden
            draft: true
        promote: [sketch]
        """,
    )
    with trio.fail_after(20):
        async with start_sim(task_seconds=(0.4, 0.6)) as sim:
            detached = await apply_in_process(sim, spec_path, detach=True)
            assert len(sim.state.tasks) == 2
            lock = lock_on_disk(spec_path)
            # Sources in flight: their dependents wait, they are not blocked.
            assert sorted(lock.jobs) == ["open", "sketch"]
            for job_id, source in (("walk", "open"), ("sketch#final", "sketch")):
                assert detached.outcome.status[job_id] == "pending"
                assert source in detached.outcome.reasons[job_id]
            collected = await apply_in_process(sim, spec_path)
    assert collected.stats.creates == 2
    assert set(collected.outcome.status.values()) == {"succeeded"}


async def test_budget_counts_tasks_still_in_flight_from_a_detached_run(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(tmp_path, _same_shape(["a", "b"]))
    with trio.fail_after(30):
        async with start_sim(task_seconds=(0.5, 0.7)) as sim:
            await apply_in_process(sim, spec_path)
            usage = lock_on_disk(spec_path).jobs["a"].usage
            per_task = dict(usage or {})["total_tokens"]
            write_spec(tmp_path, _same_shape(["a", "b", "c", "d"]))
            await apply_in_process(sim, spec_path, detach=True)  # c and d in flight
            write_spec(tmp_path, _same_shape(["a", "b", "c", "d", "e", "f"]))
            # Two finished, two in flight: room for no more than half a task.
            budget = 4 * per_task + per_task // 2
            done = await apply_in_process(sim, spec_path, budget_tokens=budget)
    assert done.stats.creates == 0
    assert sorted(done.outcome.undone) == ["e", "f"]
    assert {j: done.outcome.status[j] for j in "abcd"} == dict.fromkeys("abcd", "succeeded")


async def test_a_second_detach_does_not_wait_for_tasks_still_in_flight(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(tmp_path, _same_shape(["a"]))
    with trio.fail_after(20):
        async with start_sim(task_seconds=(4.0, 4.0)) as sim:
            await apply_in_process(sim, spec_path, detach=True)
            write_spec(tmp_path, _same_shape(["a", "b"]))
            started = trio.current_time()
            again = await apply_in_process(sim, spec_path, detach=True)
            took = trio.current_time() - started
            lock = lock_on_disk(spec_path)
    assert took < 2.0, f"the second --detach waited {took:.1f} s for a task in flight"
    assert again.stats.creates == 1 and len(sim.state.tasks) == 2
    assert {e.status for e in lock.jobs.values()} <= {"queued", "running"}


async def test_budget_on_a_fresh_campaign_sends_one_probe_per_shape_first(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    # No usage recorded anywhere: an unknown estimate must not count as free.
    spec_path = write_spec(tmp_path, _same_shape(["a", "b", "c", "d"]))
    with trio.fail_after(30):
        async with start_sim() as sim:
            run = await apply_in_process(sim, spec_path, budget_tokens=1)
    # The probe goes out and teaches the estimate; nothing else fits in 1 token.
    assert run.stats.creates == 1
    assert sorted(run.outcome.undone) == sorted(
        set("abcd") - {j for j, s in run.outcome.status.items() if s == "succeeded"}
    )
    assert len(run.outcome.undone) == 3


async def test_detach_exit_code_counts_blocked_jobs(tmp_path: Path, start_sim: SimStarter) -> None:
    spec_path = write_spec(
        tmp_path,
        """
version: 1
assets:
  face: {url: "https://cdn.example.com/reject-face.png", moderate: true}
jobs:
  - name: hero
    prompt: Use image 1.
    media: [{asset: face, role: reference_image}]
  - name: plain
    prompt: A quiet lake.
""",
    )
    with trio.fail_after(30):
        async with start_sim() as sim:
            ran = await run_cli(
                "apply", str(spec_path), "--detach", *CLI_OPTIONS, env=cli_env(sim), cwd=tmp_path
            )
    assert ran.code == 1, ran.output
    assert lock_on_disk(spec_path).jobs["hero"].status == "blocked"
