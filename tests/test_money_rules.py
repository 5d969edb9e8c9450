"""Money rules that a planted bug once slipped past: each test here fails when
its rule is broken (a deadline recorded as failed, a create retried after 408,
an include that takes ``true`` for ``1``, a budget that fits exactly, a
``last_frame`` change that ``diff`` hides)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import trio
from conftest import SimStarter, apply_in_process, write_spec

from seedrun import plan as planner
from seedrun.budget import Budget
from seedrun.client import SeedanceClient
from seedrun.diff import diff_locks
from seedrun.errors import CreateUnknown
from seedrun.lockfile import FileRef, Lock, LockEntry
from seedrun.matrix import expand
from seedrun.spec import load_spec

SPEC = """
version: 1
jobs:
  - name: slow
    prompt: "A glacier, slowly"
"""


async def test_a_task_past_its_deadline_is_unknown_never_failed(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec = write_spec(tmp_path, SPEC)
    with trio.fail_after(30):
        async with start_sim(task_seconds=(30, 30)) as sim:
            done = await apply_in_process(sim, spec, task_timeout=0.5)
            assert sim.state.creates == 1
    entry = done.lock.jobs["slow"]
    # `failed` would let the next apply pay for it again; `unknown` keeps its task id.
    assert entry.status == "unknown"
    assert entry.task_id and entry.error and entry.error["code"] == "timeout"
    items = planner.plan(done.spec.jobs, done.lock)
    assert [(i.action, i.reason) for i in items] == [
        ("resume", f"task {entry.task_id} outlived its deadline; it may still finish")
    ]


async def test_a_create_answered_408_is_never_sent_again() -> None:
    """A 408 may come after the server made the task: unknown, one request only."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(408, json={"error": {"message": "request timeout"}})

    with trio.fail_after(10):
        async with SeedanceClient(
            base_url="https://api.example", api_key="k", transport=httpx.MockTransport(handler)
        ) as client:
            with pytest.raises(CreateUnknown):
                await client.create("official", {"model": "m", "content": []})
    assert len(seen) == 1


def test_include_never_takes_true_for_1() -> None:
    combos = expand({"flag": [True, 1], "include": [{"flag": 1, "note": "one"}]})
    assert combos == [{"flag": True}, {"flag": 1, "note": "one"}]


async def test_a_budget_that_fits_exactly_allows_the_job() -> None:
    spec = load_spec(
        "version: 1\njobs:\n  - name: a\n    prompt: p\n  - name: b\n    prompt: p2\n", "s.yaml"
    )
    a, b = spec.jobs
    done = LockEntry(
        key=a.key, status="succeeded", request=a.body, task_id="t1",
        usage={"total_tokens": 100},
    )
    lock = Lock(jobs={"a": done})
    # 100 spent + 100 estimated (the same shape's history) == the limit: it fits.
    assert await Budget(200, lock).allows(b) is True
    assert await Budget(199, lock).allows(b) is False


def test_diff_shows_a_last_frame_change() -> None:
    frame = FileRef("outputs/a.last.png", "1" * 64, 10)
    old = LockEntry(key="a" * 64, status="succeeded", task_id="t", last_frame=frame)
    new = old.with_(last_frame=FileRef("outputs/a.last.png", "2" * 64, 11))
    changes = diff_locks(Lock(jobs={"a": old}), Lock(jobs={"a": new})).changes
    assert [(c.id, c.change, sorted(c.fields)) for c in changes] == [
        ("a", "output", ["last_frame"])
    ]
