"""How long the campaign gallery takes to open in headless Chromium, by size.

Each size is one job whose matrix has that many variants, every one succeeded
with its own downloaded video (a copy of a simulator clip), written by
``write_report`` and opened from file://. "open" is from navigation to the
script's summary being on the page (the page answers); "players" is how many
<video> elements exist then (made only near the viewport).

    .venv/bin/python bench/report_open.py              # 100, 1,000 and 5,000 variants
    .venv/bin/python bench/report_open.py 1000         # one size

Needs Debian's Chromium at /usr/bin/chromium and the playwright package.
Goal: 1,000 variants open in under 2 s (also asserted in tests/report/test_browser.py).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import seedrun.sim
from seedrun.lockfile import FileRef, Lock, LockEntry
from seedrun.report import write_report
from seedrun.spec import load_spec

SIZES = (100, 1_000, 5_000)
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def make_report(folder: Path, variants: int) -> Path:
    cols = 25 if variants >= 25 else variants
    rows = variants // cols
    text = (
        "version: 1\njobs:\n  - name: grid\n    prompt: \"Variant {{ a }} / {{ b }}\"\n"
        f"    matrix:\n      a: [{', '.join(f'a{i}' for i in range(rows))}]\n"
        f"      b: [{', '.join(f'b{i}' for i in range(cols))}]\n"
    )
    spec = load_spec(text, str(folder / "jobs.yaml"))
    video = (Path(seedrun.sim.__file__).parent / "media" / "video-b.mp4").read_bytes()
    (folder / "outputs").mkdir()
    entries = {}
    for i, job in enumerate(spec.jobs):
        name = f"outputs/v{i}.mp4"
        (folder / name).write_bytes(video)
        ref = FileRef(name, "0" * 64, len(video))
        entries[job.id] = LockEntry(job.key, "succeeded", output=ref)
    return write_report(spec, Lock(jobs=entries), lock_path=folder / "jobs.lock",
                        out=folder / "report.html")  # fmt: skip


def main() -> None:
    from playwright.sync_api import sync_playwright

    sizes = [int(a) for a in sys.argv[1:]] or list(SIZES)
    print(f"{'variants':>9} {'page MB':>8} {'open s (median of 3)':>21} {'players':>8}")
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as tmp:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for n in sizes:
            folder = Path(tmp) / str(n)
            folder.mkdir()
            page_path = make_report(folder, n)
            times, players = [], 0
            for _ in range(3):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                tab = context.new_page()
                start = time.monotonic()
                tab.goto(page_path.as_uri(), wait_until="load", timeout=120_000)
                tab.wait_for_function("() => document.getElementById('f-summary').textContent")
                times.append(time.monotonic() - start)
                players = tab.evaluate("() => document.querySelectorAll('video').length")
                context.close()
            size = page_path.stat().st_size / 1e6
            print(f"{n:>9,} {size:>8.1f} {statistics.median(times):>21.2f} {players:>8}")
        browser.close()


if __name__ == "__main__":
    main()
