"""The gallery in a real browser (Chromium via playwright), from file://.

Plain sync tests: playwright's sync API runs its own loop, which pytest-trio
leaves alone for non-async tests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import seedrun.sim
from seedrun.lockfile import FileRef, Lock, LockEntry
from seedrun.report import write_report
from seedrun.spec import load_spec

from .conftest import offline_context
from .helpers import Campaign

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ALL_CARDS = {
    "spin[backdrop=marble,ratio=16:9]",
    "spin[backdrop=marble,ratio=9:16]",
    "spin[backdrop=moss,ratio=16:9]",
    "spin[backdrop=moss,ratio=9:16]",
    "look[look=warm]",  # with its final beside it
    "look[look=cold]",
    "oops",
    "banned",
    "shot1",
    "shot2",
}
VISIBLE_CARDS = "els => els.filter(e => e.checkVisibility()).map(e => e.dataset.job)"
# Videos load only near the viewport: scroll to each and wait until it has a frame.
# Gives [src, best readyState] per video.
PLAY_EACH = """async () => {
  const out = [];
  for (const box of document.querySelectorAll('.player')) {
    box.scrollIntoView({block: 'center'});
    const t0 = performance.now();
    const video = () => box.querySelector('video');
    while (!(video() && video().readyState >= 2) && performance.now() - t0 < 15000) {
      await new Promise(r => setTimeout(r, 20));
    }
    out.push(video() ? [video().src, video().readyState] : ['', 0]);
  }
  return out;
}"""


class Problems(list[str]):
    """Console errors, page errors and failed requests seen by a page."""


@pytest.fixture
def page(browser: Browser, campaign: Campaign) -> Iterator[tuple[Page, Problems]]:
    context, _ = offline_context(browser, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    problems = Problems()
    tab.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning")
            else None
        ),
    )
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    tab.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))
    tab.goto(campaign.report.as_uri())
    try:
        yield tab, problems
    finally:
        context.close()


def _visible(tab: Page) -> set[str]:
    return set(tab.eval_on_selector_all("article.card", VISIBLE_CARDS))


def test_every_video_plays_from_file_url(page: tuple[Page, Problems], campaign: Campaign) -> None:
    tab, problems = page
    states = tab.evaluate(PLAY_EACH)
    assert all(ready >= 2 for _, ready in states), f"videos not ready: {states}; {problems}"
    sources = [src for src, _ in states]
    # 9 succeeded jobs, all downloaded, linked relative to site/index.html
    assert len(sources) == 9
    assert all(s.startswith((campaign.folder / "outputs").as_uri() + "/") for s in sources)
    poster = tab.get_attribute("[data-job='shot1'] video", "poster")
    assert poster == "../outputs/campaign/shot1.last.png"
    # Each card shows its inputs: the chained frame links to its source's card.
    chain = tab.locator("article[data-job='shot2'] .inputs a[data-chain]")
    assert chain.inner_text() == "shot1"
    assert chain.get_attribute("href") == "#" + tab.get_attribute("article[data-job='shot1']", "id")
    assert tab.inner_text("article[data-job='shot2'] .inputs li").split() == [
        "first",
        "frame",
        "last",
        "frame",
        "of",
        "shot1",
    ]
    assert tab.get_attribute("article[data-job='shot2'] .inputs img", "src") == (
        "../outputs/campaign/shot1.last.png"
    )
    # The promoted draft and its final play side by side in one card.
    pair = tab.locator("article[data-job='look[look=warm]'] .panel")
    assert pair.evaluate_all("ps => ps.map(p => p.dataset.job)") == [
        "look[look=warm]",
        "look[look=warm]#final",
    ]
    boxes = [pair.nth(i).bounding_box() for i in range(2)]
    assert boxes[0] and boxes[1] and boxes[0]["y"] == boxes[1]["y"]
    assert tab.inner_text("[data-job='oops'] .problem").startswith("Error: task_failed: ")
    assert tab.inner_text("[data-job='banned'] .problem").startswith(
        "Blocked: asset https://cdn.example.com/catalog/reject-me.png failed moderation"
    )
    # text, not markup (text_content: an off-screen card's text is not rendered yet)
    assert "<script>alert(1)</script>" in (tab.text_content("[data-job^='spin'] .prompt") or "")
    assert problems == []


def test_filters_hide_exactly_the_right_cards(page: tuple[Page, Problems]) -> None:
    tab, problems = page
    assert _visible(tab) == ALL_CARDS
    assert tab.inner_text("#f-summary") == "Showing 10 of 10 variants"

    tab.select_option("#f-status", "failed")
    assert _visible(tab) == {"oops"}
    tab.select_option("#f-status", "blocked")
    assert _visible(tab) == {"banned"}
    tab.select_option("#f-status", "succeeded")
    assert _visible(tab) == ALL_CARDS - {"oops", "banned"}

    tab.select_option("select[data-axis='backdrop']", "moss")
    assert _visible(tab) == ALL_CARDS - {
        "oops",
        "banned",
        "spin[backdrop=marble,ratio=16:9]",
        "spin[backdrop=marble,ratio=9:16]",
    }
    tab.select_option("#f-status", "")
    tab.select_option("select[data-axis='ratio']", "9:16")
    assert {c for c in _visible(tab) if c.startswith("spin")} == {"spin[backdrop=moss,ratio=9:16]"}

    tab.click("#f-clear")
    tab.fill("#f-search", "HARBOUR")
    assert _visible(tab) == {"shot1"}
    assert tab.inner_text("#f-summary") == "Showing 1 of 10 variants"
    tab.fill("#f-search", "no such words")
    assert _visible(tab) == set()
    assert tab.is_visible("#g0 .none")
    assert problems == []


def test_grid_rows_and_columns_are_the_axes_picked(page: tuple[Page, Problems]) -> None:
    tab, problems = page
    spin = "#g0 .grid-wrap table"

    def cells() -> list[list[str]]:
        got: list[list[str]] = tab.eval_on_selector(
            spin,
            """t => [...t.rows].map(r => [...r.cells].map(c =>
                c.tagName === 'TH' ? c.textContent
                : [...c.querySelectorAll('article')].map(a => a.dataset.job).join(' ')))""",
        )
        return got

    # default: the first two axes, backdrop (rows) x ratio (columns)
    assert cells() == [
        ["backdrop \\ ratio", "16:9", "9:16"],
        ["marble", "spin[backdrop=marble,ratio=16:9]", "spin[backdrop=marble,ratio=9:16]"],
        ["moss", "spin[backdrop=moss,ratio=16:9]", "spin[backdrop=moss,ratio=9:16]"],
    ]
    tab.select_option("#g0-rows", "ratio")
    tab.select_option("#g0-cols", "backdrop")
    assert cells() == [
        ["ratio \\ backdrop", "marble", "moss"],
        ["16:9", "spin[backdrop=marble,ratio=16:9]", "spin[backdrop=moss,ratio=16:9]"],
        ["9:16", "spin[backdrop=marble,ratio=9:16]", "spin[backdrop=moss,ratio=9:16]"],
    ]
    tab.select_option("#g0-rows", "")
    tab.select_option("#g0-cols", "")
    assert not tab.is_visible(spin)
    assert len(_visible(tab)) == 10
    # cards moved between the grid and the list still play
    assert all(ready >= 2 for _, ready in tab.evaluate(PLAY_EACH))
    assert problems == []


def test_keyboard_reaches_the_controls_with_a_visible_focus(page: tuple[Page, Problems]) -> None:
    tab, problems = page
    tab.keyboard.press("Tab")
    assert tab.evaluate("() => document.activeElement.className") == "skip"
    tab.keyboard.press("Tab")
    assert tab.evaluate("() => document.activeElement.id") == "f-status"
    outline = tab.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    tab.keyboard.press("Tab")
    tab.keyboard.type("boat")
    assert _visible(tab) == {"shot2"}
    tab.keyboard.press("Tab")  # to "Clear filters"
    tab.keyboard.press("Enter")
    assert len(_visible(tab)) == 10
    assert problems == []


def test_screenshots_on_desktop_and_phone(
    browser: Browser, campaign: Campaign, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("screenshots")
    for name, width in (("desktop", 1280), ("phone", 390)):
        context, _ = offline_context(browser, viewport={"width": width, "height": 844})
        try:
            tab = context.new_page()
            tab.goto(campaign.report.as_uri())
            assert all(ready >= 2 for _, ready in tab.evaluate(PLAY_EACH))
            tab.evaluate("() => window.scrollTo(0, 0)")
            # the page itself never scrolls sideways; wide grids scroll in their box
            assert tab.evaluate("() => document.documentElement.scrollWidth") <= width
            tab.screenshot(path=folder / f"{name}.png", full_page=True)
        finally:
            context.close()
        assert (folder / f"{name}.png").stat().st_size > 10_000


BIG_SPEC = """\
version: 1
defaults: {model: doubao-seedance-2.0, duration: 5}
jobs:
  - name: grid
    prompt: "Variant {{ a }} / {{ b }}"
    matrix:
      a: [%s]
      b: [%s]
"""


@pytest.fixture(scope="session")
def big_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40 x 25 matrix, every variant succeeded with its own downloaded video."""
    folder = tmp_path_factory.mktemp("big")
    text = BIG_SPEC % (", ".join(f"a{i}" for i in range(40)), ", ".join(f"b{i}" for i in range(25)))
    (folder / "jobs.yaml").write_text(text, encoding="utf-8")
    spec = load_spec(text, str(folder / "jobs.yaml"))
    video = (Path(seedrun.sim.__file__).parent / "media" / "video-b.mp4").read_bytes()
    (folder / "outputs").mkdir()
    entries = {}
    for i, job in enumerate(spec.jobs):
        name = f"outputs/v{i}.mp4"
        (folder / name).write_bytes(video)
        entries[job.id] = LockEntry(
            key=job.key, status="succeeded", output=FileRef(name, "0" * 64, len(video))
        )
    assert len(entries) == 1000
    lock_path = folder / "jobs.lock"
    return write_report(spec, Lock(jobs=entries), lock_path=lock_path, out=folder / "report.html")


def test_a_thousand_variants_open_in_under_two_seconds(browser: Browser, big_report: Path) -> None:
    context, asked = offline_context(browser, viewport={"width": 1280, "height": 900})
    try:
        tab = context.new_page()
        problems: list[str] = []
        tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        start = time.monotonic()
        tab.goto(big_report.as_uri(), wait_until="load", timeout=30_000)
        # The page answers (its script finished laying out) and the grid is built.
        assert tab.inner_text("#f-summary") == "Showing 1000 of 1000 variants"
        opened = time.monotonic() - start
        assert opened < 2.0, f"a 1,000-variant report took {opened:.2f} s to open"
        # Only the videos near the viewport have a player.
        tab.wait_for_selector(".player video")
        players = tab.evaluate("() => document.querySelectorAll('video').length")
        assert 0 < players < 100
        assert tab.evaluate("() => document.querySelectorAll('.player').length") == 1000

        # The contact sheet shows many more variants on one screen.
        def on_screen() -> int:
            n: int = tab.evaluate(
                """() => [...document.querySelectorAll('article.card')].filter(c => {
                    const r = c.getBoundingClientRect();
                    return r.bottom > 0 && r.top < innerHeight && r.right > 0
                        && r.left < innerWidth && r.width > 0; }).length"""
            )
            return n

        cards = on_screen()
        tab.select_option("#f-view", "sheet")
        sheet = on_screen()
        assert sheet >= 3 * cards, (cards, sheet)
        assert problems == [] and asked == []
    finally:
        context.close()
