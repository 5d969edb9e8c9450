"""progress.py: the live view's numbers (no terminal needed)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from rich.console import Console

from seedrun.client import ClientStats
from seedrun.eta import RunView
from seedrun.progress import LiveReporter, RateWindow


def test_the_first_frames_show_no_rate_rather_than_a_burst() -> None:
    rates = RateWindow(window=5.0, min_span=1.0)
    rates.add(0.0, 0)
    rates.add(0.25, 39)  # 39 requests counted a quarter second in: not 156/s
    assert rates.rate() is None


def test_the_rate_is_measured_over_a_sliding_window() -> None:
    rates = RateWindow(window=5.0, min_span=1.0)
    # A burst of 39 at the start, then a steady 10/s.
    rates.add(0.0, 0)
    rates.add(0.25, 39)
    for i in range(1, 41):
        rates.add(0.25 + i * 0.25, 39 + int(i * 2.5))
    assert rates.rate() == pytest.approx(10.0, abs=0.6)


@dataclass
class FakeTracker:
    """What LiveReporter asks of a tracker: a view and its clock."""

    now: float
    eta: float | None
    queued: int = 0
    running: int = 0

    def clock(self) -> float:
        return self.now

    def view(self, pending: int = 0) -> RunView:
        self.asked = pending
        return RunView(self.queued, self.running, 50, self.eta)


def _reporter(total: int) -> tuple[LiveReporter, list[float]]:
    now = [100.0]
    reporter = LiveReporter(total, ClientStats(), Console(file=io.StringIO()),
                            clock=lambda: now[0])
    return reporter, now


def test_counts_tell_pending_queued_running_and_done_apart() -> None:
    reporter, _ = _reporter(10)
    for i in range(3):
        reporter.job(f"j{i}", "succeeded")
    reporter.job("j3", "running")
    reporter.job("j4", "queued")
    reporter.job("j5", "submitting")
    counts = reporter.counts()
    assert (counts["pending"], counts["submitting"], counts["queued"], counts["running"],
            counts["succeeded"]) == (4, 1, 1, 1, 3)
    # With a tracker, a task the model believes started counts as running.
    tracker = FakeTracker(now=5.0, eta=25.0, queued=0, running=3)
    reporter.attach(tracker)  # type: ignore[arg-type]
    reporter.job("j6", "running")
    counts = reporter.counts()
    assert (counts["queued"], counts["running"]) == (0, 3)
    assert tracker.asked == 3  # the jobs not sent yet go into the ETA


def test_the_eta_counts_down_and_does_not_grow_while_nothing_changes() -> None:
    reporter, now = _reporter(10)
    tracker = FakeTracker(now=5.0, eta=25.0)
    reporter.attach(tracker)  # type: ignore[arg-type]
    reporter.job("j0", "running")
    assert reporter.eta() == pytest.approx(20.0)
    # Time passes, nothing happens; the model, asked now, would say later.
    tracker.eta = 60.0
    etas = []
    for _ in range(8):
        now[0] += 3.0
        etas.append(reporter.eta())
    assert etas == sorted(etas, reverse=True) and etas[-1] == 0.0
    # Something changed: the ETA is asked again.
    tracker.now += 24.0
    reporter.job("j1", "succeeded")
    assert reporter.eta() == pytest.approx(60.0 - 29.0)


def test_plain_lines_cannot_start_a_workflow_command_or_markup() -> None:
    import io

    from seedrun.progress import PlainReporter

    out = io.StringIO()
    reporter = PlainReporter(out)
    reporter.job("shot[v=x\n::error file=a::boom]", "failed", "bad\r\n::warning::x \x1b[31m")
    reporter.note("gateway said\n::set-output name=x::y")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert not any(line.startswith("::") for line in lines)
    assert "\x1b" not in out.getvalue()


def test_the_live_view_prints_ids_as_text_not_markup() -> None:
    import io

    from rich.console import Console

    from seedrun.client import ClientStats
    from seedrun.progress import LiveReporter

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, width=200)
    reporter = LiveReporter(1, ClientStats(), console)
    reporter.job("job[bold]x[/bold]", "failed", "[link=https://evil.example]click[/link]")
    text = buf.getvalue()
    assert "job[bold]x[/bold]" in text
    assert "[link=https://evil.example]click[/link]" in text
