"""Merging lockfiles: the rules, ``seedrun lock merge``, and sharded runs merged back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import POLL_FLOOR, SimStarter, write_spec
from lockfactory import commit_all, entry, file_ref, git, key, make_repo, seedrun, write

from seedrun.client import SeedanceClient
from seedrun.errors import LockError
from seedrun.files import read_lock
from seedrun.lockfile import AssetEntry, Lock, dumps, loads
from seedrun.merge import RANK, MergeConflict, Source, merge_locks
from seedrun.pacer import Pacer
from seedrun.runner import Runner, RunOptions
from seedrun.shard import in_shard
from seedrun.spec import load_spec
from seedrun.store import Journal, journal_path, write_lock

OUT = file_ref("outputs/a.mp4", b"a")
URL = "https://cdn.example.com/bottle.png"


def merge(*locks: Lock, base: Lock | None = None) -> Lock:
    return merge_locks([Source(f"{i + 1}.lock", lk) for i, lk in enumerate(locks)], base)


def conflict(*locks: Lock, base: Lock | None = None) -> str:
    with pytest.raises(MergeConflict) as exc:
        merge(*locks, base=base)
    return str(exc.value)


def one(job_id: str, **kw: Any) -> Lock:
    return Lock({}, {job_id: entry(job_id, **kw)})


# ---------------------------------------------------------------- rules


def test_disjoint_and_identical_entries_union() -> None:
    a = Lock({}, {"a": entry("a"), "b": entry("b", "failed")})
    b = Lock({}, {"b": entry("b", "failed"), "c": entry("c", "queued")})
    assert merge(a, b) == Lock(
        {}, {"a": entry("a"), "b": entry("b", "failed"), "c": entry("c", "queued")}
    )
    assert merge(a) == a
    assert merge() == Lock()


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ("queued", "running"),
        ("running", "succeeded"),
        ("queued", "succeeded"),
        ("running", "failed"),
        ("running", "cancelled"),
        ("failed", "succeeded"),
        ("unknown", "queued"),
        ("blocked", "unknown"),
    ],
)
def test_the_more_advanced_state_of_one_task_wins(earlier: str, later: str) -> None:
    a, b = one("a", status=earlier), one("a", status=later)
    assert merge(a, b) == b
    assert merge(b, a) == b


def test_rank_is_the_documented_order() -> None:
    order = sorted(RANK, key=lambda s: RANK[s])
    assert order == ["blocked", "unknown", "queued", "running", "failed", "cancelled", "succeeded"]
    assert RANK["failed"] == RANK["cancelled"]


def test_an_entry_without_a_task_yet_is_an_earlier_state() -> None:
    unknown = Lock({}, {"a": entry("a", "unknown")})  # no task id: the create's fate unknown
    queued = one("a", status="queued")
    assert merge(unknown, queued) == queued


def test_same_status_the_downloaded_one_wins_then_the_later_update() -> None:
    plain = one("a", video_url="https://files.example.com/a.mp4")
    downloaded = one("a", video_url="https://files.example.com/a.mp4", output=OUT)
    assert merge(downloaded, plain) == downloaded
    old, new = one("a", status="running", updated_at=5), one("a", status="running", updated_at=9)
    assert merge(new, old) == new


def test_different_keys_conflict() -> None:
    a = Lock({}, {"a": entry("a"), "b": entry("b")})
    b = Lock({}, {"a": entry("a", key=key("other")), "b": entry("b")})
    assert conflict(a, b) == (
        "cannot merge: 1 conflict: job a (different requests: 1.lock has key "
        f"{key('a')[:12]}, 2.lock {key('other')[:12]})"
    )


def test_different_task_ids_conflict_and_every_job_is_named() -> None:
    a = Lock({}, {"x": entry("x"), "y": entry("y", "failed"), "z": entry("z")})
    b = Lock({}, {"x": entry("x", task_id="t-2"), "y": entry("y", "cancelled"), "z": entry("z")})
    assert conflict(a, b) == (
        "cannot merge: 2 conflicts: job x (different tasks: 1.lock has t-x, 2.lock t-2); "
        "job y (1.lock and 2.lock differ for the same task, neither more advanced (failed))"
    )


def test_a_conflict_is_a_lock_error() -> None:
    assert issubclass(MergeConflict, LockError)


def test_assets_union_and_conflict() -> None:
    ok1 = Lock({URL: AssetEntry(True, "asset://asset-b")}, {})
    ok2 = Lock({URL: AssetEntry(True, "asset://asset-a")}, {})
    other = Lock({"https://x.example/1.png": AssetEntry(False, None, "nsfw")}, {})
    merged = merge(ok1, ok2, other)
    # Two approvals of one URL are both valid: the smaller id, whatever the order.
    assert merged.assets == {
        URL: AssetEntry(True, "asset://asset-a"),
        "https://x.example/1.png": AssetEntry(False, None, "nsfw"),
    }
    assert merge(ok2, ok1, other) == merged
    rejected = Lock({URL: AssetEntry(False, None, "rejected")}, {})
    assert conflict(ok1, rejected) == (
        f"cannot merge: 1 conflict: asset {URL} (passed moderation in 1.lock, failed in 2.lock)"
    )


# ---------------------------------------------------------------- three-way, with a base


def test_with_a_base_untouched_inputs_do_not_vote() -> None:
    base = Lock({}, {"a": entry("a", "queued"), "b": entry("b"), "c": entry("c")})
    shard1 = Lock({}, {**base.jobs, "a": entry("a")})  # a finished here
    shard2 = Lock({}, {**base.jobs, "b": entry("b2", "queued")})  # b's request changed
    merged = merge(shard1, shard2, base=base)
    assert merged.jobs == {"a": entry("a"), "b": entry("b2", "queued"), "c": entry("c")}
    # Without the base, b's old entry in shard 1 is another request: a conflict.
    assert conflict(shard1, shard2).startswith("cannot merge: 1 conflict: job b (different")


def test_with_a_base_removal() -> None:
    base = Lock({}, {"a": entry("a"), "b": entry("b")})
    pruned = Lock({}, {"b": entry("b")})
    assert merge(pruned, base, base=base) == pruned
    changed = Lock({}, {"a": entry("a", task_id="t-new"), "b": entry("b")})
    assert conflict(pruned, changed, base=base) == (
        "cannot merge: 1 conflict: job a (removed in 1.lock, changed in 2.lock)"
    )


def test_with_a_base_both_changed_alike() -> None:
    base = one("a", status="queued")
    assert merge(one("a"), one("a", status="running"), base=base) == one("a")


# ---------------------------------------------------------------- the command


def test_cli_merge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(
        tmp_path / "shard-1.lock", Lock({URL: AssetEntry(True, "asset://1")}, {"a": entry("a")})
    )
    b = write(tmp_path / "shard-2.lock", one("b", status="failed"))
    out = tmp_path / "out" / "jobs.lock"
    assert seedrun("lock", "merge", a, b, "-o", out) == 0
    assert capsys.readouterr().err == f"merged 2 lockfiles into {out}: 2 jobs, 1 asset\n"
    expected = Lock(
        {URL: AssetEntry(True, "asset://1")}, {"a": entry("a"), "b": entry("b", "failed")}
    )
    assert out.read_text() == dumps(expected)


def test_cli_merge_with_base_and_rev_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path / "repo")
    base = Lock({}, {"a": entry("a", "queued"), "b": entry("b")})
    write(repo / "jobs.lock", base)
    commit_all(repo, "base")
    write(repo / "shard-1.lock", Lock({}, {**base.jobs, "a": entry("a")}))
    write(repo / "shard-2.lock", Lock({}, {**base.jobs, "b": entry("b2", "queued")}))
    monkeypatch.chdir(repo)
    argv = ("lock", "merge", "shard-1.lock", "shard-2.lock", "-o", "jobs.lock")
    assert seedrun(*argv, "--base", "HEAD:jobs.lock") == 0
    assert loads(Path("jobs.lock").read_text(), "jobs.lock").jobs == {
        "a": entry("a"),
        "b": entry("b2", "queued"),
    }
    assert git(repo, "status", "--short", "jobs.lock") == " M jobs.lock\n"
    capsys.readouterr()
    assert seedrun("lock", "merge", "HEAD:jobs.lock", "shard-1.lock", "-o", "x.lock") == 0
    assert loads(Path("x.lock").read_text(), "x.lock").jobs["a"] == entry("a")


def test_cli_merge_conflict_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write(tmp_path / "a.lock", one("spin"))
    b = write(tmp_path / "b.lock", one("spin", task_id="t-other"))
    out = tmp_path / "jobs.lock"
    assert seedrun("lock", "merge", a, b, "-o", out) == 2
    assert capsys.readouterr().err == (
        f"seedrun: cannot merge: 1 conflict: job spin (different tasks: {a} has t-spin, "
        f"{b} t-other)\n"
    )
    assert not out.exists()


def test_cli_merge_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path / "a.lock", one("a"))
    missing = tmp_path / "missing.lock"
    assert seedrun("lock", "merge", a, missing, "-o", tmp_path / "o.lock") == 2
    assert capsys.readouterr().err == f"seedrun: {missing}: lockfile not found\n"
    bad = tmp_path / "bad.lock"
    bad.write_text("version: 2\n")
    assert seedrun("lock", "merge", a, bad, "-o", tmp_path / "o.lock") == 2
    assert capsys.readouterr().err.startswith(f"seedrun: {bad}:1: version: ")
    with pytest.raises(SystemExit) as exc:  # argparse: -o is required
        seedrun("lock", "merge", a)
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:  # argparse: a subcommand is required
        seedrun("lock")
    assert exc.value.code == 2
    assert not (tmp_path / "o.lock").exists()


# ---------------------------------------------------------------- sharded runs, merged


CAMPAIGN = """
version: 1
defaults:
  duration: 5
jobs:
  - name: spin
    prompt: "The bottle turns on {{{{ backdrop }}}}."
    matrix:
      backdrop: [marble, moss, sand, snow, glass]
  - name: walk
    prompt: "{walk}"
  - name: walk-on
    prompt: The walk goes on from image 1.
    media:
      - {{from: walk, role: first_frame}}
"""


async def _run_shard(sim: Any, spec_path: Path, lock_path: Path, i: int, n: int) -> list[str]:
    """What ``seedrun apply SPEC --shard I/N --lock LOCK`` is to do (the lead wires it)."""
    spec = load_spec(spec_path.read_text(), str(spec_path))
    jobs = in_shard(spec.jobs, spec.jobs, i, n)
    journal = Journal(journal_path(lock_path))
    async with SeedanceClient(
        base_url=sim.base_url, api_key=sim.api_key, pacer=Pacer(50.0), backoff_base=0.05
    ) as client:
        runner = Runner(
            spec,
            jobs,
            read_lock(lock_path),
            lock_dir=lock_path.parent.resolve(),
            outputs_dir=spec_path.parent / (spec.outputs_dir or "outputs"),
            client=client,
            journal=journal,
            options=RunOptions(poll_floor=POLL_FLOOR),
        )
        try:
            await runner.run()
        finally:
            journal.close()
            write_lock(lock_path, runner.lock)
            journal_path(lock_path).unlink(missing_ok=True)
    return [j.id for j in jobs]


async def test_sharded_runs_merge_into_one_lock(tmp_path: Path, start_sim: SimStarter) -> None:
    spec_path = write_spec(tmp_path, CAMPAIGN.format(walk="A dog walks."), "jobs.yaml")
    jobs_lock = tmp_path / "jobs.lock"
    shard_locks = [tmp_path / f"shard-{i}.lock" for i in (1, 2, 3)]
    with trio.fail_after(30):
        async with start_sim() as sim:
            ran: list[str] = []
            for i, lock in enumerate(shard_locks, 1):  # each CI shard starts from jobs.lock
                ran += await _run_shard(sim, spec_path, lock, i, 3)
            assert sorted(ran) == sorted(j.id for j in load_spec(spec_path.read_text(), "x").jobs)
            assert seedrun("lock", "merge", *shard_locks, "-o", jobs_lock) == 0
            merged = loads(jobs_lock.read_text(), "jobs.lock")
            assert {j: e.status for j, e in merged.jobs.items()} == dict.fromkeys(ran, "succeeded")
            assert len(sim.state.tasks) == 7  # every job made once, on one shard

            # The next push changes one prompt: one shard makes one task, the rest nothing.
            spec_path.write_text(spec_path.read_text().replace("A dog walks.", "A cat walks."))
            for i, lock in enumerate(shard_locks, 1):
                lock.write_text(jobs_lock.read_text())
                await _run_shard(sim, spec_path, lock, i, 3)
            assert len(sim.state.tasks) == 9  # walk, and walk-on that chains from it
            # Untouched shards still hold the old entries: only the base tells them apart.
            assert seedrun("lock", "merge", *shard_locks, "-o", tmp_path / "x.lock") == 2
            argv = ("lock", "merge", "--base", jobs_lock, *shard_locks, "-o", jobs_lock)
            assert seedrun(*argv) == 0
            final = loads(jobs_lock.read_text(), "jobs.lock")
            assert {e.status for e in final.jobs.values()} == {"succeeded"}
            assert final.jobs["walk"].task_id != merged.jobs["walk"].task_id
            assert final.jobs["spin[backdrop=snow]"] == merged.jobs["spin[backdrop=snow]"]


def test_cli_merge_waits_for_no_one_while_apply_holds_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from seedrun.store import RunLock

    a = write(tmp_path / "shard-1.lock", one("a"))
    out = write(tmp_path / "jobs.lock", one("b"))
    with RunLock(out).held():
        assert seedrun("lock", "merge", a, "-o", out) == 2
    assert "jobs.lock is in use by another seedrun run" in capsys.readouterr().err
    assert out.read_text() == dumps(one("b"))


def test_cli_merge_folds_an_input_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from seedrun.lockfile import job_event

    a = write(tmp_path / "shard-1.lock", one("a", status="queued"))
    later = entry("a", "succeeded")
    assert loads(a.read_text(), "x").jobs["a"] != later
    (tmp_path / "shard-1.lock.journal").write_text(json.dumps(job_event("a", later)) + "\n")
    out = tmp_path / "jobs.lock"
    assert seedrun("lock", "merge", a, "-o", out) == 0
    assert loads(out.read_text(), "jobs.lock").jobs["a"] == later
