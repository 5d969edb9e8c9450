"""The lockfile in git: small diffs, clean merges, and ``seedrun lock merge`` as a merge driver.

Real repositories in temp folders. ``job()`` builds entries shaped like apply's:
a request body of several lines, then the fields a finished task adds.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lockfactory import commit_all, entry, file_ref, git, key, make_repo, official, seedrun, write

from seedrun.lockfile import AssetEntry, Lock, LockEntry, dumps, loads

ASSET = "https://cdn.example.com/bottle.png"


def job(name: str, status: str = "queued", prompt: str = "slowly", **kw: Any) -> LockEntry:
    kw.setdefault("key", key(name + prompt))
    body = official(
        f"The {name} bottle turns {prompt}.", "asset://asset-1", duration=5, ratio="16:9"
    )
    return entry(
        name,
        status,
        request=body,
        created_at=1_700_000_000,
        service_tier="default",
        execution_expires_after=172_800,
        **kw,
    )


def done(name: str, **kw: Any) -> LockEntry:
    return job(
        name,
        "succeeded",
        video_url=f"https://files.example.com/{name}.mp4",
        output=file_ref(f"outputs/{name}.mp4", name.encode()),
        seed=123,
        usage={"completion_tokens": 100, "total_tokens": 100},
        updated_at=1_700_000_100,
        **kw,
    )


BASE = Lock(
    {ASSET: AssetEntry(True, "asset://asset-1")},
    {f"job-{i}": job(f"job-{i}") for i in range(6)},
)


def hunks(repo: Path) -> int:
    return len(re.findall(r"^@@ ", git(repo, "diff", "-U3", "jobs.lock"), re.M))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = make_repo(tmp_path / "repo")
    write(r / "jobs.lock", BASE)
    commit_all(r, "base")
    return r


DONE_2 = BASE.with_job("job-2", done("job-2"))
# name -> (committed, then written): one job changed in each.
CHANGES = {
    "finish": (BASE, DONE_2),
    "replace": (DONE_2, BASE.with_job("job-2", job("job-2", prompt="quickly", task_id="t-9"))),
    "fail": (
        BASE,
        BASE.with_job("job-2", job("job-2", "failed", error={"code": "E", "message": "x"})),
    ),
}


def _one_job_change(repo: Path, change: str) -> Lock:
    before, after = CHANGES[change]
    if before is not BASE:  # the repo fixture already committed BASE
        write(repo / "jobs.lock", before)
        commit_all(repo, f"before {change}")
    write(repo / "jobs.lock", after)
    return after


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_one_job_changed_is_one_hunk(repo: Path, change: str) -> None:
    _one_job_change(repo, change)
    assert hunks(repo) == 1


def test_a_status_change_alone_is_one_hunk(repo: Path) -> None:
    write(repo / "jobs.lock", BASE.with_job("job-2", job("job-2", "running")))
    assert hunks(repo) == 1


def test_adding_a_job_is_one_hunk(repo: Path) -> None:
    write(repo / "jobs.lock", BASE.with_job("job-2a", done("job-2a")))
    assert hunks(repo) == 1
    assert "+  job-2a:\n" in git(repo, "diff", "jobs.lock")


def _branch(repo: Path, name: str, lock: Lock, start: str = "main") -> None:
    git(repo, "checkout", "-q", "-b", name, start)
    write(repo / "jobs.lock", lock)
    commit_all(repo, name)


def _merge(repo: Path, into: str, other: str) -> subprocess.CompletedProcess[str]:
    git(repo, "checkout", "-q", into)
    return subprocess.run(
        ["git", "merge", "--no-edit", other],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"},
    )


@pytest.mark.parametrize(
    ("a_jobs", "b_jobs"),
    [
        (("job-1",), ("job-2",)),  # neighbours: the end of one block, the start of the next
        (("job-0", "job-5"), ("job-2", "job-3")),
        (("job-4",), ("job-3", "job-5")),
    ],
)
def test_branches_that_touch_different_jobs_merge_cleanly(
    tmp_path: Path,
    a_jobs: tuple[str, ...],
    b_jobs: tuple[str, ...],
) -> None:
    repo = make_repo(tmp_path / "repo")
    write(repo / "jobs.lock", BASE)
    commit_all(repo, "base")
    a, b = BASE, BASE
    for j in a_jobs:
        a = a.with_job(j, done(j))
    for j in b_jobs:  # one finished, the others replaced with a new prompt
        b = b.with_job(j, done(j) if j == b_jobs[0] else job(j, prompt="fast", task_id="t-2"))
    _branch(repo, "a", a)
    _branch(repo, "b", b)
    merged = _merge(repo, "a", "b")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    expected = Lock(BASE.assets, {**a.jobs, **{j: b.jobs[j] for j in b_jobs}})
    text = (repo / "jobs.lock").read_text()
    assert loads(text, "jobs.lock") == expected
    assert text == dumps(expected)  # and still canonical: the next apply rewrites nothing


def test_branches_that_both_add_jobs_at_one_place_conflict_in_plain_git(repo: Path) -> None:
    """Why the merge driver exists: two new jobs sorting to the same spot."""
    _branch(repo, "a", BASE.with_job("new-a", done("new-a")))
    _branch(repo, "b", BASE.with_job("new-b", done("new-b")))
    assert _merge(repo, "a", "b").returncode == 1


def test_conflict_markers_are_named_and_the_advised_command_merges(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = BASE.with_job("new-a", done("new-a")), BASE.with_job("new-b", done("new-b"))
    _branch(repo, "a", a)
    _branch(repo, "b", b)
    assert _merge(repo, "a", "b").returncode == 1
    monkeypatch.chdir(repo)
    assert seedrun("status", "--lock", "jobs.lock") == 2
    message = capsys.readouterr().err
    assert message.startswith("seedrun: jobs.lock:")
    assert ": the lockfile has unresolved git conflict markers (<<<<<<<); " in message
    advised = re.search(r"`seedrun (lock merge [^`]*)`", message)
    assert advised is not None
    assert seedrun(*advised.group(1).split()) == 0  # git's three stages, read with `git show`
    assert (repo / "jobs.lock").read_text() == dumps(Lock(BASE.assets, {**a.jobs, **b.jobs}))


def test_the_end_line_does_not_conflict_when_branches_add_jobs_apart(repo: Path) -> None:
    """Unlike a job count in the header, the end line is the same on every branch."""
    _branch(repo, "a", BASE.with_job("aaa", done("aaa")))
    _branch(repo, "b", BASE.with_job("zzz", done("zzz")))
    merged = _merge(repo, "a", "b")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    expected = Lock(BASE.assets, {**BASE.jobs, "aaa": done("aaa"), "zzz": done("zzz")})
    assert (repo / "jobs.lock").read_text() == dumps(expected)


def _install_driver(repo: Path) -> None:
    (repo / ".gitattributes").write_text("*.lock merge=seedrun\n")
    commit_all(repo, "merge driver")
    git(repo, "config", "merge.seedrun.name", "seedrun lockfile merge")
    driver = f"'{sys.executable}' -m seedrun lock merge --base %O %A %B -o %A"
    git(repo, "config", "merge.seedrun.driver", driver)


def test_the_merge_driver_merges_what_plain_git_cannot(repo: Path) -> None:
    _install_driver(repo)
    a = BASE.with_job("new-a", done("new-a")).with_job("job-1", done("job-1"))
    b = BASE.with_job("new-b", done("new-b")).with_job("job-1", job("job-1", "running"))
    _branch(repo, "a", a)
    _branch(repo, "b", b)
    merged = _merge(repo, "a", "b")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    # job-1: running on one side, succeeded on the other: the same task, the later state.
    expected = Lock(BASE.assets, {**a.jobs, "new-b": b.jobs["new-b"]})
    assert (repo / "jobs.lock").read_text() == dumps(expected)


def test_the_merge_driver_refuses_two_different_videos_for_one_job(repo: Path) -> None:
    _install_driver(repo)
    _branch(repo, "a", BASE.with_job("job-3", job("job-3", prompt="left", task_id="t-a")))
    _branch(repo, "b", BASE.with_job("job-3", job("job-3", prompt="right", task_id="t-b")))
    merged = _merge(repo, "a", "b")
    assert merged.returncode == 1
    assert "cannot merge: 1 conflict: job job-3 (different requests: " in merged.stderr
    assert "CONFLICT" in merged.stdout
