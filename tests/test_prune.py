"""seedrun prune: orphaned entries and their files; never a file outside the lockfile's folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import write_spec
from lockfactory import entry, file_ref, seedrun, write

from seedrun.lockfile import AssetEntry, Lock, dumps, job_event
from seedrun.store import RunLock, journal_path

SPEC = """
version: 1
jobs:
  - name: keep
    prompt: a kept job
  - name: also
    prompt: another kept job
"""


@pytest.fixture
def camp(tmp_path: Path) -> Path:
    """tmp/camp/{jobs.yaml,jobs.lock,outputs/}, and tmp/outside.mp4 that must survive."""
    folder = tmp_path / "camp"
    out = folder / "outputs"
    out.mkdir(parents=True)
    write_spec(folder, SPEC, "jobs.yaml")
    for name in ("keep.mp4", "old.mp4", "old.png"):
        (out / name).write_bytes(name.encode())
    (tmp_path / "outside.mp4").write_bytes(b"not yours")
    os.symlink(tmp_path / "outside.mp4", out / "link.mp4")
    lock = Lock(
        {"https://cdn.example.com/a.png": AssetEntry(True, "asset://a")},
        {
            "keep": entry("keep", output=file_ref("outputs/keep.mp4", b"keep.mp4")),
            "also": entry("also", "failed", error={"code": "E", "message": "x"}),
            "old": entry(
                "old",
                output=file_ref("outputs/old.mp4", b"old.mp4"),
                last_frame=file_ref("outputs/old.png", b"old.png"),
            ),
            "old-escape": entry("old-escape", output=file_ref("../outside.mp4", b"not yours")),
            "old-absolute": entry(
                "old-absolute", output=file_ref(str(tmp_path / "outside.mp4"), b"not yours")
            ),
            "old-link": entry("old-link", output=file_ref("outputs/link.mp4", b"not yours")),
            "old-missing": entry("old-missing", output=file_ref("outputs/gone.mp4", b"")),
            "old-shared": entry("old-shared", output=file_ref("outputs/keep.mp4", b"keep.mp4")),
            "old-failed": entry("old-failed", "failed"),
        },
    )
    write(folder / "jobs.lock", lock)
    return folder


def listing(camp: Path) -> list[str]:
    return sorted(str(p.relative_to(camp.parent)) for p in camp.parent.rglob("*"))


def report(folder: str) -> str:
    return f"""\
orphaned entries (in {folder}/jobs.lock, not in {folder}/jobs.yaml):
  old           succeeded
  old-absolute  succeeded
  old-escape    succeeded
  old-failed    failed
  old-link      succeeded
  old-missing   succeeded
  old-shared    succeeded
files to delete (paths relative to {folder}):
  outputs/old.mp4
  outputs/old.png
files left alone:
  {folder.rsplit("/", 1)[0]}/outside.mp4: outside the lockfile's folder
  ../outside.mp4: outside the lockfile's folder
  outputs/link.mp4: outside the lockfile's folder
  outputs/keep.mp4: still used by a job of the spec
  outputs/gone.mp4: already missing
"""


def test_dry_run_lists_and_changes_nothing(camp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before, files = (camp / "jobs.lock").read_text(), listing(camp)
    assert seedrun("prune", camp / "jobs.yaml") == 0
    assert capsys.readouterr().out == report(str(camp)) + (
        "dry run: nothing changed; run again with --yes to remove 7 entries and 2 files\n"
    )
    assert (camp / "jobs.lock").read_text() == before
    assert listing(camp) == files


def test_yes_removes_entries_and_only_files_inside(
    camp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (camp / "jobs.lock").read_text()
    assert seedrun("prune", camp / "jobs.yaml", "--yes") == 0
    assert capsys.readouterr().out == report(str(camp)) + (
        f"removed 7 entries from {camp}/jobs.lock and deleted 2 files\n"
    )
    kept = Lock(
        {"https://cdn.example.com/a.png": AssetEntry(True, "asset://a")},
        {
            "keep": entry("keep", output=file_ref("outputs/keep.mp4", b"keep.mp4")),
            "also": entry("also", "failed", error={"code": "E", "message": "x"}),
        },
    )
    assert (camp / "jobs.lock").read_text() == dumps(kept) != before
    assert listing(camp) == [
        "camp",
        "camp/jobs.lock",
        "camp/jobs.yaml",
        "camp/outputs",
        "camp/outputs/keep.mp4",
        "camp/outputs/link.mp4",
        "outside.mp4",
    ]
    assert (camp.parent / "outside.mp4").read_bytes() == b"not yours"
    assert not list(camp.glob(".*.tmp"))  # written through a temp file, renamed
    # Again: nothing left to do.
    assert seedrun("prune", camp / "jobs.yaml", "--yes") == 0
    assert capsys.readouterr().out == (
        f"nothing to prune: every entry of {camp}/jobs.lock is a job of {camp}/jobs.yaml\n"
    )


def test_relative_paths_and_lock_option(
    camp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(camp)
    (camp / "jobs.lock").rename(camp / "other.lock")
    assert seedrun("prune", "jobs.yaml") == 2
    assert capsys.readouterr().err == "seedrun: jobs.lock: lockfile not found\n"
    assert seedrun("prune", "jobs.yaml", "--lock", "other.lock", "--yes") == 0
    out = capsys.readouterr().out
    assert "  outputs/old.mp4\n" in out
    assert out.endswith("removed 7 entries from other.lock and deleted 2 files\n")
    assert not (camp / "outputs" / "old.mp4").exists()


def test_yes_folds_a_leftover_journal_first(camp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A crashed run had recorded one more orphan and finished `also`.
    events = [
        job_event("old-late", entry("old-late", "queued")),
        job_event("also", entry("also")),
    ]
    journal_path(camp / "jobs.lock").write_text("".join(json.dumps(e) + "\n" for e in events))
    assert seedrun("prune", camp / "jobs.yaml") == 0  # the dry run sees it too
    assert "  old-late      queued\n" in capsys.readouterr().out
    assert seedrun("prune", camp / "jobs.yaml", "--yes") == 0
    text = (camp / "jobs.lock").read_text()
    assert "old-late" not in text and "also:\n    key: " in text
    assert "status: succeeded" in text.split("also:")[1].split("keep:")[0]
    assert not journal_path(camp / "jobs.lock").exists()


def test_a_running_apply_blocks_prune(camp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (camp / "jobs.lock").read_text()
    with RunLock(camp / "jobs.lock").held():
        assert seedrun("prune", camp / "jobs.yaml", "--yes") == 2
    err = capsys.readouterr().err
    assert err == (
        f"seedrun: jobs.lock is in use by another seedrun run (pid {os.getpid()}); wait for "
        "it to finish, or use another --lock\n"
    )
    assert (camp / "jobs.lock").read_text() == before
    assert (camp / "outputs" / "old.mp4").exists()


def test_bad_spec_is_refused_before_anything(
    camp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (camp / "jobs.yaml").write_text("version: 1\njobs: []\n")
    assert seedrun("prune", camp / "jobs.yaml", "--yes") == 2
    assert (camp / "outputs" / "old.mp4").exists()
    assert capsys.readouterr().err == (
        f"{camp}/jobs.yaml:2:7: jobs: must not be empty; list at least one value\n"
        "seedrun: 1 error in spec\n"
    )
