"""seedrun status: the report, plain and rich, with and without a spec, and --verify."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from conftest import write_spec
from lockfactory import entry, file_ref, seedrun, write

from seedrun.commands import status
from seedrun.lockfile import AssetEntry, Lock, job_event
from seedrun.store import journal_path

NOW = 1_700_000_000
BAD = "https://cdn.example.com/bad.png"
GOOD = "https://cdn.example.com/good.png"

LOCK = Lock(
    {BAD: AssetEntry(False, None, "nsfw"), GOOD: AssetEntry(True, "asset://asset-1")},
    {
        "ok": entry("ok", output=file_ref("outputs/ok.mp4", b"ok"), usage={"total_tokens": 1000}),
        "gone": entry("gone", output=file_ref("outputs/gone.mp4", b"gone")),
        "edited": entry(
            "edited",
            output=file_ref("outputs/edited.mp4", b"original"),
            last_frame=file_ref("outputs/edited.png", b"frame"),
            usage={"total_tokens": 2500},
        ),
        "bad": entry("bad", "failed", error={"code": "OutputSensitive", "message": "flagged"}),
        "slow": entry("slow", "running", created_at=NOW - 125),
        "new": entry("new", "queued"),
        "uses-bad": entry(
            "uses-bad",
            "blocked",
            error={"code": "blocked", "message": f"asset {BAD} failed moderation: nsfw"},
        ),
        "lost": entry("lost", "unknown", error={"code": "create_unknown", "message": "timeout"}),
    },
)

EXPECTED = """\
lockfile: {lock}

state         jobs
queued           1
running          1
succeeded        3
failed           1
blocked          1
unknown          1
total            8

problems:
  failed    bad       OutputSensitive: flagged
  unknown   lost      create_unknown: timeout
  blocked   uses-bad  blocked: asset https://cdn.example.com/bad.png failed moderation: nsfw

assets that failed moderation:
  https://cdn.example.com/bad.png: nsfw; blocks uses-bad

in flight:
  queued    new   task t-new  age unknown
  running   slow  task t-slow  2m 5s

outputs missing on disk:
  gone  outputs/gone.mp4
{verify}
usage: 3,500 tokens{money}
"""


@pytest.fixture
def campaign(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(status, "now", lambda: NOW)
    out = tmp_path / "outputs"
    out.mkdir()
    (out / "ok.mp4").write_bytes(b"ok")
    (out / "edited.mp4").write_bytes(b"changed!")  # same size, other bytes
    (out / "edited.png").write_bytes(b"frame")
    return write(tmp_path / "jobs.lock", LOCK)


def test_plain_report(campaign: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert seedrun("status", "--lock", campaign) == 0
    assert capsys.readouterr().out == EXPECTED.format(lock=campaign, verify="", money="")


def test_finds_the_only_lockfile_here(
    campaign: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(campaign.parent)
    assert seedrun("status") == 0
    assert capsys.readouterr().out == EXPECTED.format(lock="jobs.lock", verify="", money="")


def test_verify_rehashes_and_exits_1_on_mismatch(
    campaign: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert seedrun("status", "--lock", campaign, "--verify") == 1
    wrong = file_ref("x", b"changed!").sha256[:12]
    right = file_ref("x", b"original").sha256[:12]
    verify = (
        "\nverify: 2 files match the lockfile\n"
        f"  MISMATCH edited  outputs/edited.mp4: sha256 {wrong}, lockfile says {right}\n"
    )
    assert capsys.readouterr().out == EXPECTED.format(lock=campaign, verify=verify, money="")


def test_verify_passes_when_every_file_matches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.mp4").write_bytes(b"aaa")
    lock = write(tmp_path / "x.lock", Lock({}, {"a": entry("a", output=file_ref("a.mp4", b"aaa"))}))
    assert seedrun("status", "--lock", lock, "--verify") == 0
    assert capsys.readouterr().out == (
        f"lockfile: {lock}\n\nstate         jobs\nsucceeded        1\ntotal            1\n\n"
        "verify: 1 file matches the lockfile\n\nusage: 0 tokens\n"
    )
    (tmp_path / "a.mp4").write_bytes(b"aaaa")
    assert seedrun("status", "--lock", lock, "--verify") == 1
    assert "  MISMATCH a  a.mp4: 4 bytes, lockfile says 3\n" in capsys.readouterr().out
    (tmp_path / "a.mp4").unlink()
    assert seedrun("status", "--lock", lock) == 0  # missing files only fail --verify
    assert seedrun("status", "--lock", lock, "--verify") == 1


SPEC = """
version: 1
assets:
  bad:
    url: https://cdn.example.com/bad.png
    moderate: true
jobs:
  - name: ok
    prompt: fine
  - name: uses-bad
    prompt: Image 1 spins.
    media:
      - {asset: bad}
  - name: also-bad
    prompt: Image 1 falls.
    media:
      - {asset: bad}
  - name: todo
    prompt: not run yet
settings:
  price_per_million_tokens: 2.5
"""


def test_with_a_spec_price_pending_and_asset_users(
    campaign: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(campaign.parent, SPEC, "jobs.yaml")
    money = " (≈ 0.01 at 2.5 per million tokens)"
    head = f"lockfile: {campaign} (spec: {spec})\n"
    for argv in (["status", spec], ["status", "--spec", spec, "--lock", campaign]):
        assert seedrun(*argv) == 0
        out = capsys.readouterr().out
        assert out.startswith(head)
        assert "total            8\npending: 2 jobs in the spec, not in the lockfile\n" in out
        assert "orphaned: 6 entries not in the spec (see seedrun prune)\n" in out
        assert f"  {BAD}: nsfw; blocks also-bad, uses-bad\n" in out
        assert out.endswith(f"usage: 3,500 tokens{money}\n")


def test_a_journal_left_by_a_run_is_read_not_written(
    campaign: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = campaign.read_text()
    event = job_event("slow", entry("slow", output=file_ref("outputs/ok.mp4", b"ok")))
    journal_path(campaign).write_text(json.dumps(event) + "\n")
    assert seedrun("status", "--lock", campaign) == 0
    out = capsys.readouterr().out
    assert "note: 1 journal event not yet folded in" in out
    assert "running" not in out and "succeeded        4\n" in out
    assert campaign.read_text() == before


def test_rich_tables_on_a_terminal(
    campaign: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("COLUMNS", "160")
    assert seedrun("status", "--lock", campaign, "--verify") == 1
    out = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)
    for text in ("succeeded", "OutputSensitive: flagged", "uses-bad", "2m 5s", "outputs/gone.mp4"):
        assert text in out
    assert "verify mismatches" in out and "usage: 3,500 tokens" in out
    assert "─" in out  # a table, not plain lines


def test_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert seedrun("status") == 2
    assert capsys.readouterr().err == (
        "seedrun: no lockfile here (no *.lock in this folder); name one with --lock PATH\n"
    )
    assert seedrun("status", "--lock", "nope.lock") == 2
    assert capsys.readouterr().err == "seedrun: nope.lock: lockfile not found\n"
    spec = write_spec(tmp_path, SPEC, "jobs.yaml")
    assert seedrun("status", spec) == 2
    assert capsys.readouterr().err == f"seedrun: {tmp_path / 'jobs.lock'}: lockfile not found\n"
    assert seedrun("status", spec, "--spec", "other.yaml") == 2
    assert capsys.readouterr().err == (
        "seedrun: give the spec once: as SPEC or as --spec, not both\n"
    )


def test_ages() -> None:
    assert [status._age(s) for s in (-3, 5, 125, 3_700, 3 * 86_400 + 7_200)] == [
        "0s",
        "5s",
        "2m 5s",
        "1h 1m",
        "3d 2h",
    ]
