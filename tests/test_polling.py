"""polling.py: when to poll a task next. Pure numbers, no clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedrun.polling import (
    LONG_WAIT,
    LONG_WAIT_INTERVAL,
    MARGIN,
    MAX_INTERVAL,
    OVERDUE_PATIENCE,
    DurationModel,
    Outlook,
    next_poll,
)


def running(now: float, start: float, **kw: object) -> Outlook:
    return Outlook(now=now, start=start, started=True, waited=now - start, **kw)  # type: ignore[arg-type]


def test_a_fresh_task_without_history_is_polled_at_the_floor() -> None:
    assert next_poll(running(0.0, 0.0), [], floor=1.0) == pytest.approx(1.0 + MARGIN)
    assert next_poll(running(0.0, 0.0), [], floor=5.0) == pytest.approx(5.0 + MARGIN)
    # Without history the gaps grow with the run so far (half of it).
    assert next_poll(running(10.0, 0.0), [], floor=1.0) == pytest.approx(15.0 + MARGIN)


def test_time_queued_is_not_run_time() -> None:
    samples = [10.0, 20.0, 30.0, 40.0, 50.0]
    # Created at 0, queued until 100, seen running at 101: 1 s of run, not 101.
    queued_long = Outlook(now=101.0, start=100.0, started=True, waited=101.0)
    assert next_poll(queued_long, samples, floor=1.0) == pytest.approx(100.0 + 40.0 + MARGIN)
    # Still queued, predicted to start at 100: polled when it could first be done.
    waiting = Outlook(now=5.0, start=100.0, started=False, waited=5.0)
    assert next_poll(waiting, samples, floor=1.0) == pytest.approx(140.0 + MARGIN)


def test_history_aims_at_a_quantile_of_the_remaining_run() -> None:
    samples = [10.0, 20.0, 30.0, 40.0, 50.0]
    # Ran 25 s: of 30, 40, 50 the 0.6 quantile is 40: 15 s from now.
    assert next_poll(running(25.0, 0.0), samples, floor=1.0) == pytest.approx(40.0 + MARGIN)
    # Outlived everything seen: a fraction of the run so far, not half of the wait.
    assert next_poll(running(60.0, 0.0), samples, floor=1.0) == pytest.approx(
        60.0 + OVERDUE_PATIENCE * 60.0 + MARGIN
    )


def test_the_tail_caps_gaps_at_the_moment_the_run_could_end() -> None:
    samples = [10.0, 20.0, 30.0, 40.0, 50.0]
    # The quantile says 40; the run could be over at 22: poll at 22.
    assert next_poll(running(20.0, 0.0), samples, 1.0, tail=22.0) == pytest.approx(22.0 + MARGIN)
    # Past that moment, every floor.
    assert next_poll(running(30.0, 0.0), samples, 1.0, tail=22.0) == pytest.approx(31.0 + MARGIN)
    # A task past every run time seen is not polled densely for it.
    assert next_poll(running(60.0, 0.0), samples, 1.0, tail=22.0) == pytest.approx(
        60.0 + OVERDUE_PATIENCE * 60.0 + MARGIN
    )


def test_progress_extrapolates_the_end() -> None:
    # 25% -> 50% in 10 s: 50% left at 2.5%/s is 20 s after the last sample.
    o = running(20.0, 0.0, progress=((10.0, 25.0), (20.0, 50.0)))
    assert next_poll(o, [], floor=1.0) == pytest.approx(40.0 + MARGIN)
    # Progress wins over history.
    assert next_poll(o, [100.0, 200.0, 300.0], floor=1.0) == pytest.approx(40.0 + MARGIN)
    # No movement: no extrapolation (cold rule).
    still = running(20.0, 0.0, progress=((10.0, 50.0), (20.0, 50.0)))
    assert next_poll(still, [], floor=1.0) == pytest.approx(30.0 + MARGIN)


def test_a_long_wait_is_polled_about_once_a_minute() -> None:
    o = Outlook(now=700.0, start=699.0, started=True, waited=LONG_WAIT + 100.0,
                progress=((690.0, 94.0), (699.0, 99.0)))
    assert next_poll(o, [], floor=1.0) >= 700.0 + LONG_WAIT_INTERVAL
    assert next_poll(o, [], floor=1.0, tail=700.0) >= 700.0 + LONG_WAIT_INTERVAL


@given(
    now=st.floats(0, 100_000),
    ran=st.floats(0, 100_000),
    waited_extra=st.floats(0, 100_000),
    floor=st.floats(0.1, 30),
    started=st.booleans(),
    samples=st.lists(st.floats(0.1, 100_000), max_size=20),
    tail=st.one_of(st.none(), st.floats(0, 200_000)),
)
def test_bounds_hold_for_any_outlook(
    now: float,
    ran: float,
    waited_extra: float,
    floor: float,
    started: bool,
    samples: list[float],
    tail: float | None,
) -> None:
    o = Outlook(now=now, start=now - ran, started=started, waited=ran + waited_extra)
    at = next_poll(o, sorted(samples), floor, tail)
    lower = floor if o.waited < LONG_WAIT else max(floor, LONG_WAIT_INTERVAL)
    assert at - now >= lower - 1e-6
    assert at - now <= max(lower, MAX_INTERVAL) + 1e-6


def test_duration_model_keeps_a_sorted_window_per_group() -> None:
    model = DurationModel(window=3)
    for run in (5.0, 1.0, 4.0, 2.0):
        model.observe("a", run)
    model.observe("b", 9.0)
    assert model.samples("a") == [1.0, 2.0, 4.0]  # the oldest (5.0) left the window
    assert model.samples("b") == [9.0]
    assert model.samples("c") == []
    assert model.expected("a") == pytest.approx(7.0 / 3)
    # A group never seen is guessed from every group.
    assert model.expected("c") == pytest.approx((1.0 + 2.0 + 4.0 + 9.0) / 4)
    assert DurationModel().expected("c") is None


def test_warm_start_serves_until_the_run_has_its_own_samples() -> None:
    model = DurationModel()
    for run in (30.0, 31.0, 32.0):
        model.warm("a", run)
    assert model.samples("a") == [30.0, 31.0, 32.0]
    model.observe("a", 10.0)
    assert model.samples("a") == [10.0, 30.0, 31.0, 32.0]
    model.observe("a", 11.0)
    model.observe("a", 12.0)
    assert model.samples("a") == [10.0, 11.0, 12.0]  # three of its own: the lockfile steps aside


def test_a_new_kind_of_task_borrows_run_times_in_proportion_to_its_video() -> None:
    model = DurationModel()
    model.size("5s", 5)
    model.size("15s", 15)
    for run in (2.0, 2.5, 3.0):
        model.observe("5s", run)
    assert model.samples("15s") == [6.0, 7.5, 9.0]
    # Its own run times, once it has three, replace the borrowed ones.
    for run in (4.0, 4.5, 5.0):
        model.observe("15s", run)
    assert model.samples("15s") == [4.0, 4.5, 5.0]
    # Without a size, nothing is borrowed.
    assert model.samples("other") == []


def test_one_progress_sample_and_a_known_start_give_the_end() -> None:
    # Started between 9.9 and 10.1; half done at 20: ends about 30, not at the floor.
    o = running(20.0, 10.0, progress=((20.0, 50.0),), start_range=(9.9, 10.1))
    assert next_poll(o, [], floor=1.0) == pytest.approx(30.0, abs=0.6)
    # Run times seen pick among those the sample fits: 20 s runs fit, 5 s ones do not.
    fits = next_poll(o, [5.0, 5.5, 19.8, 20.0, 20.2], floor=1.0)
    assert fits == pytest.approx(30.0, abs=0.6)
    # A start known only roughly says little: history decides, not the sample.
    vague = running(20.0, 10.0, progress=((20.0, 10.0),), start_range=(0.0, 19.0))
    # (cold: half the run so far, no guess from the sample)
    assert next_poll(vague, [], floor=1.0) == pytest.approx(20.0 + 0.5 * 10.0 + MARGIN)


def test_a_task_that_cannot_be_last_is_not_pulled_to_the_tail() -> None:
    samples = [10.0, 20.0, 30.0, 40.0, 50.0]
    # With no tail handed in (the forecast decides it cannot end the run), the
    # quantile stands.
    assert next_poll(running(20.0, 0.0), samples, 1.0, tail=None) == pytest.approx(40.0 + MARGIN)


def test_fallback_run_time_scales_by_video_seconds() -> None:
    from seedrun.polling import DurationModel

    m = DurationModel()
    m.size("five", 5)
    m.size("fifteen", 15)
    m.observe("five", 2.0)
    assert m.expected("fifteen") == pytest.approx(6.0)
    assert m.smaller("fifteen") == {"five"}
    assert m.smaller("five") == set()
