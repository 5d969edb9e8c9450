"""Chains in review: diff and plan name a chained frame's source, never its temporary URL."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seedrun import plan as planner
from seedrun.diff import diff_locks, render_text
from seedrun.files import read_lock
from seedrun.lockfile import Lock, LockEntry
from seedrun.markdown import diff_markdown
from seedrun.spec import load_spec

STORY = """\
version: 1
defaults: {duration: 5}
jobs:
  - name: opener
    prompt: "A lighthouse at dusk, {{ look }} grade"
    matrix: {look: [warm, cold]}
  - name: next
    prompt: "Continue from image 1: the lamp turns on"
    media: [{from: "opener[look={{ look }}]", frame: last, role: first_frame}]
    matrix: {look: [warm, cold]}
"""
URL = re.compile(r"https?://127\.0\.0\.1[^\s)|\"]*")


def _apply(folder: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "seedrun", "apply", "story.yaml", "--sim", "--quiet",
         "--sim-task-seconds", "0.1,0.2", "--no-report"],
        cwd=folder, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lock, Lock, Path]:
    """The storyboard applied, then applied again after the warm opener's prompt changed."""
    folder = tmp_path_factory.mktemp("story")
    spec = folder / "story.yaml"
    spec.write_text(STORY, encoding="utf-8")
    _apply(folder)
    shutil.copy(folder / "story.lock", folder / "before.lock")
    spec.write_text(STORY.replace("{{ look }} grade", "{{ look }} colour grade"), encoding="utf-8")
    _apply(folder)
    return read_lock(folder / "before.lock"), read_lock(folder / "story.lock"), folder


def test_diff_names_the_source_of_a_chained_frame(runs: tuple[Lock, Lock, Path]) -> None:
    before, after, _ = runs
    result = diff_locks(before, after)
    change = next(c for c in result.changes if c.id == "next[look=warm]")
    assert change.change == "replaced"
    assert set(change.fields) == {"key", "first frame"}
    assert change.fields["first frame"].to_json() == {
        "old": "last frame of `opener[look=warm]`",
        "new": "last frame of `opener[look=warm]`",
        "note": "which was replaced",
    }
    text = render_text(result)
    assert "first frame: last frame of `opener[look=warm]`, which was replaced" in text
    assert URL.findall(text) == []  # no temporary frame URL, nor any other


def test_markdown_shows_the_source_not_the_url(runs: tuple[Lock, Lock, Path]) -> None:
    before, after, _ = runs
    text = diff_markdown(diff_locks(before, after), old_label="a", new_label="b")
    row = next(ln for ln in text.splitlines() if ln.startswith("| `next[look=warm]`"))
    assert "first frame: last frame of `opener[look=warm]`, which was replaced" in row
    # The only URLs are the new videos' links (the Video column); no frame URL.
    assert [u for u in URL.findall(text) if "/videos/" not in u] == []


def test_plan_says_a_dependent_is_replaced_because_its_source_is(
    runs: tuple[Lock, Lock, Path],
) -> None:
    before, _, _ = runs
    spec = load_spec(STORY.replace("warm, cold", "warm, cold").replace(
        "{{ look }} grade", "{{ look }} colour grade"), "story.yaml")  # fmt: skip
    items = {i.id: i for i in planner.plan(spec.jobs, before)}
    assert items["opener[look=warm]"].reason == "changed: prompt"
    assert items["next[look=warm]"].action == "replace"
    assert items["next[look=warm]"].reason == (
        "first frame: last frame of `opener[look=warm]`, which is replaced"
    )


def test_plan_names_own_changes_and_the_chain_together(runs: tuple[Lock, Lock, Path]) -> None:
    before, _, _ = runs
    text = STORY.replace("{{ look }} grade", "{{ look }} colour grade").replace(
        "the lamp turns on", "the lamp flickers"
    )
    items = {i.id: i for i in planner.plan(load_spec(text, "story.yaml").jobs, before)}
    assert items["next[look=cold]"].reason == (
        "changed: prompt; first frame: last frame of `opener[look=cold]`, which is replaced"
    )


def _recorded(spec_text: str, frame_url: str) -> Lock:
    """The lock a run of ``spec_text`` leaves, the dependents sent ``frame_url``."""
    from seedrun.requests import fill_slots

    spec = load_spec(spec_text, "story.yaml")
    jobs = {}
    for job in spec.jobs:
        body = fill_slots(job.body, job.slots, lambda _slot: frame_url)
        jobs[job.id] = LockEntry(job.key, "succeeded", request=body, task_id=f"t-{job.key[:8]}")
    return Lock(jobs=jobs)


def test_a_frame_fetched_afresh_is_placed_by_the_key() -> None:
    """A source finished in an earlier run gives its dependents a freshly fetched frame
    URL that no entry recorded: the source is found by the dependent's own key."""
    flicker = STORY.replace("the lamp turns on", "the lamp flickers")
    old = _recorded(STORY, "https://files.example.com/frames/old.png?sig=1")
    new = _recorded(flicker, "https://files.example.com/frames/new.png?sig=2")
    result = diff_locks(old, new)
    change = next(c for c in result.changes if c.id == "next[look=warm]")
    # The source did not change: its refreshed URL is not a change to review.
    assert set(change.fields) == {"key", "prompt"}
    assert "files.example.com" not in render_text(result)

    regraded = _recorded(
        flicker.replace("{{ look }} grade", "{{ look }} colour grade"),
        "https://files.example.com/frames/newer.png?sig=3",
    )
    change = next(c for c in diff_locks(old, regraded).changes if c.id == "next[look=warm]")
    assert change.fields["first frame"].to_json() == {
        "old": "last frame of `opener[look=warm]`",
        "new": "last frame of `opener[look=warm]`",
        "note": "which was replaced",
    }
    assert "files.example.com" not in render_text(diff_locks(old, regraded))


def test_cli_plan_json_carries_the_reason(runs: tuple[Lock, Lock, Path]) -> None:
    _, _, folder = runs
    (folder / "edit.yaml").write_text(STORY.replace("dusk", "dawn"), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "seedrun", "plan", "edit.yaml", "--lock", "story.lock", "--json"],
        cwd=folder, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    jobs = {j["id"]: j for j in json.loads(done.stdout)["jobs"]}
    assert jobs["next[look=cold]"]["reason"] == (
        "first frame: last frame of `opener[look=cold]`, which is replaced"
    )


def test_a_refreshed_frame_of_an_unchanged_source_is_not_a_change() -> None:
    old = Lock(
        jobs={
            "a": LockEntry("ka", "succeeded", task_id="t1", last_frame_url="https://x/f1.png"),
            "b": LockEntry(
                "kb",
                "succeeded",
                request={"content": [
                    {"type": "text", "text": "go"},
                    {"type": "image_url", "image_url": {"url": "https://x/f1.png"},
                     "role": "first_frame"},
                ]},
            ),
        }
    )  # fmt: skip
    a2 = old.jobs["a"].with_(last_frame_url="https://x/f2.png")
    b = old.jobs["b"]
    assert b.request is not None
    content = [dict(c) for c in b.request["content"]]
    content[1] = {**content[1], "image_url": {"url": "https://x/f2.png"}}
    new = Lock(jobs={"a": a2, "b": b.with_(key="kb2", request={"content": content})})
    change = diff_locks(old, new).changes[-1]
    assert change.id == "b" and set(change.fields) == {"key"}  # the URL is not shown


def test_markdown_what_changed_shows_old_and_new_values() -> None:
    def entry(key: str, url: str) -> LockEntry:
        body = {"content": [
            {"type": "text", "text": "go"},
            {"type": "image_url", "image_url": {"url": url}, "role": "reference_image"},
        ]}  # fmt: skip
        return LockEntry(key, "succeeded", request=body)

    old_url = "https://cdn.example.com/catalog/summer-campaign/bottle-front-view-v1.png"
    new_url = "https://cdn.example.com/catalog/summer-campaign/bottle-front-view-v2.png"
    result = diff_locks(
        Lock(jobs={"a": entry("k1", old_url)}), Lock(jobs={"a": entry("k2", new_url)})
    )
    row = next(ln for ln in diff_markdown(result, old_label="a", new_label="b").splitlines()
               if ln.startswith("| `a`"))  # fmt: skip
    what = row.split(" | ")[3]
    # Both sides, each from a little before where they differ.
    assert what == "`content[1].image_url.url`: …front-view-v1.png → …front-view-v2.png"
