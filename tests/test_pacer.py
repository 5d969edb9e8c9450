"""The adaptive pacer, on trio's autojump clock (no sockets here)."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from seedrun.pacer import Pacer


async def _times(pacer: Pacer, n: int) -> list[float]:
    start = trio.current_time()
    out = []
    for _ in range(n):
        await pacer.acquire()
        out.append(round(trio.current_time() - start, 6))
    return out


async def test_unlimited_never_waits(autojump_clock: trio.testing.MockClock) -> None:
    pacer = Pacer()
    with trio.fail_after(1):
        assert await _times(pacer, 100) == [0.0] * 100
    assert (pacer.rate, pacer.requests, pacer.rate_limited) == (None, 100, 0)


async def test_token_bucket_spaces_requests(autojump_clock: trio.testing.MockClock) -> None:
    pacer = Pacer(4.0)
    with trio.fail_after(10):
        assert await _times(pacer, 5) == [0.0, 0.25, 0.5, 0.75, 1.0]


async def test_burst_allows_a_head_start(autojump_clock: trio.testing.MockClock) -> None:
    pacer = Pacer(2.0, burst=3)
    with trio.fail_after(10):
        assert await _times(pacer, 5) == [0.0, 0.0, 0.0, 0.5, 1.0]


async def test_concurrent_waiters_share_the_rate_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pacer = Pacer(10.0)
    order: list[tuple[int, float]] = []
    start = trio.current_time()

    async def worker(i: int) -> None:
        await pacer.acquire()
        order.append((i, round(trio.current_time() - start, 6)))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for i in range(5):
                nursery.start_soon(worker, i)
                await trio.sleep(0)  # start in a known order
    assert order == [(0, 0.0), (1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4)]


async def test_rate_limited_pauses_everyone_and_halves(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pacer = Pacer(10.0)
    with trio.fail_after(1):
        await pacer.acquire()
    pacer.note_rate_limited(3.0)
    assert pacer.rate == 5.0
    assert pacer.paused_until == pytest.approx(trio.current_time() + 3.0)
    with trio.fail_after(10):
        assert await _times(pacer, 3) == [3.0, 3.2, 3.4]
    assert (pacer.requests, pacer.rate_limited) == (4, 1)


async def test_no_retry_after_pauses_a_second(autojump_clock: trio.testing.MockClock) -> None:
    pacer = Pacer()
    pacer.note_rate_limited(None)
    with trio.fail_after(10):
        assert await _times(pacer, 1) == [1.0]


async def test_one_burst_of_429s_cuts_once(autojump_clock: trio.testing.MockClock) -> None:
    pacer = Pacer(8.0)
    for _ in range(20):  # answers to requests that were in flight together
        pacer.note_rate_limited(1.0)
    assert (pacer.rate, pacer.rate_limited) == (4.0, 20)
    with trio.fail_after(10):
        await trio.sleep(2.5)  # pause (1 s) and settle window (1 s) are over
    pacer.note_rate_limited(1.0)
    assert pacer.rate == 2.0


async def test_later_429_extends_the_pause(autojump_clock: trio.testing.MockClock) -> None:
    pacer = Pacer(8.0)
    pacer.note_rate_limited(1.0)
    await trio.sleep(0.5)
    pacer.note_rate_limited(2.0)
    with trio.fail_after(10):
        assert await _times(pacer, 1) == [2.0]


async def test_rate_never_falls_below_floor(autojump_clock: trio.testing.MockClock) -> None:
    pacer = Pacer(1.0)
    with trio.fail_after(60):
        for _ in range(10):
            pacer.note_rate_limited(0.0)
            await trio.sleep(1.5)
    assert pacer.rate == 0.2


async def test_additive_recovery_up_to_the_ceiling(autojump_clock: trio.testing.MockClock) -> None:
    pacer = Pacer(10.0, streak=5)
    pacer.note_rate_limited(0.0)
    assert pacer.rate == 5.0
    seen = []
    for _ in range(40):
        pacer.note_success()
        seen.append(pacer.rate)
    assert seen[4::5] == [6.0, 7.0, 8.0, 9.0, 10.0, 10.0, 10.0, 10.0]
    assert seen[:4] == [5.0] * 4


async def test_a_429_restarts_the_success_streak(autojump_clock: trio.testing.MockClock) -> None:
    pacer = Pacer(10.0, streak=3)
    pacer.note_rate_limited(0.0)
    pacer.note_success()
    pacer.note_success()
    pacer.note_rate_limited(0.0)  # same episode: no cut, but the streak starts over
    pacer.note_success()
    pacer.note_success()
    assert pacer.rate == 5.0
    pacer.note_success()
    assert pacer.rate == 6.0


async def test_unlimited_cut_starts_from_observed_rate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pacer = Pacer(streak=1)
    with trio.fail_after(10):
        for _ in range(40):  # 20 requests per second for two seconds
            await pacer.acquire()
            await trio.sleep(0.05)
    pacer.note_rate_limited(0.0)
    assert pacer.rate == pytest.approx(10.0, rel=0.05)
    for _ in range(10):
        pacer.note_success()
    assert pacer.rate is None  # back to unlimited once it climbed to the old rate


async def test_unlimited_cut_without_history_recovers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pacer = Pacer(streak=2)
    pacer.note_rate_limited(None)
    assert pacer.rate == 0.2
    pacer.note_success()
    assert pacer.rate == 0.2
    pacer.note_success()
    assert pacer.rate is None


async def test_a_ceiling_below_the_floor_is_kept(autojump_clock: trio.testing.MockClock) -> None:
    pacer = Pacer(0.1)
    pacer.note_rate_limited(0.0)
    assert pacer.rate == 0.1


async def test_raising_the_rate_wakes_a_waiter(autojump_clock: trio.testing.MockClock) -> None:
    pacer = Pacer(1.0, streak=1, step=9.0)
    pacer.note_rate_limited(0.0)  # rate 0.5: the next token is 2 s away
    await pacer.acquire()
    start = trio.current_time()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pacer.acquire)
            await trio.sleep(0.1)
            pacer.note_success()  # rate 1.0 (the ceiling): 0.95 tokens to go
    assert trio.current_time() - start == pytest.approx(1.05)


async def test_cancelled_waiter_leaves_the_queue(autojump_clock: trio.testing.MockClock) -> None:
    pacer = Pacer(1.0)
    with trio.fail_after(10):
        await pacer.acquire()
        with trio.move_on_after(0.5):
            await pacer.acquire()
        assert await _times(pacer, 1) == [0.5]  # the token was due 1 s after the first
    assert pacer.requests == 2


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="rate must be positive or None"):
        Pacer(0)
    with pytest.raises(ValueError, match="decrease must be between 0 and 1"):
        Pacer(1.0, decrease=1.5)


EVENTS = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=5),
        st.sampled_from(["429", "success"]),
        st.none() | st.floats(min_value=0, max_value=30),
    ),
    max_size=200,
)


@given(st.none() | st.floats(min_value=0.01, max_value=1000), EVENTS)
def test_rate_stays_between_floor_and_ceiling(
    ceiling: float | None, events: list[tuple[float, str, float | None]]
) -> None:
    """Whatever the order of 429s and successes (no trio run needed for these calls)."""
    now = [0.0]
    pacer = Pacer(ceiling, clock=lambda: now[0])
    resume = float("-inf")
    for dt, kind, retry_after in events:
        now[0] += dt
        if kind == "429":
            pacer.note_rate_limited(retry_after)
            resume = max(resume, now[0] + (1.0 if retry_after is None else retry_after))
        else:
            pacer.note_success()
        assert pacer.paused_until == (resume if resume > now[0] else None)
        rate = pacer.rate
        if rate is not None:
            assert min(0.2, ceiling or 0.2) <= rate <= (ceiling or float("inf"))
        else:
            assert ceiling is None


@pytest.mark.parametrize("asked", [999999.0, float("inf"), float("nan")])
async def test_no_429_pauses_longer_than_max_pause(
    autojump_clock: trio.testing.MockClock, asked: float
) -> None:
    pacer = Pacer(None, max_pause=30.0)
    pacer.note_rate_limited(asked)
    with trio.fail_after(100):
        start = trio.current_time()
        await pacer.acquire()
    waited = trio.current_time() - start
    assert waited == pytest.approx(1.0 if asked != asked else 30.0)


async def test_a_long_pause_is_cancellable(autojump_clock: trio.testing.MockClock) -> None:
    pacer = Pacer(None)
    pacer.note_rate_limited(100.0)
    with trio.move_on_after(0.5) as scope:  # Ctrl-C's cancellation, as the runner sees it
        await pacer.acquire()
    assert scope.cancelled_caught
    assert pacer.requests == 0
