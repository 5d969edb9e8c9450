"""The gallery in a real browser (Chromium via playwright), from file://.

Plain sync tests: playwright's sync API runs its own loop, which pytest-trio
leaves alone for non-async tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

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
VIDEOS_READY = "() => [...document.querySelectorAll('video')].every(v => v.readyState >= 2)"
VIDEO_STATES = "() => [...document.querySelectorAll('video')].map(v => [v.src, v.readyState])"


class Problems(list[str]):
    """Console errors, page errors and failed requests seen by a page."""


@pytest.fixture
def page(browser: Browser, campaign: Campaign) -> Iterator[tuple[Page, Problems]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
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
    try:
        tab.wait_for_function(VIDEOS_READY, timeout=20_000)
    except Exception:
        pytest.fail(f"videos not ready: {tab.evaluate(VIDEO_STATES)}; {problems}")
    sources = [src for src, _ in tab.evaluate(VIDEO_STATES)]
    # 9 succeeded jobs, all downloaded, linked relative to site/index.html
    assert len(sources) == 9
    assert all(s.startswith((campaign.folder / "outputs").as_uri() + "/") for s in sources)
    poster = tab.get_attribute("[data-job='shot1'] video", "poster")
    assert poster == "../outputs/campaign/shot1.last.png"
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
    assert "<script>alert(1)</script>" in tab.inner_text("[data-job^='spin'] .prompt")
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
    # moving cards between the grid and the list keeps the videos loaded
    tab.wait_for_function(VIDEOS_READY, timeout=20_000)
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
        context = browser.new_context(viewport={"width": width, "height": 844})
        try:
            tab = context.new_page()
            tab.goto(campaign.report.as_uri())
            tab.wait_for_function(VIDEOS_READY, timeout=20_000)
            # the page itself never scrolls sideways; wide grids scroll in their box
            assert tab.evaluate("() => document.documentElement.scrollWidth") <= width
            tab.screenshot(path=folder / f"{name}.png", full_page=True)
        finally:
            context.close()
        assert (folder / f"{name}.png").stat().st_size > 10_000
