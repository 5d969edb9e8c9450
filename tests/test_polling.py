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
    PATIENCE,
    DurationModel,
    Observation,
    next_delay,
)


def test_a_fresh_task_is_polled_at_the_floor() -> None:
    assert next_delay(Observation(elapsed=0.0), [], floor=1.0) == pytest.approx(1.0 + MARGIN)
    assert next_delay(Observation(elapsed=0.0), [], floor=5.0) == pytest.approx(5.0 + MARGIN)


def test_the_interval_grows_with_the_time_already_waited() -> None:
    delays = [next_delay(Observation(elapsed=e), [], floor=1.0) for e in (0, 10, 60, 300, 600)]
    assert delays == sorted(delays) and delays[0] < delays[-1]
    # Ten minutes in, a task is polled about once a minute at most.
    assert next_delay(Observation(elapsed=LONG_WAIT), [], floor=1.0) >= LONG_WAIT_INTERVAL
    # Even when its progress promises an end in two seconds.
    stuck = Observation(elapsed=700.0, progress=99.0, prev_elapsed=690.0, prev_progress=94.0)
    assert next_delay(stuck, [], floor=1.0) >= LONG_WAIT_INTERVAL
    # Past an hour, more rarely than MAX_INTERVAL: patience wins over the cap.
    assert next_delay(Observation(elapsed=7200.0), [], floor=1.0) == pytest.approx(
        PATIENCE * 7200.0
    )


def test_progress_extrapolates_the_end() -> None:
    # 25% -> 50% in 10 s: 50% left at 2.5%/s is 20 s.
    obs = Observation(elapsed=20.0, progress=50.0, prev_elapsed=10.0, prev_progress=25.0)
    assert next_delay(obs, [], floor=1.0) == pytest.approx(20.0 + MARGIN)
    # No movement: no extrapolation, the cold-start rule applies (half the time waited).
    still = Observation(elapsed=20.0, progress=50.0, prev_elapsed=10.0, prev_progress=50.0)
    assert next_delay(still, [], floor=1.0) == pytest.approx(10.0 + MARGIN)


def test_history_aims_at_a_quantile_of_the_remaining_time() -> None:
    samples = [10.0, 20.0, 30.0, 40.0, 50.0]
    # Outlived 10 and 20; of 30, 40, 50 the 0.6 quantile is 40: 15 s from now.
    assert next_delay(Observation(elapsed=25.0), samples, floor=1.0) == pytest.approx(
        15.0 + MARGIN
    )
    # Before anything: 0.6 quantile of all five is 40.
    assert next_delay(Observation(elapsed=0.0), samples, floor=1.0) == pytest.approx(
        40.0 + MARGIN
    )
    # Outlived everything seen: patience (half the time waited).
    assert next_delay(Observation(elapsed=60.0), samples, floor=1.0) == pytest.approx(
        30.0 + MARGIN
    )
    # Two samples are not a distribution yet.
    assert next_delay(Observation(elapsed=0.0), [10.0, 20.0], floor=1.0) == pytest.approx(
        1.0 + MARGIN
    )


def test_progress_wins_over_history() -> None:
    obs = Observation(elapsed=20.0, progress=80.0, prev_elapsed=10.0, prev_progress=40.0)
    assert next_delay(obs, [100.0, 200.0, 300.0], floor=1.0) == pytest.approx(5.0 + MARGIN)


@given(
    elapsed=st.floats(0, 100_000),
    floor=st.floats(0.1, 30),
    progress=st.one_of(st.none(), st.floats(0, 100)),
    prev=st.one_of(st.none(), st.tuples(st.floats(0, 100_000), st.floats(0, 100))),
    samples=st.lists(st.floats(0.1, 100_000), max_size=20),
)
def test_bounds_hold_for_any_observation(
    elapsed: float,
    floor: float,
    progress: float | None,
    prev: tuple[float, float] | None,
    samples: list[float],
) -> None:
    obs = Observation(
        elapsed=elapsed,
        progress=progress,
        prev_elapsed=None if prev is None else min(prev[0], elapsed),
        prev_progress=None if prev is None else prev[1],
    )
    delay = next_delay(obs, sorted(samples), floor)
    lower = max(floor, PATIENCE * elapsed, LONG_WAIT_INTERVAL if elapsed >= LONG_WAIT else 0.0)
    assert delay >= lower
    assert delay <= max(lower, MAX_INTERVAL)


def test_duration_model_keeps_a_sorted_window_per_group() -> None:
    model = DurationModel(window=3)
    for turnaround in (5.0, 1.0, 4.0, 2.0):
        model.observe("a", turnaround)
    model.observe("b", 9.0)
    assert model.samples("a") == [1.0, 2.0, 4.0]  # the oldest (5.0) left the window
    assert model.samples("b") == [9.0]
    assert model.samples("c") == []
    assert model.expected("a") == 2.0
    assert model.expected("c") is None
