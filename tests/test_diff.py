"""seedrun diff: the pure diff, its renderings, and the command (paths, REV:path, git)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from lockfactory import (
    commit_all,
    entry,
    file_ref,
    key,
    make_repo,
    official,
    seedrun,
    unified,
    write,
)

from seedrun.diff import diff_locks, line_diff, render_text, request_fields, word_diff
from seedrun.lockfile import Lock
from seedrun.markdown import diff_markdown

BOTTLE = "https://cdn.example.com/bottle.png"
SPIN_OLD = official(
    "The bottle turns slowly on a marble backdrop.", BOTTLE, duration=5, ratio="16:9"
)
SPIN_NEW = official(
    "The bottle turns quickly on a marble backdrop.", BOTTLE, duration=8, ratio="16:9"
)
CITY = file_ref("outputs/city.mp4", b"city")
Q = file_ref("outputs/queued-one.mp4", b"q")
FRESH = file_ref("outputs/fresh.mp4", b"fresh")
R1, R2 = file_ref("outputs/redownload.mp4", b"one"), file_ref("outputs/redownload.mp4", b"two")

OLD = Lock(
    {},
    {
        "city": entry("city", api="unified", request=unified("Aerial city", seed=7), output=CITY),
        "spin": entry("spin", request=SPIN_OLD, output=file_ref("outputs/spin.mp4", b"spin")),
        "gone": entry("gone", "failed", error={"code": "E", "message": "flagged"}),
        "queued-one": entry("queued-one", "queued", created_at=1_700_000_000),
        "redownload": entry("redownload", output=R1),
        "refresh": entry(
            "refresh", video_url="https://files.example.com/v.mp4?sig=1", updated_at=1
        ),
    },
)
NEW = Lock(
    {},
    {
        "city": OLD.jobs["city"],
        "spin": entry("spin2", "queued", request=SPIN_NEW),
        "queued-one": entry(
            "queued-one",
            created_at=1_700_000_000,
            video_url="https://files.example.com/q.mp4",
            output=Q,
        ),
        "fresh": entry("fresh", video_url="https://files.example.com/fresh.mp4", output=FRESH),
        "redownload": entry("redownload", output=R2),
        # A refreshed signed URL and a later updated_at are no change for a reviewer.
        "refresh": entry(
            "refresh", video_url="https://files.example.com/v.mp4?sig=2", updated_at=2
        ),
    },
)


def ref(f: object) -> dict[str, object]:
    return {"path": f.path, "sha256": f.sha256, "bytes": f.bytes}  # type: ignore[attr-defined]


EXPECTED_JSON = {
    "changes": [
        {
            "id": "fresh",
            "change": "added",
            "fields": {
                "status": {"old": None, "new": "succeeded"},
                "task_id": {"old": None, "new": "t-fresh"},
                "output": {"old": None, "new": ref(FRESH)},
            },
        },
        {
            "id": "gone",
            "change": "removed",
            "fields": {
                "status": {"old": "failed", "new": None},
                "task_id": {"old": "t-gone", "new": None},
            },
        },
        {
            "id": "queued-one",
            "change": "status",
            "fields": {
                "status": {"old": "queued", "new": "succeeded"},
                "output": {"old": None, "new": ref(Q)},
            },
        },
        {
            "id": "redownload",
            "change": "output",
            "fields": {"output": {"old": ref(R1), "new": ref(R2)}},
        },
        {
            "id": "spin",
            "change": "replaced",
            "fields": {
                "key": {"old": key("spin"), "new": key("spin2")},
                "prompt": {
                    "old": "The bottle turns slowly on a marble backdrop.",
                    "new": "The bottle turns quickly on a marble backdrop.",
                    "diff": "The bottle turns [-slowly-]{+quickly+} on a marble backdrop.",
                },
                "duration": {"old": 5, "new": 8},
                "status": {"old": "succeeded", "new": "queued"},
            },
        },
    ],
    "counts": {
        "added": 1,
        "removed": 1,
        "replaced": 1,
        "status": 1,
        "output": 1,
        "unchanged": 2,
    },
}

EXPECTED_TEXT = """\
added     fresh       succeeded  outputs/fresh.mp4
removed   gone        failed
status    queued-one  status: queued -> succeeded
                      output: (none) -> outputs/queued-one.mp4 (sha256 {q})
output    redownload  output: outputs/redownload.mp4 sha256 {r1} -> {r2}
replaced  spin        key: {k1} -> {k2}
                      prompt: The bottle turns [-slowly-]{{+quickly+}} on a marble backdrop.
                      duration: 5 -> 8
                      status: succeeded -> queued

5 jobs changed: 1 added, 1 removed, 1 replaced, 1 status, 1 output (2 unchanged)
""".format(
    q=Q.sha256[:12],
    r1=R1.sha256[:12],
    r2=R2.sha256[:12],
    k1=key("spin")[:12],
    k2=key("spin2")[:12],
)


# ---------------------------------------------------------------- pure


def test_diff_locks_whole_json() -> None:
    assert diff_locks(OLD, NEW).to_json() == EXPECTED_JSON


def test_diff_of_identical_locks_is_empty() -> None:
    d = diff_locks(OLD, OLD)
    assert d.to_json() == {
        "changes": [],
        "counts": {
            "added": 0,
            "removed": 0,
            "replaced": 0,
            "status": 0,
            "output": 0,
            "unchanged": 6,
        },
    }
    assert render_text(d) == "no changes (6 jobs unchanged)\n"


def test_a_new_task_for_the_same_request_is_a_status_change() -> None:
    old = Lock({}, {"a": entry("a", "failed", error={"code": "E", "message": "boom"})})
    new = Lock({}, {"a": entry("a", "failed", task_id="t-2", error={"code": "E", "message": "x"})})
    assert diff_locks(old, new).to_json()["changes"] == [
        {
            "id": "a",
            "change": "status",
            "fields": {
                "task_id": {"old": "t-a", "new": "t-2"},
                "error": {
                    "old": {"code": "E", "message": "boom"},
                    "new": {"code": "E", "message": "x"},
                },
            },
        }
    ]


def test_replaced_without_recorded_requests_shows_the_key_only() -> None:
    old = Lock({}, {"a": entry("a", "blocked")})
    new = Lock({}, {"a": entry("b", "blocked")})
    assert diff_locks(old, new).to_json()["changes"][0]["fields"] == {
        "key": {"old": key("a"), "new": key("b")}
    }


def test_request_fields_official_and_unified() -> None:
    assert request_fields(SPIN_OLD, "official") == {
        "prompt": "The bottle turns slowly on a marble backdrop.",
        "model": "doubao-seedance-2.0",
        "content[1].type": "image_url",
        "content[1].image_url.url": BOTTLE,
        "content[1].role": "reference_image",
        "duration": 5,
        "ratio": "16:9",
    }
    body = unified("Aerial", seconds=8, ratio="9:16", seed=3)
    body["images"] = ["https://a.example/1.png"]
    assert request_fields(body, "unified") == {
        "prompt": "Aerial",
        "model": "doubao-seedance-2.0",
        "seconds": "8",
        "metadata.ratio": "9:16",
        "metadata.seed": 3,
        "images[0]": "https://a.example/1.png",
    }


def test_replaced_lists_changed_media_and_api() -> None:
    old = Lock({}, {"a": entry("a", request=official("p", "https://x.example/1.png"))})
    new = Lock(
        {},
        {"a": entry("b", api="unified", request=unified("p", 5, ratio="1:1"))},
    )
    fields = diff_locks(old, new).to_json()["changes"][0]["fields"]
    assert fields == {
        "key": {"old": key("a"), "new": key("b")},
        "api": {"old": "official", "new": "unified"},
        "content[1].image_url.url": {"old": "https://x.example/1.png", "new": None},
        "content[1].role": {"old": "reference_image", "new": None},
        "content[1].type": {"old": "image_url", "new": None},
        "metadata.ratio": {"old": None, "new": "1:1"},
        "seconds": {"old": None, "new": "5"},
    }


def test_word_diff() -> None:
    assert word_diff("a red fox jumps", "a blue fox leaps high") == (
        "a [-red-]{+blue+} fox [-jumps-]{+leaps high+}"
    )
    assert word_diff("same", "same") == "same"
    assert word_diff("", "new words") == "{+new words+}"


def test_line_diff_keeps_two_lines_of_context() -> None:
    old = "one\ntwo\nthree\nfour\nfive\nsix"
    new = "one\ntwo\nthree\nFOUR\nfive\nsix"
    assert line_diff(old, new) == ["  two", "  three", "- four", "+ FOUR", "  five", "  six"]
    assert line_diff("same", "same") == []


def test_render_text() -> None:
    assert render_text(diff_locks(OLD, NEW)) == EXPECTED_TEXT


def test_markdown_comment() -> None:
    md = diff_markdown(
        diff_locks(OLD, NEW),
        old_label="HEAD:jobs.lock",
        new_label="jobs.lock",
        link_base="https://example.com/blob/abc/",
    )
    r1, r2 = R1.sha256[:12], R2.sha256[:12]
    assert md == textwrap.dedent(
        f"""\
        <!-- seedrun-diff -->
        ### seedrun: lockfile changes

        `HEAD:jobs.lock` → `jobs.lock`: 5 jobs changed: 1 added, 1 removed, 1 replaced, 1 status, 1 output (2 unchanged)

        | Job | Change | Status | What changed | Video |
        | --- | --- | --- | --- | --- |
        | `fresh` | added | succeeded | new job | [outputs/fresh.mp4](https://example.com/blob/abc/outputs/fresh.mp4) [video_url](https://files.example.com/fresh.mp4) |
        | `gone` | removed | failed | no longer in the lockfile | — |
        | `queued-one` | status | queued → succeeded | — | [outputs/queued-one.mp4](https://example.com/blob/abc/outputs/queued-one.mp4) [video_url](https://files.example.com/q.mp4) |
        | `redownload` | output | succeeded | `output`: outputs/redownload.mp4 sha256 {r1} → {r2} | [outputs/redownload.mp4](https://example.com/blob/abc/outputs/redownload.mp4) |
        | `spin` | replaced | queued | prompt (below); `duration`: 5 → 8; `status`: succeeded → queued | — |

        #### Prompt changes

        <details open><summary><code>spin</code></summary>

        <div>The bottle turns <del>slowly</del><ins>quickly</ins> on a marble backdrop.</div>

        ```diff
        - The bottle turns slowly on a marble backdrop.
        + The bottle turns quickly on a marble backdrop.
        ```

        </details>
        """  # noqa: E501
    )


def test_markdown_survives_pipes_backticks_and_many_rows() -> None:
    jobs = {f"j{i:02d}": entry(f"j{i:02d}") for i in range(5)}
    jobs["a|b"] = entry("ab", "failed", error={"code": "E", "message": "x"})
    old = Lock({}, {"p": entry("p", request=official("say ``` and | here"))})
    new = Lock({}, {**jobs, "p": entry("p2", request=official("say ``` and | there"))})
    md = diff_markdown(diff_locks(old, new), old_label="a", new_label="b", max_rows=3)
    rows = [ln for ln in md.splitlines() if ln.startswith("| `")]
    assert rows == [
        "| `a\\|b` | added | failed | new job | — |",
        "| `j00` | added | succeeded | new job | — |",
        "| `j01` | added | succeeded | new job | — |",
    ]
    assert "\n… and 4 more (see `seedrun diff`)\n" in md
    assert "Prompt changes" not in md  # p is past the cap
    md_all = diff_markdown(diff_locks(old, new), old_label="a", new_label="b")
    assert "````diff\n- say ``` and | here\n+ say ``` and | there\n````" in md_all
    assert "<div>say ``` and | <del>here</del><ins>there</ins></div>" in md_all
    lt = diff_locks(
        Lock({}, {"p": entry("p", request=official("a <b>\n*c*"))}),
        Lock({}, {"p": entry("q", request=official("a <i>\n*c*"))}),
    )
    html = diff_markdown(lt, old_label="a", new_label="b")
    assert "<div>a <del>&lt;b&gt;</del><ins>&lt;i&gt;</ins><br>*c*</div>" in html


# ---------------------------------------------------------------- the command


@pytest.fixture
def two_locks(tmp_path: Path) -> tuple[Path, Path]:
    return write(tmp_path / "old.lock", OLD), write(tmp_path / "new.lock", NEW)


def test_cli_text_json_markdown(
    two_locks: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = two_locks
    assert seedrun("diff", old, new) == 0
    assert capsys.readouterr().out == EXPECTED_TEXT
    assert seedrun("diff", old, new, "--format", "json") == 0
    assert json.loads(capsys.readouterr().out) == EXPECTED_JSON
    assert seedrun("diff", old, new, "--format", "markdown") == 0
    md = capsys.readouterr().out
    assert md.startswith(
        f"<!-- seedrun-diff -->\n### seedrun: lockfile changes\n\n`{old}` → `{new}`"
    )
    assert "| `fresh` | added | succeeded | new job | `outputs/fresh.mp4` [video_url]" in md
    assert seedrun("diff", old, new, "--format", "markdown", "--link-base", "https://h/x") == 0
    md = capsys.readouterr().out
    assert "| [outputs/fresh.mp4](https://h/x/outputs/fresh.mp4) [video_url]" in md


def test_cli_exit_code(two_locks: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    old, new = two_locks
    assert seedrun("diff", old, new, "--exit-code") == 1
    assert seedrun("diff", old, old, "--exit-code") == 0
    assert capsys.readouterr().out.endswith("no changes (6 jobs unchanged)\n")


def test_cli_errors(
    two_locks: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, _ = two_locks
    missing = tmp_path / "nope.lock"
    assert seedrun("diff", old, missing) == 2
    assert capsys.readouterr().err == f"seedrun: {missing}: lockfile not found\n"
    bad = tmp_path / "bad.lock"
    bad.write_text("version: 1\njobs:\n  a: {status: succeeded}\n")
    assert seedrun("diff", old, bad) == 2
    err = capsys.readouterr().err
    assert err == (
        f"seedrun: {bad}:3: jobs.a: not a valid lockfile: 'key' is a required property\n"
    )


def test_cli_rev_paths_in_a_git_repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path / "repo")
    write(repo / "jobs.lock", OLD)
    first = commit_all(repo, "first run")
    write(repo / "jobs.lock", NEW)
    commit_all(repo, "second run")
    monkeypatch.chdir(repo)
    assert seedrun("diff", "HEAD~1:jobs.lock", "HEAD:jobs.lock", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out) == EXPECTED_JSON
    assert seedrun("diff", f"{first}:jobs.lock", "jobs.lock", "--exit-code") == 1
    assert capsys.readouterr().out == EXPECTED_TEXT
    # One side given: compared with the working copy.
    assert seedrun("diff", "HEAD~1:jobs.lock", "--exit-code") == 1
    assert capsys.readouterr().out == EXPECTED_TEXT


def test_cli_no_arguments_compares_head_with_the_working_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path / "repo")
    write(repo / "jobs.lock", OLD)
    (repo / "jobs.yaml").write_text("version: 1\n")
    commit_all(repo, "first run")
    monkeypatch.chdir(repo)
    assert seedrun("diff", "--exit-code") == 0
    assert capsys.readouterr().out == "no changes (6 jobs unchanged)\n"
    write(repo / "jobs.lock", NEW)
    assert seedrun("diff", "--exit-code") == 1
    assert capsys.readouterr().out == EXPECTED_TEXT
    assert seedrun("diff", "--format", "markdown") == 0
    assert "`HEAD:jobs.lock` → `jobs.lock`" in capsys.readouterr().out
    # From another folder, with --lock: HEAD's version of that file.
    monkeypatch.chdir(tmp_path)
    assert seedrun("diff", "--lock", "repo/jobs.lock", "--exit-code") == 1
    assert capsys.readouterr().out == EXPECTED_TEXT


def test_cli_finding_the_lockfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert seedrun("diff") == 2
    assert capsys.readouterr().err == (
        "seedrun: no lockfile here (no *.lock in this folder); name one with --lock PATH\n"
    )
    write(tmp_path / "a.lock", OLD)
    write(tmp_path / "b.lock", NEW)
    assert seedrun("diff") == 2
    assert capsys.readouterr().err == (
        "seedrun: several lockfiles here (a.lock, b.lock); choose one with --lock PATH\n"
    )


def test_cli_git_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    plain = tmp_path / "plain"
    plain.mkdir()
    write(plain / "jobs.lock", OLD)
    monkeypatch.chdir(plain)
    assert seedrun("diff") == 2  # not a git repository
    err = capsys.readouterr().err
    assert err.startswith("seedrun: HEAD:jobs.lock: cannot read from git: not a git repository")
    assert err.count("\n") == 1

    repo = make_repo(tmp_path / "repo")
    write(repo / "jobs.lock", OLD)
    commit_all(repo, "first")
    monkeypatch.chdir(repo)
    assert seedrun("diff", "nosuchrev:jobs.lock", "jobs.lock") == 2
    assert capsys.readouterr().err == (
        "seedrun: nosuchrev:jobs.lock: cannot read from git: invalid object name 'nosuchrev'.\n"
    )
    assert seedrun("diff", "HEAD:other.lock", "jobs.lock") == 2
    assert capsys.readouterr().err == (
        "seedrun: HEAD:other.lock: cannot read from git: "
        "path 'other.lock' does not exist in 'HEAD'\n"
    )
    assert seedrun("diff", "--", "--output=x:jobs.lock", "jobs.lock") == 2
    assert capsys.readouterr().err == (
        "seedrun: --output=x:jobs.lock: a revision cannot start with '-'\n"
    )
    assert not (repo / "x").exists()
    # A lockfile not committed yet.
    write(repo / "new.lock", NEW)
    assert seedrun("diff", "--lock", "new.lock") == 2
    assert capsys.readouterr().err == (
        "seedrun: HEAD:new.lock: cannot read from git: "
        "path 'new.lock' exists on disk, but not in 'HEAD'\n"
    )
