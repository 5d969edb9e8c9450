"""Terminal output for apply: a live rich view on a TTY, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from seedrun.client import ClientStats
from seedrun.runner import Reporter

STATES = ("pending", "submitting", "queued", "running", "succeeded", "failed", "blocked",
          "unknown", "cancelled")


class PlainReporter(Reporter):
    """One line per job event worth a log line (CI logs)."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet

    def job(self, job_id: str, status: str, detail: str = "") -> None:
        if self.quiet or status in ("submitting", "queued", "running"):
            return
        tail = f"  {detail}" if detail else ""
        print(f"{status:<9} {job_id}{tail}", file=self.stream, flush=True)

    def note(self, message: str) -> None:
        if not self.quiet:
            print(f"note: {message}", file=self.stream, flush=True)


class LiveReporter(Reporter):
    """Counts per state, request rate and an ETA, refreshed in place."""

    def __init__(self, total: int, stats: ClientStats, console: Console | None = None) -> None:
        self.total = total
        self.stats = stats
        self.console = console or Console(stderr=True)
        self.states: dict[str, str] = {}
        self.started = time.monotonic()
        self.live = Live(self._render(), console=self.console, refresh_per_second=4,
                         get_renderable=self._render, transient=True)

    def __enter__(self) -> LiveReporter:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def job(self, job_id: str, status: str, detail: str = "") -> None:
        self.states[job_id] = status
        if status in ("failed", "blocked", "unknown"):
            self.console.print(f"[red]{status}[/] {job_id}  {detail}", highlight=False,
                               markup=True)

    def note(self, message: str) -> None:
        self.console.print(f"note: {message}", highlight=False, markup=False)

    def _render(self) -> Table:
        counts = Counter(self.states.values())
        elapsed = max(1e-6, time.monotonic() - self.started)
        s = self.stats
        requests = s.creates + s.gets + s.lists + s.moderations
        done = sum(counts[k] for k in ("succeeded", "failed", "blocked", "unknown", "cancelled"))
        eta = "-"
        if done and done < self.total:
            eta = f"{(self.total - done) * elapsed / done:.0f}s"
        table = Table(title=f"seedrun apply: {done}/{self.total} done", show_edge=False)
        for name in STATES:
            if counts[name]:
                table.add_column(name, justify="right")
        table.add_column("req/s", justify="right")
        table.add_column("ETA", justify="right")
        table.add_row(*[str(counts[n]) for n in STATES if counts[n]],
                      f"{requests / elapsed:.1f}", eta)
        return table
