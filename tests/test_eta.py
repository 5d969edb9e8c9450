"""eta.py: the provider as a FCFS queue, learnt from answers. Pure numbers, no clock.

Times are the tracker's clock; the provider's clock is ours plus OFFSET seconds.
"""

from __future__ import annotations

import pytest

from seedrun.eta import DEFAULT_SKEW, Forecast, ServerClock
from seedrun.models import TaskState

OFFSET = 1_770_000_000.0


def forecast(**kw: object) -> Forecast:
    return Forecast(floor=0.5, clock=ServerClock(OFFSET), **kw)  # type: ignore[arg-type]


def answer(task_id: str, status: str, *, created: float, updated: float | None = None
           ) -> TaskState:
    """An official answer: whole server seconds, rounded down."""
    return TaskState(
        task_id=task_id,
        status=status,
        created_at=int(created + OFFSET),
        updated_at=None if updated is None else int(updated + OFFSET),
    )


def create_wave(f: Forecast, n_running: int, n_queued: int, at: float = 0.0) -> None:
    for i in range(n_running + n_queued):
        status = "running" if i < n_running else "queued"
        t = at + 0.01 * i
        f.add(f"t{i}", "g", sent=t, received=t + 0.005,
              state=answer(f"t{i}", status, created=t, updated=t), fresh=True)


def test_the_cap_is_the_count_running_when_a_create_is_queued() -> None:
    f = forecast()
    create_wave(f, 3, 4)
    assert f.cap == 3
    assert f.counts() == (4, 3)


def test_a_task_behind_two_waves_is_predicted_to_start_after_them() -> None:
    f = forecast()
    for run in (10.0, 10.0, 10.0):
        f.runtimes.observe("g", run)
    create_wave(f, 3, 7)  # t3..t9 wait; each wave of 3 runs 10 s
    f.plan(0.1, force=True)
    starts = {tid: f.tracks[tid].predicted for tid in ("t3", "t5", "t6", "t8", "t9")}
    assert starts["t3"] == pytest.approx(10.0, abs=0.1)  # first wave ends
    assert starts["t5"] == pytest.approx(10.0, abs=0.1)
    assert starts["t6"] == pytest.approx(20.0, abs=0.1)  # behind two waves
    assert starts["t8"] == pytest.approx(20.0, abs=0.1)
    assert starts["t9"] == pytest.approx(30.0, abs=0.1)
    # Its first poll: when it could be done (start + a quantile of 10 s), not before.
    assert f.due("t6", 0.1) >= 30.0
    # The whole run: four waves of 10 s.
    assert f.view(0.1).eta == pytest.approx(40.0, abs=0.2)


def test_run_time_is_learnt_from_start_to_end_not_from_the_create() -> None:
    f = forecast()
    create_wave(f, 1, 1)  # t1 queued behind t0
    f.observe("t1", answer("t1", "queued", created=0.01), sent=5.0, received=5.01)
    # Seen running at 12.3; the server says it started in its second 12.
    f.observe("t1", answer("t1", "running", created=0.01, updated=12.0), sent=12.3, received=12.31)
    track = f.tracks["t1"]
    # Its clock is ours to DEFAULT_SKEW (the creates narrow it no further).
    assert track.start_lo == pytest.approx(12.0 - DEFAULT_SKEW, abs=0.01)
    assert track.start_hi == pytest.approx(12.31)
    f.observe("t1", answer("t1", "succeeded", created=0.01, updated=15.0), sent=15.2,
              received=15.21)
    # End in [15.0, 15.21], start in [12.0, 12.31]: about 3 s, not the 15 s since the create.
    (sample,) = f.runtimes.samples("g")
    assert sample == pytest.approx(3.05, abs=0.2)
    assert "t1" not in f.tracks


def test_a_task_only_seen_queued_then_done_teaches_only_until_better_is_known() -> None:
    f = forecast()
    create_wave(f, 1, 1)
    f.observe("t1", answer("t1", "succeeded", created=0.01, updated=30.0), sent=31.0,
              received=31.0)
    # Started somewhere in (0.01, 31]: a rough run time, kept aside.
    (rough,) = f.runtimes.samples("g")
    for run in (3.0, 3.1, 3.2):
        f.runtimes.observe("g", run)
    assert f.runtimes.samples("g") == [3.0, 3.1, 3.2]
    assert rough not in f.runtimes.samples("g")


def test_the_server_clock_is_bracketed_by_creates() -> None:
    clock = ServerClock(OFFSET)  # a guess: the server's clock is ours
    # The server's clock runs 0.7 s ahead of the guess.
    for sent in (0.0, 0.45, 1.2, 2.9):
        clock.bracket(int(sent + OFFSET + 0.7), sent, sent + 0.01)
    assert clock.lo <= OFFSET + 0.7 <= clock.hi
    assert clock.hi - clock.lo < 0.5
    # Contradicting brackets (the server's clock jumped): start over from the latest.
    clock.bracket(int(5.0 + OFFSET + 30.0), 5.0, 5.01)
    assert clock.lo <= OFFSET + 30.0 <= clock.hi


def test_warm_start_and_the_tail() -> None:
    f = forecast(expected=2)
    f.warm([("g", 10.0), ("g", 11.0), ("g", 12.0)])
    create_wave(f, 1, 0)
    assert f.tail() is None or f.added < 2
    f.plan(0.0, force=True)
    assert f.tail() is None  # one more task to come: not the end yet
    f.add("t9", "g", sent=0.1, received=0.11, state=answer("t9", "running", created=0.1,
          updated=0.1), fresh=True)
    f.plan(0.2, force=True)
    # Both in flight, both started at about 0: the run cannot be over before 10 s.
    assert f.tail() == pytest.approx(10.05, abs=0.5)


def test_a_resumed_task_is_asked_at_once() -> None:
    f = forecast()
    f.add("old", "g", sent=-100.0, received=-100.0, state=TaskState("old", "running"),
          fresh=False)
    assert f.due("old", 0.0) == 0.0


def test_first_come_first_served_a_task_behind_a_queued_one_waits_too() -> None:
    f = forecast()
    for i in range(4):  # unified creates: the answer says queued whatever the task does
        f.add(f"v{i}", "g", sent=0.01 * i, received=0.01 * i + 0.005,
              state=TaskState(f"v{i}", "queued"), fresh=True, trust_status=False)
    f.add("other", "h", sent=0.05, received=0.055, state=TaskState("other", "queued"),
          fresh=True, trust_status=False)
    f.observe("v1", TaskState("v1", "queued"), sent=1.0, received=1.01)
    statuses = {tid: t.status for tid, t in f.tracks.items()}
    # v2 and v3 were created after v1, which still waits: they wait, unasked.
    assert statuses == {"v0": "sent", "v1": "queued", "v2": "queued", "v3": "queued",
                        "other": "sent"}  # another kind (a flex tier, say) is not inferred
    assert f.tracks["v3"].not_before == 1.0


def unified_wave(f: Forecast, n: int) -> None:
    for i in range(n):
        t = 0.01 * i
        f.add(f"v{i:02d}", "g", sent=t, received=t + 0.005,
              state=TaskState(f"v{i:02d}", "queued"), fresh=True, trust_status=False)


def test_unified_statuses_are_found_by_halving_not_by_asking_each() -> None:
    """32 unified tasks, the provider runs 5: asked one at a time, each answer
    settles half of the unsure ones (first come, first served)."""
    f = forecast()
    unified_wave(f, 32)
    now, asked = 1.0, []
    for _ in range(12):
        f.plan(now, force=True)
        due_now = [tid for tid in f.tracks if f.due(tid, now) <= now]
        if not due_now:
            break
        assert len(due_now) == 1  # one probe at a time
        tid = due_now[0]
        asked.append(tid)
        status = "running" if int(tid[1:]) < 5 else "queued"
        f.observe(tid, TaskState(tid, status, progress=10 if status == "running" else 0),
                  sent=now, received=now + 0.01)
        now += 0.02
    assert len(asked) <= 6  # log2(32) + 1, where asking each would be 32
    statuses = {tid: t.status for tid, t in f.tracks.items()}
    assert all(statuses[f"v{i:02d}"] == "running" for i in range(5))
    assert all(statuses[f"v{i:02d}"] == "queued" for i in range(5, 32))
    assert f.cap == 5  # five started while one waited
    # The ones settled without being asked are due by the model, not at once.
    f.plan(now, force=True)
    unasked = [tid for tid in f.tracks if tid not in asked]
    assert all(f.due(tid, now) > now for tid in unasked)


def test_the_first_progress_sample_pins_the_start_once_the_end_is_seen() -> None:
    f = forecast()
    f.add("v", "g", sent=0.0, received=0.01, state=TaskState("v", "queued"), fresh=True,
          trust_status=False)
    f.observe("v", TaskState("v", "queued"), sent=1.0, received=1.01)
    # Seen running at 9 with 40 % done, at 13.6 with 95 %, done at 14; its start is
    # known only to lie in (1, 9).
    f.observe("v", TaskState("v", "running", progress=40), sent=9.0, received=9.0)
    f.observe("v", TaskState("v", "running", progress=95), sent=13.6, received=13.6)
    f.observe("v", TaskState("v", "succeeded", progress=100), sent=14.0, received=14.0)
    # The pace (55 % in 4.6 s) puts the start at about 5.6 and the end at about
    # 14.0: a run time of about 8.4 s, where the middle of (1, 9) would give 8.8.
    assert f.runtimes.samples("g") == [pytest.approx(8.36, abs=0.1)]


def test_a_resume_orders_tasks_of_one_second_by_when_their_creates_were_answered() -> None:
    f = forecast()
    f.add("run", "g", sent=-5.0, received=-5.0, state=TaskState("run", "running"), fresh=False)
    # Created in the same server second; the lockfile's submitted_at says b, c, a.
    for tid, answered in (("a", -4.1), ("b", -4.3), ("c", -4.2)):
        f.add(tid, "g", sent=-4.5, received=-4.5, state=TaskState(tid, "queued"),
              fresh=False, order=answered)
    for tid in ("run", "a", "b", "c"):
        status = "running" if tid == "run" else "queued"
        f.observe(tid, TaskState(tid, status), sent=0.0, received=0.01)
    f.warm([("g", 10.0), ("g", 10.0), ("g", 10.0)], measured=True)
    f.plan(0.1, force=True)
    starts = {tid: f.tracks[tid].predicted for tid in ("a", "b", "c")}
    assert starts["b"] is not None and starts["c"] is not None and starts["a"] is not None
    assert starts["b"] <= starts["c"] <= starts["a"]


def test_only_a_task_that_may_end_the_run_is_polled_at_the_floor_in_the_tail() -> None:
    f = forecast(expected=2)
    f.warm([("g", 10.0), ("g", 11.0), ("g", 12.0)], measured=True)
    f.add("early", "g", sent=0.0, received=0.01,
          state=answer("early", "running", created=0.0, updated=0.0), fresh=True)
    f.add("late", "g", sent=5.0, received=5.01,
          state=answer("late", "running", created=5.0, updated=5.0), fresh=True)
    f.observe("late", answer("late", "running", created=5.0, updated=5.0), sent=13.0,
              received=13.01)
    f.plan(13.1, force=True)
    assert f.tail() is not None
    assert f.tail() == pytest.approx(15.0, abs=0.1)  # late's start + the shortest run
    # `late` was seen running at 13, so the run ends after 13; `early` ends by 12
    # unless it outruns every task seen: it cannot end the run, and is not pulled to
    # the tail (where every task used to be polled at the floor).
    assert f.due("late", 13.1) == pytest.approx(15.0 + 0.05, abs=0.1)
    assert f.due("early", 13.1) > 15.5


def test_with_nothing_known_a_few_scouts_learn_the_run_time_for_the_rest() -> None:
    f = forecast()
    create_wave(f, 10, 0)  # ten of one kind, running from their create, no history
    f.plan(0.2, force=True)
    dues = {tid: f.due(tid, 0.2) for tid in f.tracks}
    cold = [tid for tid, due in dues.items() if due <= 0.2 + 0.5 + 0.06]
    assert len(cold) == 4  # the scouts, at the floor
    held = [tid for tid in f.tracks if tid not in cold]
    assert all(dues[tid] >= 0.2 + 4 * 0.5 - 0.3 for tid in held)
    # The scouts end after about 10 s, each seen closely: the held ones are handed
    # back, and their polls now aim at the run time learnt.
    for i, tid in enumerate(cold[:3]):
        f.observe(tid, answer(tid, "running", created=0.0, updated=0.0), sent=9.5, received=9.5)
        f.observe(tid, answer(tid, "succeeded", created=0.0, updated=10.0), sent=10.0 + i * 0.01,
                  received=10.0 + i * 0.01)
    moved = f.plan(10.1, force=True)
    assert set(held) <= set(moved)
    # They have run as long as the scouts, so they are due soon (at a quarter of
    # their run so far), where held they would wait twice their run so far.
    assert all(f.due(tid, 10.1) <= 10.1 + 0.25 * 10.1 + 0.1 for tid in held)
