"""store.py: the group-commit journal, recovery, atomic writes and the run lock."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest
import trio

from seedrun.errors import LockError
from seedrun.lockfile import Lock, LockEntry, dumps, job_event
from seedrun.store import (
    Journal,
    RunLock,
    atomic_write_text,
    journal_path,
    read_journal,
    recover,
    write_lock,
)


def _key(i: int) -> str:
    return hashlib.sha256(f"job{i}".encode()).hexdigest()


def _event(i: int) -> dict[str, object]:
    return job_event(f"job{i}", LockEntry(key=_key(i), status="queued", task_id=f"task_{i}"))


async def test_many_concurrent_appends_are_all_durable_with_few_fsyncs(tmp_path: Path) -> None:
    path = tmp_path / "spec.lock.journal"
    journal = Journal(path)
    n = 300
    durable_on_return: list[bool] = []

    async def one(i: int) -> None:
        event = _event(i)
        await journal.append(event)
        line = json.dumps(event, sort_keys=True, separators=(",", ":")).encode()
        # append returns only once its own line is on disk.
        durable_on_return.append(line in path.read_bytes())

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            for i in range(n):
                nursery.start_soon(one, i)
    journal.close()
    assert durable_on_return == [True] * n
    events = read_journal(path)
    assert sorted(e["job"] for e in events) == sorted(f"job{i}" for i in range(n))
    assert journal.events == n
    assert journal.fsyncs < n / 10  # appends that arrive during a write share its fsync


async def test_an_append_cancelled_while_waiting_still_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller cancelled while its line waits for another append's fsync must not be
    told "not recorded": the line is queued and will be written (e.g. a create
    journaled as in flight would otherwise be left unknown without being sent)."""
    path = tmp_path / "spec.lock.journal"
    journal = Journal(path)
    slow_write = journal._write

    def write(data: bytes) -> None:
        time.sleep(0.2)
        slow_write(data)

    monkeypatch.setattr(journal, "_write", write)
    outcome: list[str] = []

    async def first() -> None:
        await journal.append(_event(1))

    async def second() -> None:
        await trio.sleep(0.05)  # arrives while the first write is in progress
        with trio.move_on_after(0.05):
            await journal.append(_event(2))
            outcome.append("returned")
        outcome.append("after")

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(first)
            nursery.start_soon(second)
    journal.close()
    assert outcome == ["returned", "after"]
    assert [e["job"] for e in read_journal(path)] == ["job1", "job2"]


def test_read_journal_drops_only_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "spec.lock.journal"
    good = [json.dumps(_event(i)) for i in range(2)]
    path.write_text(good[0] + "\n" + good[1] + "\n" + good[1][: len(good[1]) // 2])
    assert read_journal(path) == [_event(0), _event(1)]

    path.write_text(good[0] + "\n{not json\n" + good[1] + "\n")
    with pytest.raises(LockError) as exc:
        read_journal(path)
    assert str(exc.value) == (
        f"{path}:2: journal line is not JSON; move the file away to discard it, or restore it"
    )


def test_recover_folds_the_journal_into_the_lockfile(tmp_path: Path) -> None:
    lock_path = tmp_path / "spec.lock"
    earlier = Lock(jobs={"job0": LockEntry(key=_key(0), status="succeeded", task_id="task_0")})
    write_lock(lock_path, earlier)
    later = json.dumps(job_event("job0", LockEntry(key=_key(0), status="failed")))
    torn = json.dumps(_event(1))[:20]
    journal_path(lock_path).write_text(
        later + "\n" + json.dumps(_event(2)) + "\n" + torn, encoding="utf-8"
    )
    lock = recover(lock_path)
    assert {j: e.status for j, e in lock.jobs.items()} == {"job0": "failed", "job2": "queued"}
    assert not journal_path(lock_path).exists()
    assert lock_path.read_text(encoding="utf-8") == dumps(lock)


def test_atomic_write_replaces_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "deep" / "spec.lock"
    atomic_write_text(target, "first\n")
    assert target.read_text() == "first\n"

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic_write_text(target, "second\n")
    monkeypatch.undo()
    assert target.read_text() == "first\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["spec.lock"]  # no temp left


def test_write_lock_skips_an_unchanged_file(tmp_path: Path) -> None:
    lock_path = tmp_path / "spec.lock"
    lock = Lock(jobs={"a": LockEntry(key=_key(9), status="queued", task_id="t")})
    assert write_lock(lock_path, lock) is True
    before = os.stat(lock_path)
    assert write_lock(lock_path, lock) is False
    after = os.stat(lock_path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_run_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    lock_path = tmp_path / "spec.lock"
    first = RunLock(lock_path)
    with first.held():
        assert first.path.with_name("spec.lock.lck.pid").read_text() == f"{os.getpid()}\n"
        with pytest.raises(LockError) as exc:
            RunLock(lock_path).acquire()
        assert str(exc.value) == (
            f"spec.lock is in use by another seedrun run (pid {os.getpid()}); wait for it "
            "to finish, or use another --lock"
        )
    assert not first.path.exists()
    assert not first.path.with_name("spec.lock.lck.pid").exists()
    second = RunLock(lock_path)
    with pytest.raises(RuntimeError), second.held():  # released on error, too
        raise RuntimeError("boom")
    third = RunLock(lock_path)
    third.acquire()
    third.release()


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ('{"job": "a"}', "not a journal event"),
        ('{"job": "a", "entry": "x"}', "jobs.a: 'x' is not of type 'object'"),
        ("[1, 2]", "not a journal event"),
        (
            '{"job": "a", "entry": {"key": "' + "a" * 64 + '", "status": "weird"}}',
            "jobs.a.status: 'weird' is not one of ['queued', 'running', 'succeeded', "
            "'failed', 'blocked', 'unknown', 'cancelled']",
        ),
    ],
)
def test_read_journal_refuses_events_seedrun_never_writes(
    tmp_path: Path, line: str, why: str
) -> None:
    path = tmp_path / "spec.lock.journal"
    path.write_text(json.dumps(_event(0)) + "\n" + line + "\n")
    with pytest.raises(LockError) as exc:
        read_journal(path)
    assert str(exc.value) == (
        f"{path}:2: not a valid journal line: {why}; move the file away to discard it, "
        "or restore it"
    )
