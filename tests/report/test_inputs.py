"""What each card shows of a job's inputs, of a replaced result, and what it leaves out."""

from __future__ import annotations

from pathlib import PurePosixPath

from seedrun.lockfile import FileRef, Lock, LockEntry
from seedrun.report import render_report
from seedrun.report.model import Input, Previous, build
from seedrun.spec import load_spec

from .test_writer import _parse

SPEC = """\
version: 1
defaults: {model: doubao-seedance-2.0, duration: 5}
assets:
  bottle: {url: https://cdn.example.com/bottle.png, moderate: true}
jobs:
  - name: shot1
    prompt: "Use image 1 as the subject. A harbour at dawn"
    media:
      - {asset: bottle, role: reference_image}
      - {url: "asset://approved-123", role: reference_image}
  - name: shot2
    prompt: "Continue from image 1"
    media: [{from: shot1, frame: last, role: first_frame}]
  - name: unified
    api: unified
    prompt: "Use image 1"
    media: [{url: "https://cdn.example.com/u.jpg"}]
"""
LOCK_DIR = PurePosixPath("/work/campaign")


def _ref(path: str) -> FileRef:
    return FileRef(path, "0" * 64, 1)


def _build(lock: Lock) -> dict[str, object]:
    spec = load_spec(SPEC, "campaign/jobs.yaml")
    report = build(spec, lock, lock_dir=LOCK_DIR, report_dir=LOCK_DIR / "site")
    return {c.id: c for g in report.groups for c in g.cards}


def test_each_card_lists_its_inputs_and_a_chain_names_its_source() -> None:
    spec = load_spec(SPEC, "campaign/jobs.yaml")
    shot1 = spec.job("shot1")
    lock = Lock(
        jobs={
            "shot1": LockEntry(
                key=shot1.key, status="succeeded", last_frame=_ref("outputs/shot1.last.png")
            )
        }
    )
    cards = _build(lock)
    assert cards["shot1"].inputs == (  # type: ignore[attr-defined]
        Input(
            "image",
            "reference_image",
            "https://cdn.example.com/bottle.png",
            "https://cdn.example.com/bottle.png",
        ),
        Input("image", "reference_image", "asset://approved-123", None),
    )
    assert cards["shot2"].inputs == (  # type: ignore[attr-defined]
        Input("image", "first_frame", "last frame of shot1", "../outputs/shot1.last.png", "shot1"),
    )
    assert cards["unified"].inputs == (  # type: ignore[attr-defined]
        Input("image", None, "https://cdn.example.com/u.jpg", "https://cdn.example.com/u.jpg"),
    )


def test_a_chained_frame_not_made_yet_has_no_thumbnail() -> None:
    cards = _build(Lock())
    assert cards["shot2"].inputs == (  # type: ignore[attr-defined]
        Input("image", "first_frame", "last frame of shot1", None, "shot1"),
    )


def test_empty_fields_are_left_out() -> None:
    cards = _build(Lock())
    names = [n for n, _ in cards["shot1"].params]  # type: ignore[attr-defined]
    assert names == ["model", "duration", "return_last_frame"]  # not `extra {}`
    html = render_report(
        build(load_spec(SPEC, "jobs.yaml"), Lock(), lock_dir=LOCK_DIR, report_dir=LOCK_DIR)
    )
    assert "<dt>extra</dt>" not in html


def test_a_replaced_job_shows_the_previous_video_beside_the_new_one() -> None:
    spec = load_spec(SPEC, "jobs.yaml")
    job = spec.job("shot1")

    class Entry(LockEntry):  # stands in for the lock entry's `previous` field (issue 12)
        previous: object = None

    entry = Entry(key=job.key, status="succeeded", output=_ref("outputs/shot1.mp4"))
    object.__setattr__(
        entry,
        "previous",
        {"task_id": "task_old", "output": {"path": "outputs/shot1.prev.mp4", "sha256": "1"}},
    )
    report = build(spec, Lock(jobs={"shot1": entry}), lock_dir=LOCK_DIR, report_dir=LOCK_DIR)
    card = report.groups[0].cards[0]
    assert card.main.previous == Previous("outputs/shot1.prev.mp4", False, "task_old")
    page = _parse(render_report(report))
    videos = [v for v in page.all("div") if (v.get("data-src") or "").startswith("outputs/shot1")]
    assert [v["data-src"] for v in videos] == ["outputs/shot1.prev.mp4", "outputs/shot1.mp4"]
    html = render_report(report)
    assert "Before (replaced)" in html and "<code>task_old</code>" in html


def test_only_web_urls_and_local_files_become_thumbnails() -> None:
    from seedrun.report.model import _Links, _media_href

    links = _Links(LOCK_DIR, LOCK_DIR / "site", None, {})
    spec_dir = LOCK_DIR / "specs"
    assert _media_href("https://cdn.example.com/a.png", links, spec_dir) == (
        "https://cdn.example.com/a.png"
    )
    assert _media_href("asset://approved-1", links, spec_dir) is None
    assert _media_href("javascript:alert(1)", links, spec_dir) is None
    assert _media_href("data:image/png;base64,AAAA", links, spec_dir) is None
    assert _media_href("seedrun://last-frame/x@k", links, spec_dir) is None
    # a local file, relative to the spec, linked relative to the page
    assert _media_href("images/my shot #1.png", links, spec_dir) == (
        "../specs/images/my%20shot%20%231.png"
    )


def test_a_previous_result_with_a_script_url_is_not_linked() -> None:
    from seedrun.report.model import _Links, _previous

    links = _Links(LOCK_DIR, LOCK_DIR, None, {})
    assert _previous({"video_url": "javascript:alert(1)"}, links) is None
    assert _previous({"video_url": "https://x/v.mp4", "task_id": "t"}, links) == Previous(
        "https://x/v.mp4", True, "t"
    )
    assert _previous(None, links) is None


def test_a_local_image_shows_as_the_file_the_spec_named() -> None:
    """A local image stands in the body as seedrun://file/<sha256>; the spec maps it."""
    from dataclasses import dataclass, replace

    @dataclass(frozen=True)
    class LocalFile:  # the shape of seedrun.localrefs.LocalFile
        written: str
        path: str

    spec = load_spec(SPEC, "jobs.yaml")
    job = spec.job("unified")
    ref = "seedrun://file/" + "ab" * 32 + ".png"
    body = {**job.body, "images": [ref]}
    spec = replace(spec, jobs=(replace(job, body=body),))
    object.__setattr__(
        spec, "files", {ref: LocalFile("shots/hero one.png", "/work/campaign/shots/hero one.png")}
    )
    report = build(spec, Lock(), lock_dir=LOCK_DIR, report_dir=LOCK_DIR / "site")
    assert report.groups[0].cards[0].inputs == (
        Input("image", None, "shots/hero one.png", "../shots/hero%20one.png"),
    )
