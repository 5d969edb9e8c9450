"""Terminal output for apply: a live rich view on a TTY, plain lines otherwise.

The live view tells apart what has not been sent yet (pending), what waits in
the provider's queue, what runs there, and what is done. The queued/running
split comes from the answers, corrected by the tracker's model of the provider's
queue (``seedrun.eta``) for tasks it believes started; the ETA comes from the
same model, so both are what the poller itself believes. The ETA is a
predicted moment, counted down between events: it does not grow while nothing
happens. requests/s is measured over the last few seconds, not since start.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from seedrun.client import ClientStats
from seedrun.runner import Reporter
from seedrun.safetext import clean, guard
from seedrun.tracker import Tracker

DONE = ("succeeded", "failed", "blocked", "unknown", "cancelled")
COLUMNS = ("pending", "submitting", "queued", "running", *DONE)
RATE_WINDOW = 5.0  # seconds of request counts behind requests/s
RATE_MIN_SPAN = 1.0  # less history than this: no rate yet
ETA_EVERY = 1.0  # seconds between two recomputations of the ETA (a pass over all tasks)


class RateWindow:
    """A request rate over a sliding window of (time, total count) samples."""

    def __init__(self, window: float = RATE_WINDOW, min_span: float = RATE_MIN_SPAN) -> None:
        self.window = window
        self.min_span = min_span
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, at: float, total: int) -> None:
        self._samples.append((at, total))
        while len(self._samples) > 2 and at - self._samples[1][0] >= self.window:
            self._samples.popleft()

    def rate(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (t0, n0), (t1, n1) = self._samples[0], self._samples[-1]
        if t1 - t0 < self.min_span:
            return None
        return (n1 - n0) / (t1 - t0)


class PlainReporter(Reporter):
    """One line per job event worth a log line (CI logs)."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet

    def job(self, job_id: str, status: str, detail: str = "") -> None:
        if self.quiet or status in ("submitting", "queued", "running"):
            return
        # Ids and details come from the spec and the server: one escaped line each,
        # so no text can start a CI workflow command or a terminal escape.
        tail = f"  {clean(detail)}" if detail else ""
        print(guard(f"{status:<9} {clean(job_id)}{tail}"), file=self.stream, flush=True)

    def note(self, message: str) -> None:
        if not self.quiet:
            print(guard(f"note: {clean(message)}"), file=self.stream, flush=True)


class LiveReporter(Reporter):
    """Counts per state, request rate and an ETA, refreshed in place."""

    def __init__(
        self,
        total: int,
        stats: ClientStats,
        console: Console | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.stats = stats
        self.console = console or Console(stderr=True)
        self.clock = clock
        self.states: dict[str, str] = {}
        self.tracker: Tracker | None = None
        self.rates = RateWindow()
        # Kept up to date from job events (trio's thread); the refresh thread only reads.
        self.presumed = 0  # queued by the answers, started by the model (as of the last ETA)
        self.eta_at: float | None = None  # our clock
        self._eta_computed = float("-inf")
        self._last = Table()
        self.live = Live(self._render(), console=self.console, refresh_per_second=4,
                         get_renderable=self._render, transient=True)

    def __enter__(self) -> LiveReporter:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def attach(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def job(self, job_id: str, status: str, detail: str = "") -> None:
        self.states[job_id] = status
        if status in ("failed", "blocked", "unknown"):
            line = Text(status, style="red")
            line.append(f" {clean(job_id)}  {clean(detail)}")  # plain text: no markup
            self.console.print(line, highlight=False)
        self._forecast()

    def note(self, message: str) -> None:
        self.console.print(f"note: {clean(message)}", highlight=False, markup=False)

    def counts(self) -> dict[str, int]:
        """Jobs per column: pending = not sent yet (nor done)."""
        c = Counter(self.states.values())
        sent = c["submitting"] + c["queued"] + c["running"]
        done = sum(c[k] for k in DONE)
        out = {k: c[k] for k in COLUMNS}
        out["pending"] = self.total - sent - done
        # Tasks the model believes started though no answer said so yet.
        presumed = min(self.presumed, out["queued"])
        out["queued"] -= presumed
        out["running"] += presumed
        return out

    def eta(self) -> float | None:
        """Seconds until the predicted end; counts down while nothing changes."""
        if self.eta_at is None:
            return None
        return max(0.0, self.eta_at - self.clock())

    def _forecast(self, force: bool = False) -> None:
        now = self.clock()
        if self.tracker is None or (not force and now - self._eta_computed < ETA_EVERY):
            return
        self._eta_computed = now
        seen = Counter(self.states.values())
        pending = self.total - sum(seen[k] for k in ("submitting", "queued", "running", *DONE))
        view = self.tracker.view(pending)
        self.presumed = max(0, view.running - seen["running"])
        if view.eta is None:
            self.eta_at = None
        else:
            self.eta_at = now + max(0.0, view.eta - self.tracker.clock())

    def _render(self) -> Table:
        # Called from rich's refresh thread while trio updates the counts: a
        # frame that meets a change in progress is skipped, not a crash.
        with contextlib.suppress(RuntimeError):
            self._last = self._table()
        return self._last

    def _table(self) -> Table:
        s = self.stats
        self.rates.add(self.clock(), s.creates + s.gets + s.lists + s.moderations)
        counts = self.counts()
        done = sum(counts[k] for k in DONE)
        rate = self.rates.rate()
        eta = self.eta()
        table = Table(title=f"seedrun apply: {done}/{self.total} done", show_edge=False)
        shown = [n for n in COLUMNS if counts[n] or n in ("pending", "queued", "running")]
        for name in shown:
            table.add_column(name, justify="right")
        table.add_column("req/s", justify="right")
        table.add_column("ETA", justify="right")
        table.add_row(
            *[str(counts[n]) for n in shown],
            "-" if rate is None else f"{rate:.1f}",
            "-" if eta is None or done == self.total else f"{eta:.0f}s",
        )
        return table
