"""validate / plan / render / schema through ``seedrun.cli.main``: exit codes and output."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from seedrun.cli import main
from seedrun.lockfile import Lock, LockEntry, dumps, lock_schema
from seedrun.spec import load_spec, schema

SPEC = textwrap.dedent(
    """\
    version: 1
    defaults: {duration: 5}
    jobs:
      - name: shot
        prompt: "A {{ look }} room."
        matrix: {look: [dark, light]}
      - name: next
        prompt: Continue from image 1.
        media: [{from: "shot[look=dark]", role: first_frame}]
    """
)


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.yaml").write_text(SPEC, encoding="utf-8")
    return tmp_path


def keys() -> dict[str, str]:
    return {j.id: j.key for j in load_spec(SPEC, "spec.yaml").jobs}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_validate(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "validate", "spec.yaml") == (0, "spec.yaml: valid, 3 jobs\n", "")


def test_validate_counts_promoted_finals(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "d.yaml").write_text(
        "version: 1\njobs: [{name: a, prompt: p, draft: true}]\npromote: [a]\n", encoding="utf-8"
    )
    assert run(capsys, "validate", "d.yaml") == (
        0,
        "d.yaml: valid, 2 jobs (1 promoted from drafts)\n",
        "",
    )


def test_invalid_spec(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "bad.yaml").write_text(
        "version: 1\njobs:\n  - name: a\n    promt: x\n    ratio: 5:3\n", encoding="utf-8"
    )
    assert run(capsys, "validate", "bad.yaml") == (
        2,
        "",
        "bad.yaml:3:5: jobs[0]: missing required key 'prompt'\n"
        "bad.yaml:4:5: jobs[0].promt: unknown key 'promt'; did you mean 'prompt'?\n"
        'bad.yaml:5:12: jobs[0].ratio: "5:3" is not allowed; allowed: "16:9", "4:3", "1:1", '
        '"3:4", "9:16", "21:9", "adaptive"\n'
        "seedrun: 3 errors in spec\n",
    )


def test_yaml_syntax_error(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "bad.yaml").write_text("version: 1\njobs: [\n", encoding="utf-8")
    assert run(capsys, "validate", "bad.yaml") == (
        2,
        "",
        "bad.yaml:2:7: YAML syntax error: the '[' opened here is never closed "
        "(expected the node content, but found '<stream end>')\n"
        "seedrun: 1 error in spec\n",
    )


@pytest.mark.parametrize("command", ["validate", "plan", "render"])
def test_unreadable_spec_files(
    here: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    (here / "folder.yaml").mkdir()
    (here / "latin1.yaml").write_bytes(b"version: 1\njobs: [{name: a, prompt: caf\xe9}]\n")
    assert run(capsys, command, "missing.yaml") == (
        2,
        "",
        "seedrun: missing.yaml: spec not found\n",
    )
    assert run(capsys, command, "folder.yaml") == (
        2,
        "",
        "seedrun: folder.yaml: spec is a directory, not a file\n",
    )
    assert run(capsys, command, "latin1.yaml") == (
        2,
        "",
        "seedrun: latin1.yaml: spec is not UTF-8 text (byte 39)\n",
    )


def test_plan_text(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    k = keys()
    code, out, err = run(capsys, "plan", "spec.yaml")
    assert (code, err) == (0, "")
    assert out == (
        f"create  shot[look=dark]  {k['shot[look=dark]'][:12]}\n"
        f"create  shot[look=light]  {k['shot[look=light]'][:12]}\n"
        f"create  next  {k['next'][:12]}  after shot[look=dark]\n"
        "\n"
        "Plan for spec.yaml against spec.lock: 3 create\n"
        # no usage recorded yet: 720p 16:9 by default, 1248 x 704 x 24 fps x 5 s / 1024 each
        "Estimate: 308,880 tokens for 3 new task(s) (3 from the formula)\n"
    )


def test_plan_json_against_the_default_lock(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    k = keys()
    lock = Lock(
        {},
        {
            "shot[look=dark]": LockEntry(k["shot[look=dark]"], "succeeded", task_id="t1"),
            "shot[look=light]": LockEntry("f" * 64, "succeeded", task_id="t2"),
            "old": LockEntry("e" * 64, "failed"),
        },
    )
    (here / "spec.lock").write_text(dumps(lock), encoding="utf-8")
    code, out, err = run(capsys, "plan", "spec.yaml", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "jobs": [
            {
                "id": "shot[look=dark]",
                "action": "download",
                "key": k["shot[look=dark]"],
                "reason": "video not downloaded yet",
            },
            {
                "id": "shot[look=light]",
                "action": "replace",
                "key": k["shot[look=light]"],
                "reason": "request changed",
                "old_key": "f" * 64,
                "estimate_tokens": 102_960,
                "estimate_source": "formula",
            },
            {
                "id": "next",
                "action": "create",
                "key": k["next"],
                "after": ["shot[look=dark]"],
                "estimate_tokens": 102_960,
                "estimate_source": "formula",
            },
            {"id": "old", "action": "orphan", "key": "e" * 64, "reason": "no longer in the spec"},
        ],
        "counts": {"create": 1, "replace": 1, "download": 1, "orphan": 1},
        "estimate": {"jobs": 2, "known": 2, "tokens": 205_920, "sources": {"formula": 2}},
    }


def test_plan_select_replace_and_lock_path(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    k = keys()
    lock = Lock({}, {j: LockEntry(key, "cancelled") for j, key in k.items()})
    (here / "other.lock").write_text(dumps(lock), encoding="utf-8")
    code, out, _ = run(
        capsys,
        "plan",
        "spec.yaml",
        "--lock",
        "other.lock",
        "--select",
        "next",
        "--replace",
        "shot*",
        "--json",
    )
    assert code == 0
    assert [(i["id"], i["action"], i.get("reason")) for i in json.loads(out)["jobs"]] == [
        ("shot[look=dark]", "replace", "--replace"),
        ("next", "retry", "cancelled"),
    ]


def test_select_that_matches_nothing(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("plan", "render"):
        assert run(capsys, command, "spec.yaml", "--select", "nope*") == (
            2,
            "",
            "seedrun: --select 'nope*' matches no job; job ids are like: "
            "shot[look=dark], shot[look=light], next\n",
        )


def test_invalid_lock(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "spec.lock").write_text("version: 1\njobs:\n  a: {key: x, status: failed}\n")
    code, out, err = run(capsys, "plan", "spec.yaml")
    assert (code, out) == (2, "")
    assert err == (
        "seedrun: spec.lock:3: jobs.a.key: not a valid lockfile: "
        "'x' does not match '^[0-9a-f]{64}$'\n"
    )


def test_render_json_lines(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    k = keys()
    code, out, err = run(capsys, "render", "spec.yaml", "--select", "next")
    assert (code, err) == (0, "")
    assert [json.loads(line) for line in out.splitlines()] == [
        {
            "id": "shot[look=dark]",
            "api": "official",
            "key": k["shot[look=dark]"],
            "body": {
                "model": "doubao-seedance-2.0",
                "content": [{"type": "text", "text": "A dark room."}],
                "duration": 5,
                "return_last_frame": True,
            },
        },
        {
            "id": "next",
            "api": "official",
            "key": k["next"],
            "body": {
                "model": "doubao-seedance-2.0",
                "content": [
                    {"type": "text", "text": "Continue from image 1."},
                    {
                        "type": "image_url",
                        "image_url": {
                            "url": f"seedrun://last-frame/shot[look=dark]@{k['shot[look=dark]']}"
                        },
                        "role": "first_frame",
                    },
                ],
                "duration": 5,
            },
            "after": ["shot[look=dark]"],
        },
    ]


def test_render_everything(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "render", "spec.yaml")
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == [
        "shot[look=dark]",
        "shot[look=light]",
        "next",
    ]


def test_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    assert (code, json.loads(out)) == (0, schema())
    code, out, _ = run(capsys, "schema", "--lock")
    assert (code, json.loads(out)) == (0, lock_schema())
