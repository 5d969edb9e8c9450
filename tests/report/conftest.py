"""Fixtures for the browser tests: a real campaign made by the simulator, and Chromium.

The browser tests need Debian's Chromium at /usr/bin/chromium and the
``playwright`` package (its own browser download is never used). Where either
is missing they are skipped with the reason; they never pass silently.
"""

from __future__ import annotations

import importlib.util
import re
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .helpers import CAMPAIGN, Campaign

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Route

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    """Run the campaign against the simulator in a subprocess, then `seedrun report` it."""
    folder = tmp_path_factory.mktemp("campaign")
    spec = folder / "campaign.yaml"
    spec.write_text(CAMPAIGN, encoding="utf-8")
    seedrun = [sys.executable, "-m", "seedrun"]
    applied = subprocess.run(
        [*seedrun, "apply", spec.name, "--sim", "--sim-task-seconds", "0.2,0.4", "--quiet"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # 1: the failed and the blocked job are expected
    assert applied.returncode == 1, applied.stdout + applied.stderr
    reported = subprocess.run(
        [*seedrun, "report", spec.name, "-o", "site/index.html"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert reported.returncode == 0, reported.stdout + reported.stderr
    return Campaign(folder, spec, folder / "campaign.lock", folder / "site" / "index.html")


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "browser tests need the playwright package (pip install playwright)"
    return None


# Package-scoped: playwright's sync API keeps an asyncio loop marked as running in
# this thread while it is open, which later tests (the Python API's, which make a
# loop of their own) must not inherit.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    reason = _missing()
    if reason is not None:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _png() -> bytes:
    """A 1x1 grey PNG: the answer to every web request a page makes in these tests."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    head = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x80")
    chunks = chunk(b"IHDR", head) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


PNG = _png()


class WebRequests(list[str]):
    """The http(s) URLs a page asked for; each was answered locally, never sent."""


def offline_context(browser: Browser, **options: object) -> tuple[BrowserContext, WebRequests]:
    """A browser context in which no request leaves the machine: the report links
    remote thumbnails (asset source URLs), which must not reach the network here."""
    context = browser.new_context(**options)  # type: ignore[arg-type]
    asked = WebRequests()

    def answer(route: Route) -> None:
        asked.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=PNG)

    context.route(re.compile(r"^https?://"), answer)
    return context, asked
