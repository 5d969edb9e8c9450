"""apply against a misbehaving simulator: 429 storms, 5xx around creates, GET 503s,
truncated downloads and expired URLs. Real sockets, real clock, short tasks."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from conftest import (
    SimStarter,
    apply_in_process,
    create_posts,
    prompt_of,
    sent_bodies,
    sha256_of,
    tasks_per_prompt,
    write_spec,
)

from seedrun.lockfile import Lock
from seedrun.plan import plan
from seedrun.sim import media


def _spec(folder: Path, n: int, *, rps: float = 50.0) -> Path:
    """``n`` text-only jobs, alternating official and unified, each prompt unique."""
    jobs = "".join(
        f"""
  - name: shot{i}
    api: {"official" if i % 2 == 0 else "unified"}
    prompt: "Shot number {i} of a lighthouse"
"""
        for i in range(n)
    )
    text = f"version: 1\nsettings:\n  requests_per_second: {rps}\njobs:{jobs}"
    return write_spec(folder, text)


def _prompt(i: int) -> str:
    return f"Shot number {i} of a lighthouse"


def _assert_downloads_match(folder: Path, lock: Lock) -> None:
    """Every job's file is on disk, is what the lockfile says, and is the task's video."""
    for entry in lock.jobs.values():
        assert entry.output is not None and entry.task_id is not None
        data = (folder / entry.output.path).read_bytes()
        assert entry.output.sha256 == sha256_of(folder / entry.output.path)
        assert entry.output.bytes == len(data)
        assert data == media.video_bytes(entry.task_id)


async def test_429_storm_every_job_still_succeeds_once(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    n = 6
    spec_path = _spec(tmp_path, n, rps=50.0)  # we send far faster than the server allows
    with trio.fail_after(45):
        async with start_sim(rate_limit_rps=4.0) as sim:
            done = await apply_in_process(sim, spec_path)
    assert sim.state.rate_limited > 0
    assert done.stats.rate_limited > 0
    # Creates themselves met 429s, and were retried: a 429 certainly created nothing.
    assert any(r["method"] == "POST" and r["status"] == 429 for r in sim.state.requests)
    assert done.outcome.status == {f"shot{i}": "succeeded" for i in range(n)}
    assert tasks_per_prompt(sim) == {_prompt(i): 1 for i in range(n)}
    _assert_downloads_match(tmp_path, done.lock)


async def test_500_on_create_is_unknown_and_never_resubmitted(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    """A 500 answer to a create: the client cannot tell 'before' from 'after', so every
    such job is ``unknown``; none is sent twice; where the server did create the task,
    that task is simply never followed (the user must decide)."""
    n = 10
    spec_path = _spec(tmp_path, n)
    with trio.fail_after(30):
        async with start_sim(seed=3, error_rate_before=0.3, error_rate_after=0.3) as sim:
            first = await apply_in_process(sim, spec_path)
            posts = create_posts(sim)
            failed_posts = [
                r for r in sim.state.requests if r["method"] == "POST" and r["status"] == 500
            ]
            # Without --resubmit-unknown a second apply sends no create at all.
            again = await apply_in_process(sim, spec_path)
            assert create_posts(sim) == posts
            assert again.outcome.status == first.outcome.status
    status = first.outcome.status
    unknown = {j for j, s in status.items() if s == "unknown"}
    succeeded = {j for j, s in status.items() if s == "succeeded"}
    assert unknown | succeeded == set(status)
    # The seed gives a mix, so both paths are exercised.
    assert unknown and succeeded
    assert posts == n  # exactly one create request per job: no create is ever retried
    assert len(failed_posts) == len(unknown)
    created = tasks_per_prompt(sim)
    assert all(c == 1 for c in created.values())
    # The server created a task for some unknown jobs (500 after create), not for others.
    assert len(created) == len(succeeded) + sum(_prompt(int(j[4:])) in created for j in unknown)
    assert len(created) > len(succeeded)
    assert len(created) < n
    for job_id in unknown:
        entry = first.lock.jobs[job_id]
        assert entry.status == "unknown" and entry.task_id is None
        assert entry.error is not None and entry.error["code"] == "create_unknown"
        assert "HTTP 500" in entry.error["message"]
        assert entry.request is not None  # what was sent is kept for the user to check
    # Tasks the server made behind a 500 are never polled: the runner does not know them.
    hidden = {
        t.id for t in sim.state.tasks.values() if f"shot{prompt_of(t.body).split()[2]}" in unknown
    }
    polled = {r["path"].rsplit("/", 1)[-1] for r in sim.state.requests if r["method"] == "GET"}
    assert hidden and not hidden & polled
    for item in plan(first.spec.jobs, first.lock):
        assert (item.action == "unknown") == (item.id in unknown)


async def test_resubmit_unknown_creates_exactly_the_unknown_jobs(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    n = 4
    spec_path = _spec(tmp_path, n)
    with trio.fail_after(30):
        async with start_sim(error_rate_after=1.0) as broken:
            first = await apply_in_process(broken, spec_path)
        assert set(first.outcome.status.values()) == {"unknown"}
        assert tasks_per_prompt(broken) == {_prompt(i): 1 for i in range(n)}
        async with start_sim() as healthy:
            second = await apply_in_process(healthy, spec_path, resubmit_unknown=True)
    assert second.outcome.status == {f"shot{i}": "succeeded" for i in range(n)}
    assert tasks_per_prompt(healthy) == {_prompt(i): 1 for i in range(n)}
    _assert_downloads_match(tmp_path, second.lock)


@pytest.mark.parametrize("list_endpoint", [True, False])
async def test_get_503s_are_retried(
    tmp_path: Path, start_sim: SimStarter, list_endpoint: bool
) -> None:
    n = 6
    spec_path = _spec(tmp_path, n)
    with trio.fail_after(30):
        async with start_sim(get_error_rate=0.25, list_endpoint=list_endpoint, seed=6) as sim:
            done = await apply_in_process(sim, spec_path)
    unavailable = [r for r in sim.state.requests if r["status"] == 503]
    assert unavailable, "the simulator injected no 503"
    assert done.stats.retries >= len(unavailable)
    assert done.outcome.status == {f"shot{i}": "succeeded" for i in range(n)}
    assert done.outcome.undone == []
    assert tasks_per_prompt(sim) == {_prompt(i): 1 for i in range(n)}
    _assert_downloads_match(tmp_path, done.lock)


async def test_truncated_downloads_are_retried_whole(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    n = 4
    spec_path = _spec(tmp_path, n)
    with trio.fail_after(30):
        async with start_sim(truncate_rate=1.0) as sim:
            done = await apply_in_process(sim, spec_path)
    assert sim.state.truncated == n
    assert done.outcome.status == {f"shot{i}": "succeeded" for i in range(n)}
    _assert_downloads_match(tmp_path, done.lock)
    leftovers = [p.name for p in (tmp_path / "outputs").iterdir() if p.suffix != ".mp4"]
    assert leftovers == []  # no partial files left behind


async def test_expired_urls_are_refreshed_by_a_later_apply(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    n = 3
    spec_path = _spec(tmp_path, n)
    ttl = 0.5
    with trio.fail_after(30):
        async with start_sim(url_ttl=ttl) as sim:
            first = await apply_in_process(sim, spec_path, download=False)
            stale = {j: e.video_url for j, e in first.lock.jobs.items()}
            assert all(stale.values())
            await trio.sleep(ttl + 0.3)
            second = await apply_in_process(sim, spec_path)
    files = [r for r in sim.state.requests if r["origin"] == "files"]
    assert sorted(r["status"] for r in files) == [200] * n + [403] * n
    assert second.stats.creates == 0 and len(sim.state.tasks) == n
    assert second.outcome.status == {f"shot{i}": "succeeded" for i in range(n)}
    for job_id, entry in second.lock.jobs.items():
        assert entry.video_url != stale[job_id]  # the fresh URL is what the lock keeps
    _assert_downloads_match(tmp_path, second.lock)
    assert len(sent_bodies(sim)) == n


async def test_create_that_never_connected_is_retried_then_failed_not_unknown(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    """Connection refused: the request never reached a server, so retrying is safe and
    the job is certainly not created (failed, retried by the next apply)."""
    spec_path = _spec(tmp_path, 2)
    with trio.fail_after(30):
        async with start_sim() as sim:
            pass  # bound, answered, closed: its port now refuses connections
        done = await apply_in_process(sim, spec_path)
    assert done.stats.retries >= 2 * 5  # each create tried 1 + max_retries times
    assert done.outcome.status == {"shot0": "failed", "shot1": "failed"}
    for entry in done.lock.jobs.values():
        assert entry.status == "failed" and entry.task_id is None
        assert entry.error is not None and "ConnectError" in entry.error["message"]
    assert [i.action for i in plan(done.spec.jobs, done.lock)] == ["retry", "retry"]
