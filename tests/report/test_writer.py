from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from seedrun import cli
from seedrun.lockfile import FileRef, Lock, LockEntry, dumps
from seedrun.report import render_report, write_report
from seedrun.report.model import build
from seedrun.report.writer import script_hash
from seedrun.spec import Spec

from .helpers import make_job, make_spec

HOSTILE = "</script><script>alert(1)</script><img src=x onerror=\"alert(2)\"> & 'quotes'"
REMOTE = "https://files.example.com/v/2.mp4?sig=a&b=<c>"
SPEC_YAML = """\
version: 1
defaults: {model: doubao-seedance-2.0, duration: 5}
jobs:
  - name: spin
    prompt: "A bottle on {{ backdrop }}"
    matrix:
      backdrop: [marble, moss]
      ratio: ["16:9", "9:16"]
  - name: city
    prompt: A city at dawn
"""


class _Page(HTMLParser):
    """Every start tag with its attributes, and the text of each <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for t, attrs in self.tags if t == tag]


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def _campaign(tmp_path: Path) -> tuple[Path, Lock]:
    """A spec with a hostile prompt, one downloaded and one remote-only video."""
    lock_path = tmp_path / "runs" / "launch.lock"
    (lock_path.parent / "outputs").mkdir(parents=True)
    (lock_path.parent / "outputs" / "a.mp4").write_bytes(b"not really a video")
    return lock_path, Lock(
        jobs={
            "a": LockEntry(
                key="key-a",
                status="succeeded",
                output=FileRef("outputs/a.mp4", "0" * 64, 18),
                last_frame_url="https://files.example.com/a.png",
            ),
            "b": LockEntry(key="key-b", status="succeeded", video_url=REMOTE),
            "c": LockEntry(key="key-c", status="failed", error={"code": "x", "message": HOSTILE}),
        }
    )


def _spec() -> Spec:
    return make_spec(
        make_job("a", prompt=HOSTILE, matrix=(("look", HOSTILE),)),
        make_job("b"),
        make_job("c"),
    )


def test_write_report_links_videos_relative_to_the_page(tmp_path: Path) -> None:
    lock_path, lock = _campaign(tmp_path)
    out = tmp_path / "site" / "deep" / "index.html"

    assert write_report(_spec(), lock, lock_path=lock_path, out=out) == out

    page = _parse(out.read_text(encoding="utf-8"))
    players = [d for d in page.all("div") if d.get("class") == "player"]
    assert [(v["data-src"], v.get("data-poster")) for v in players] == [
        ("../../runs/outputs/a.mp4", "https://files.example.com/a.png"),
        (REMOTE, None),
    ]
    # Nothing loads up front: the script makes a player when one nears the viewport.
    assert page.all("video") == []
    assert sorted(p.name for p in out.parent.iterdir()) == ["index.html"]  # no temp file left


def test_spec_and_server_text_is_escaped(tmp_path: Path) -> None:
    lock_path, lock = _campaign(tmp_path)
    out = write_report(_spec(), lock, lock_path=lock_path, out=tmp_path / "r.html")
    html = out.read_text(encoding="utf-8")
    page = _parse(html)

    assert HOSTILE not in html
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x" in html
    assert [s for s in page.all("script")] == [
        {"type": "application/json", "id": "report-data"},
        {},
    ]
    data = page.scripts[0]
    assert "<" not in data and ">" not in data and "&" not in data
    assert "\\u003c/script\\u003e" in data
    # the hostile <img> stayed text: the only image is the recorded last frame
    assert [i["src"] for i in page.all("img")] == ["https://files.example.com/a.png"]


def test_page_is_self_contained_and_script_is_pinned_by_hash(tmp_path: Path) -> None:
    lock_path, lock = _campaign(tmp_path)
    html = write_report(_spec(), lock, lock_path=lock_path, out=tmp_path / "r.html").read_text()
    page = _parse(html)

    assert page.all("link") == [] and page.all("iframe") == [] and page.all("object") == []
    assert all("src" not in s for s in page.all("script"))
    assert "@import" not in html and "url(" not in html
    # The only absolute URLs are the recorded remote media (and their "open" links).
    urls = {
        a.get(k)
        for _, a in page.tags
        for k in ("src", "href", "poster", "data-src", "data-poster")
        if a.get(k)
    }
    assert {u for u in urls if u and ":" in u} == {REMOTE, "https://files.example.com/a.png"}
    csp = next(m["content"] for m in page.all("meta") if m.get("http-equiv"))
    assert csp is not None and "default-src 'none'" in csp
    assert f"script-src '{script_hash(page.scripts[1])}'" in csp


def test_the_api_key_never_reaches_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-report-canary-4Hq8Wn2Zr"
    monkeypatch.setenv("SEEDRUN_API_KEY", key)
    lock_path, lock = _campaign(tmp_path)
    html = write_report(_spec(), lock, lock_path=lock_path, out=tmp_path / "r.html").read_text()
    assert key not in html


def test_page_is_accessible_markup() -> None:
    jobs = [
        make_job(f"s{i}", name="spin", matrix=(("backdrop", b), ("ratio", r)))
        for i, (b, r) in enumerate([("marble", "16:9"), ("moss", "9:16")])
    ]
    shot = make_job("shot")
    lock = Lock(
        jobs={
            "shot": LockEntry(
                key=shot.key,
                status="succeeded",
                output=FileRef("outputs/shot.mp4", "0" * 64, 1),
                last_frame=FileRef("outputs/shot.last.png", "0" * 64, 1),
            )
        }
    )
    report = build(make_spec(*jobs, shot), lock, lock_dir=Path("/x"), report_dir=Path("/x"))
    html = render_report(report)
    page = _parse(html)

    assert page.all("html") == [{"lang": "en"}]
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in page.all(
        "meta"
    )
    assert len(page.all("h1")) == 1 and len(page.all("h2")) == 2
    labels = {a["for"] for a in page.all("label")}
    controls = page.all("select") + page.all("input")
    assert len(controls) == 7  # status, search, view, rows, columns, one filter per axis
    assert all(c["id"] in labels for c in controls)
    assert all(b.get("type") == "button" for b in page.all("button"))
    assert page.all("img") == [
        {
            "class": "frame",
            "src": "outputs/shot.last.png",
            "alt": "Last frame of shot",
            "loading": "lazy",
        }
    ]
    assert [d["data-poster"] for d in page.all("div") if "data-poster" in d] == [
        "outputs/shot.last.png"
    ]
    # rows and columns default to the first two axes
    selected = re.findall(r'data-layout="(\w+)">.*?<option value="(\w+)" selected', html, re.S)
    assert selected == [("rows", "backdrop"), ("cols", "ratio")]


def test_report_command_writes_beside_the_lockfile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "launch.yaml"
    spec.write_text(SPEC_YAML)
    (tmp_path / "launch.lock").write_text(
        dumps(
            Lock(
                jobs={
                    "city": LockEntry(
                        key="0" * 64, status="failed", error={"code": "x", "message": "boom"}
                    )
                }
            )
        )
    )

    assert cli.main(["report", str(spec)]) == 0

    out = tmp_path / f"{spec.stem}.report.html"  # each spec its own page
    assert capsys.readouterr().out == f"report: {out}\n"
    html = out.read_text()
    assert html.count('<article class="card') == 5
    assert "x: boom" in html


def test_report_command_without_a_lockfile_shows_pending_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "launch.yaml"
    spec.write_text(SPEC_YAML)
    out = tmp_path / "site" / "gallery.html"

    assert cli.main(["report", str(spec), "--lock", str(tmp_path / "x.lock"), "-o", str(out)]) == 0

    captured = capsys.readouterr()
    assert captured.err == f"no lockfile at {tmp_path / 'x.lock'}: every job is shown as pending\n"
    assert out.read_text().count('data-status="pending"') == 5


def test_report_command_with_a_bad_spec_exits_2(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("version: 1\njobs: []\n")
    assert cli.main(["report", str(spec)]) == 2
    assert not (tmp_path / "report.html").exists()


def test_an_unwritable_destination_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "launch.yaml"
    spec.write_text(SPEC_YAML)
    (tmp_path / "taken").write_text("a file, not a folder")
    out = tmp_path / "taken" / "report.html"

    assert cli.main(["report", str(spec), "-o", str(out)]) == 2

    err = capsys.readouterr().err.splitlines()
    assert err[-1] == f"seedrun: {out}: cannot write the report: File exists"
