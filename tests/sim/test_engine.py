"""The task engine on its own: time in, status out. No sockets, no clock."""

from __future__ import annotations

from typing import Any

import pytest

from seedrun.sim import SimConfig
from seedrun.sim.answers import revised_prompt, usage_tokens
from seedrun.sim.engine import Engine, NotQueued, SimTask, chance, digest, happens
from seedrun.sim.validate import parse_official

from .helpers import text_body

T0 = 1000.0


def make_engine(**overrides: Any) -> Engine:
    config = SimConfig(**{"task_seconds": (1.0, 1.0), **overrides})
    return Engine(config, epoch_offset=1_770_000_000.0 - T0)


def create(engine: Engine, now: float, prompt: str = "p", **extra: Any) -> SimTask:
    body = text_body(prompt, **extra)
    return engine.create(engine.attempt("official", body), parse_official(body), body, now)


def statuses(tasks: list[SimTask], now: float) -> list[str]:
    return [task.status_at(now) for task in tasks]


def test_randomness_is_a_pure_hash_of_seed_entity_and_purpose() -> None:
    assert digest(0, "task_a", "run") == digest(0, "task_a", "run")
    assert digest(0, "task_a", "run") != digest(1, "task_a", "run")
    assert digest(0, "task_a", "run") != digest(0, "task_a", "seed")
    draws = [chance(7, f"entity{i}", "p") for i in range(2000)]
    assert all(0.0 <= d < 1.0 for d in draws)
    assert 0.45 < sum(draws) / len(draws) < 0.55
    assert not happens(0.0, 7, "x", "p")
    assert happens(1.0, 7, "x", "p")


def test_fcfs_cap_two_runs_two_and_queues_two() -> None:
    engine = make_engine(concurrency=2)
    tasks = [create(engine, T0 + i * 0.01, f"p{i}") for i in range(4)]
    assert statuses(tasks, T0 + 0.05) == ["running", "running", "queued", "queued"]
    # The third and fourth start when the first two finish, in arrival order.
    assert [t.start for t in tasks] == pytest.approx([T0, T0 + 0.01, T0 + 1.0, T0 + 1.01])
    assert statuses(tasks, T0 + 1.005) == ["succeeded", "running", "running", "queued"]
    assert statuses(tasks, T0 + 2.5) == ["succeeded"] * 4


def test_status_depends_on_time_only_not_on_how_often_it_is_read() -> None:
    polled, unpolled = make_engine(concurrency=1), make_engine(concurrency=1)
    polled_tasks = [create(polled, T0, "a"), create(polled, T0, "b")]
    unpolled_tasks = [create(unpolled, T0, "a"), create(unpolled, T0, "b")]
    for step in range(300):
        statuses(polled_tasks, T0 + step * 0.01)
    assert statuses(polled_tasks, T0 + 1.5) == statuses(unpolled_tasks, T0 + 1.5)
    assert [(t.start, t.end) for t in polled_tasks] == [(t.start, t.end) for t in unpolled_tasks]


def test_run_time_is_uniform_in_range_and_deterministic_per_task() -> None:
    one, two = make_engine(task_seconds=(2.0, 4.0)), make_engine(task_seconds=(2.0, 4.0))
    first = [create(one, T0, f"p{i}").run_seconds for i in range(50)]
    # Arrival order differs; each task still gets the same run time.
    second = [create(two, T0, f"p{i}").run_seconds for i in reversed(range(50))][::-1]
    assert first == second
    assert all(2.0 <= r <= 4.0 for r in first)
    assert len(set(first)) == 50


def test_identical_bodies_get_distinct_ids_that_repeat_across_engines() -> None:
    one, two = make_engine(), make_engine()
    ids_one = [create(one, T0).id for _ in range(3)]
    ids_two = [create(two, T0).id for _ in range(3)]
    assert ids_one == ids_two
    assert len(set(ids_one)) == 3
    assert all(i.startswith("task_") for i in ids_one)
    assert create(make_engine(seed=1), T0).id != ids_one[0]


def test_cancel_frees_the_reserved_slot_for_the_next_queued_task() -> None:
    engine = make_engine(concurrency=1)
    running, doomed, waiting = (create(engine, T0, p) for p in ("a", "b", "c"))
    assert waiting.start == pytest.approx(T0 + 2.0)
    engine.cancel(doomed, T0 + 0.5)
    assert doomed.status_at(T0 + 0.5) == "cancelled"
    assert doomed.updated_at(T0 + 5) == T0 + 0.5
    assert waiting.start == pytest.approx(T0 + 1.0)
    assert statuses([running, doomed, waiting], T0 + 1.5) == ["succeeded", "cancelled", "running"]


def test_only_a_queued_task_can_be_cancelled() -> None:
    engine = make_engine(concurrency=1)
    task = create(engine, T0)
    with pytest.raises(NotQueued) as running:
        engine.cancel(task, T0 + 0.5)
    assert running.value.status == "running"
    with pytest.raises(NotQueued) as done:
        engine.cancel(task, T0 + 1.5)
    assert done.value.status == "succeeded"


def test_started_tasks_keep_their_plan_when_others_arrive() -> None:
    engine = make_engine(concurrency=1, task_seconds=(1.0, 1.0))
    first = create(engine, T0)
    plan = (first.start, first.end)
    create(engine, T0 + 0.5)
    create(engine, T0 + 0.6)
    assert (first.start, first.end) == plan


def test_flex_tasks_wait_before_joining_and_later_default_tasks_overtake() -> None:
    engine = make_engine(concurrency=1, flex_queue_seconds=5.0)
    flex = create(engine, T0, "flex", service_tier="flex")
    default = create(engine, T0 + 1.0, "default")
    assert flex.status_at(T0 + 4.0) == "queued"
    assert default.start == pytest.approx(T0 + 1.0)
    assert flex.start == pytest.approx(T0 + 5.0)


def test_no_cap_runs_everything_at_once() -> None:
    engine = make_engine(concurrency=None)
    tasks = [create(engine, T0, f"p{i}") for i in range(30)]
    assert statuses(tasks, T0 + 0.5) == ["running"] * 30


def test_drafts_run_faster_and_policy_marker_fails() -> None:
    engine = make_engine(draft_speedup=4.0)
    draft = create(engine, T0, "d", draft=True)
    assert draft.run_seconds == pytest.approx(0.25)
    bad = create(engine, T0, "a scene [policy-fail]")
    assert statuses([draft, bad], T0 + 0.5) == ["succeeded", "running"]
    assert bad.status_at(T0 + 1.0) == "failed"


def test_progress_grows_linearly_while_running() -> None:
    engine = make_engine(concurrency=1, task_seconds=(2.0, 2.0))
    create(engine, T0, "first")
    task = create(engine, T0, "second")
    assert [task.progress_at(T0 + dt) for dt in (1.0, 2.0, 2.5, 3.0, 3.99, 4.0)] == [
        0, 0, 25, 50, 99, 100,
    ]


def test_updated_at_follows_transitions_and_epoch_is_whole_seconds() -> None:
    engine = make_engine(concurrency=1)
    create(engine, T0)
    task = create(engine, T0 + 0.2)
    assert [task.updated_at(T0 + dt) for dt in (0.5, 1.5, 2.5)] == [T0 + 0.2, T0 + 1.0, T0 + 2.0]
    assert engine.epoch(task.created) == 1_770_000_000


def test_retention_hides_old_tasks() -> None:
    engine = make_engine(retention_seconds=10.0)
    task = create(engine, T0)
    assert engine.find(task.id, T0 + 10.0) is task
    assert engine.find(task.id, T0 + 10.5) is None
    assert engine.find(task.id, T0 + 1.0, "unified") is None


def test_listing_filters_and_orders_newest_first() -> None:
    engine = make_engine(concurrency=1)
    a = create(engine, T0, "a")
    b = create(engine, T0 + 0.1, "b", service_tier="flex")
    c = create(engine, T0 + 0.2, "c")
    now = T0 + 0.5
    assert engine.listing(now) == [c, b, a]
    assert engine.listing(now, status="queued") == [c, b]
    assert engine.listing(now, task_ids=(a.id, c.id)) == [c, a]
    assert engine.listing(now, service_tier="flex") == [b]
    assert engine.listing(now, model="other") == []


@pytest.mark.parametrize(
    ("resolution", "ratio", "duration", "draft", "tokens"),
    [
        ("720p", "16:9", 5, False, 102960),
        ("1080p", "16:9", 5, False, 244800),
        ("480p", "9:16", 10, False, 97200),
        ("720p", "adaptive", 5, False, 102960),
        ("1080p", "16:9", 5, True, 29160),
    ],
)
def test_usage_tokens(resolution: str, ratio: str, duration: int, draft: bool, tokens: int) -> None:
    assert usage_tokens(resolution, ratio, duration, draft) == tokens


def test_revised_prompt_makes_light_edits() -> None:
    assert revised_prompt("  a cubic   city at sunrise ") == "A cubic city at sunrise."
    assert revised_prompt("Wow!") == "Wow!"
    assert revised_prompt("") == ""
