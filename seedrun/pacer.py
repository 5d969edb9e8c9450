"""An adaptive request pacer shared by every API request of a run.

A token bucket at ``rate`` requests per second (``None`` = unlimited). When the
server answers 429, :meth:`Pacer.note_rate_limited` pauses every caller until
the Retry-After has passed and cuts the rate (multiplicative decrease, with a
floor); a streak of successes then raises it again step by step (additive
increase) up to the configured rate. An unlimited pacer that meets a 429 starts
from half the rate it was actually sending at, and becomes unlimited again once
it has climbed back to that rate.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import trio

DEFAULT_PAUSE = 1.0  # seconds to pause everyone on a 429 without Retry-After
MAX_PAUSE = 120.0  # the longest pause a 429 can impose on everyone (a gateway may ask for days)
EPSILON = 1e-9
WINDOW = 2.0  # seconds of send history used to estimate the rate of an unlimited pacer


class Pacer:
    """Token bucket with AIMD adaptation; fair (FIFO) among waiting tasks."""

    def __init__(
        self,
        rate: float | None = None,
        *,
        clock: Callable[[], float] = trio.current_time,
        floor: float = 0.2,
        decrease: float = 0.5,
        streak: int = 10,
        step: float | None = None,
        burst: float = 1.0,
        settle: float = 1.0,
        max_pause: float = MAX_PAUSE,
    ) -> None:
        """``rate`` is the ceiling; ``floor`` the lowest rate a 429 can cut to;
        ``decrease`` the factor applied on a 429; after ``streak`` successes the
        rate rises by ``step`` (default: a tenth of the ceiling, at least 0.1).
        429s within ``settle`` seconds after a pause ends do not cut again: they
        answer requests sent before the cut. No pause lasts longer than ``max_pause``."""
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive or None")
        if not 0 < decrease < 1:
            raise ValueError("decrease must be between 0 and 1")
        self._clock = clock
        self._ceiling = rate
        self._rate = rate
        self._floor = floor if rate is None else min(floor, rate)
        self._decrease = decrease
        self._streak_needed = max(1, streak)
        self._step = step
        self._burst = max(1.0, burst)
        self._settle = settle
        self._max_pause = max_pause
        self._tokens = self._burst
        self._stamp = clock()
        self._resume_at = float("-inf")
        self._no_cut_until = float("-inf")
        self._streak = 0
        self._sent: deque[float] = deque()
        self._unlimited_mark = 0.0  # the rate an unlimited pacer was sending at when cut
        self._lock = trio.Lock()
        self._changed = trio.Event()
        self.requests = 0
        self.rate_limited = 0

    def __repr__(self) -> str:
        return (
            f"Pacer(rate={self._rate!r}, requests={self.requests}, "
            f"rate_limited={self.rate_limited})"
        )

    @property
    def rate(self) -> float | None:
        """The current rate in requests per second, or None when unlimited."""
        return self._rate

    @property
    def paused_until(self) -> float | None:
        """Clock time until which everyone waits after a 429, if in the future."""
        return self._resume_at if self._resume_at > self._clock() else None

    async def acquire(self) -> None:
        """Wait for permission to send one request."""
        if self._rate is None and not self._lock.locked():
            await trio.lowlevel.checkpoint()
            if self._rate is None and not self._lock.locked() and self._clock() >= self._resume_at:
                self._take()
                return
        async with self._lock:  # trio.Lock is fair: waiters are served in order
            while True:
                wait = self._wait_time()
                if wait <= 0:
                    break
                with trio.move_on_after(wait):
                    await self._changed.wait()
            self._take()

    def note_rate_limited(self, retry_after: float | None) -> None:
        """A 429 arrived: pause everyone, and cut the rate once per episode."""
        now = self._clock()
        self.rate_limited += 1
        self._streak = 0
        if retry_after is None or retry_after != retry_after:  # absent, or NaN
            pause = DEFAULT_PAUSE
        else:
            pause = min(max(0.0, retry_after), self._max_pause)
        self._resume_at = max(self._resume_at, now + pause)
        if now >= self._no_cut_until:
            self._cut(now)
            self._no_cut_until = self._resume_at + self._settle
        self._refill(now)
        self._tokens = 1.0  # when the pause ends, one request may go at once; no burst
        self._wake()

    def note_success(self) -> None:
        """A request succeeded; after a streak of them, raise the rate a step."""
        if self._rate is None:
            return
        self._streak += 1
        if self._streak < self._streak_needed:
            return
        self._streak = 0
        # An unlimited pacer that was cut climbs back to the rate it was sending at.
        target = self._unlimited_mark if self._ceiling is None else self._ceiling
        self._refill(self._clock())
        raised = self._rate + (self._step if self._step is not None else max(0.1, target / 10))
        if raised < target:
            self._rate = raised
        else:
            self._rate = self._ceiling
        self._wake()

    # -- internals ---------------------------------------------------------

    def _cut(self, now: float) -> None:
        self._refill(now)
        if self._rate is None:
            observed = self._observed_rate(now)
            self._unlimited_mark = max(self._floor, observed)
            self._rate = max(self._floor, observed * self._decrease)
        else:
            self._rate = max(self._floor, self._rate * self._decrease)

    def _observed_rate(self, now: float) -> float:
        while self._sent and self._sent[0] < now - WINDOW:
            self._sent.popleft()
        if not self._sent:
            return self._floor
        span = max(now - self._sent[0], 1.0 / max(len(self._sent), 1), 0.1)
        return len(self._sent) / span

    def _refill(self, now: float) -> None:
        if self._rate is not None:
            elapsed = max(0.0, now - max(self._stamp, self._resume_at))
            self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
        self._stamp = now

    def _wait_time(self) -> float:
        now = self._clock()
        if now < self._resume_at:
            return self._resume_at - now
        if self._rate is None:
            return 0.0
        self._refill(now)
        if self._tokens >= 1.0 - EPSILON:  # float rounding must not leave a waiter stuck
            return 0.0
        return (1.0 - self._tokens) / self._rate

    def _take(self) -> None:
        now = self._clock()
        if self._rate is not None:
            self._refill(now)
            self._tokens -= 1.0
        else:
            self._sent.append(now)
            while self._sent[0] < now - WINDOW:
                self._sent.popleft()
        self.requests += 1

    def _wake(self) -> None:
        """Let a waiter re-check: the rate or the pause changed."""
        self._changed.set()
        self._changed = trio.Event()
