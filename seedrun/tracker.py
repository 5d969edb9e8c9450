"""Follows tasks in flight until they end, with as few status requests as we can.

The IO loop around the pure model in ``seedrun.eta``: each answer goes into
the model, and the model says when each task is due again. Tasks polled one by
one (unified, or when the server has no list endpoint: probed once, 404, 405
or 400) wait in a heap of due times. Official tasks under the list endpoint
are swept together: a sweep goes when enough of them are due, or when the
first due one has waited long enough, and asks for every task that may be
done by then (a page holds 100, so small runs ask for all of them).

Answers are checked against the question. A GET or list item whose id is not
the task asked for is not merged: it is reported and asked again. A 404 for a
task the provider gave us is not proof that it is gone (gateways with
read-after-write lag answer 404 to the first GETs of a new task): it is asked
again with backoff for ``not_found_patience`` seconds before the job is told.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import trio

from seedrun.client import SeedanceClient
from seedrun.errors import ApiError, AuthError, BadResponse, TaskNotFound, Unsupported
from seedrun.eta import Forecast, RunView, ServerClock
from seedrun.models import TaskState
from seedrun.polling import LONG_WAIT

log = logging.getLogger(__name__)

# Due times this close together are served by one sweep.
COALESCE = 0.05
MAX_PARALLEL_GETS = 64
LIST_PAGE = 100
# A sweep waits until this many tasks are due ...
SWEEP_BATCH = 5
# ... or the first due one has waited this fraction of a typical run time.
SWEEP_LAG = 0.4
NOT_FOUND_PATIENCE = 600.0
TROUBLE_BACKOFF_CAP = 60.0
# The queue note waits until creates have paused this long (seconds).
QUEUE_NOTE_QUIET = 1.0
# Once a run has lasted this many floors, its last sweeps go two floors apart.
TAIL_RELAX = 40


@dataclass(eq=False)
class Watch:
    """One task being followed. The job task awaits ``changed``."""

    api: str
    task_id: str
    group: str
    submitted: float
    deadline: float | None
    state: TaskState
    due: float = 0.0
    last_poll: float = 0.0
    error: ApiError | None = None
    changed: trio.Event = field(default_factory=trio.Event)
    version: int = 0
    done: bool = False
    trouble_since: float | None = None  # first of a run of 404s or answers for another id
    troubles: int = 0
    told_wrong_id: bool = False
    asking: bool = False  # a status request for it is on the wire
    polls: list[float] = field(default_factory=list)  # when each status request was sent
    run_seconds: float | None = None  # start to end, when the poller measured it fairly
    provisional: bool = True  # its due only holds a place until the model places it


class Tracker:
    def __init__(
        self,
        client: SeedanceClient,
        *,
        floor: float = 1.0,
        use_list: bool = True,
        clock: Callable[[], float] = trio.current_time,
        wall: Callable[[], float] = time.time,
        not_found_patience: float = NOT_FOUND_PATIENCE,
        expected: int | None = None,
        max_in_flight: int | None = None,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.floor = floor
        self.use_list = use_list
        self.clock = clock
        self.not_found_patience = not_found_patience
        self.max_in_flight = max_in_flight
        self.note = note or (lambda message: None)
        offset = ServerClock(wall() - clock())
        self.forecast = Forecast(floor=floor, clock=offset, expected=expected)
        self.model = self.forecast.runtimes
        self._heap: list[tuple[float, int, Watch]] = []
        self._counter = itertools.count()
        self._wake = trio.Event()
        self._gets = trio.CapacityLimiter(MAX_PARALLEL_GETS)
        self._active: dict[str, Watch] = {}
        self._swept: dict[str, Watch] = {}  # official watches served by sweeps
        self._last_sweep = float("-inf")
        self._last_add = float("-inf")
        self._first_add = float("inf")
        self._queue_noted = False
        self._tail: float | None = None
        self.sweeps = 0
        self.fatal: AuthError | None = None

    # ---------------------------------------------------------------- job side

    def warm(self, history: Iterable[tuple[str, float]], *, measured: bool = False) -> None:
        """Run times (group, seconds) from the lockfile: ``measured`` closely by an
        earlier run, else rough ones used until this run has its own."""
        self.forecast.warm(history, measured=measured)

    def expect(self, tasks: int) -> None:
        """How many tasks this run will watch in all (the end of a run polls closer)."""
        self.forecast.expected = tasks

    def watch(
        self,
        api: str,
        state: TaskState,
        *,
        group: str,
        submitted: float,
        deadline: float | None,
        resumed: bool = False,
        answered: float | None = None,
        order: float | None = None,
        seconds: float | None = None,
    ) -> Watch:
        """Follow a task: just created (sent at ``submitted``, answered ``state``), or
        ``answered``: when its create's answer came, if not just now;
        ``resumed`` from a lockfile (``submitted``: its creation, as well as known;
        ``order``: when its create was answered, if the lockfile knows, which places
        it in the provider's queue among tasks created in the same second).
        ``seconds``: the video's duration, so a new kind of task borrows the run
        times of the others in proportion."""
        now = self.clock()
        if seconds is not None:
            self.model.size(group, seconds)
        w = Watch(api, state.task_id, group, submitted, deadline, state, last_poll=now)
        self.forecast.add(
            w.task_id,
            group,
            sent=submitted,
            received=now if answered is None else min(now, answered),
            state=state,
            fresh=not resumed,
            order=order,
            # The unified create answer says queued whatever the task does.
            trust_status=api == "official",
        )
        self._last_add = now
        self._first_add = min(self._first_add, now)
        self._active[w.task_id] = w
        self._schedule(w)
        return w

    async def wait_change(self, w: Watch, seen: int) -> int:
        """Wait for a state change after version ``seen`` (or the end, or ``w.error``)."""
        while w.version == seen:
            await w.changed.wait()
        return w.version

    def view(self, pending: int = 0) -> RunView:
        """Queued and running counts at the provider, its cap, and the predicted end."""
        return self.forecast.view(self.clock(), pending, self.max_in_flight)

    # ---------------------------------------------------------------- schedule

    def _swept_here(self, w: Watch) -> bool:
        return self.use_list and w.api == "official"

    def _schedule(self, w: Watch, at: float | None = None, *, sooner: bool = False) -> None:
        """Set the watch's next poll; ``sooner``: only if that is sooner than the one
        it has (news that moves polls earlier must not push others later)."""
        now = self.clock()
        due = self.forecast.due(w.task_id, now) if at is None else at
        if w.deadline is not None:
            due = min(due, max(w.deadline, now + self.floor))
        if sooner and not w.provisional and now <= w.due <= due:
            return
        # A due set before the model placed the task (or while a unified probe
        # settles it) only holds its place: the next one replaces it, later or not.
        w.provisional = at is None and self.forecast.unsettled(w.task_id)
        w.due = due
        if self._swept_here(w):
            self._swept[w.task_id] = w
        else:
            heapq.heappush(self._heap, (due, next(self._counter), w))
        self._wake.set()

    def _next_sweep(self) -> float | None:
        """When the next sweep goes: at the SWEEP_BATCH-th due time, or once the
        first due task has waited SWEEP_LAG of a run; near the end, at each due."""
        if not self._swept:
            return None
        dues = heapq.nsmallest(SWEEP_BATCH, (w.due for w in self._swept.values()))
        first = dues[0]
        tail = self.forecast.tail()
        gap = self.floor
        if tail is not None and first >= tail - self.floor:
            when = first  # the run may end any moment now: no waiting for company
            if first - self._first_add >= TAIL_RELAX * self.floor:
                # A long run's last few tasks: a sweep each two floors costs the
                # run at most one floor (1/TAIL_RELAX of it), and half the requests.
                gap = 2 * self.floor
        else:
            typical = self.model.expected("") or 0.0
            when = min(dues[-1], first + max(self.floor, SWEEP_LAG * typical))
        return max(when, self._last_sweep + gap, first)

    # ---------------------------------------------------------------- loop

    async def run(self) -> None:
        """Serve polls until cancelled."""
        async with trio.open_nursery() as nursery:
            while True:
                now = self.clock()
                for task_id in self.forecast.plan(now):
                    w = self._active.get(task_id)
                    if w is not None and not w.done and not w.asking:
                        self._schedule(w, sooner=True)
                self._tail_moved()
                self._maybe_note_queue(now)
                self._drop_done()
                first = self._heap[0][0] if self._heap else None
                sweep = self._next_sweep()
                nearest = min((t for t in (first, sweep) if t is not None), default=None)
                if nearest is None or nearest > now:
                    await self._sleep_until(nearest)
                    continue
                if sweep is not None and sweep <= now:
                    await self._sweep(now)
                    continue
                due = self._pop_due(now + COALESCE)
                if any(self.forecast.unplanned(w.task_id) for w in due):
                    # Placed in the queue's play first: a queued task may be far back.
                    moved = set(self.forecast.plan(now, force=True))
                    for w in due:
                        if w.task_id not in moved:
                            self._schedule(w)
                    for task_id in moved:
                        w = self._active.get(task_id)
                        if w is not None and not w.asking:
                            self._schedule(w)
                    continue
                for w in due:
                    nursery.start_soon(self._poll_one, w)

    async def _sleep_until(self, when: float | None) -> None:
        self._wake = trio.Event()
        # Replanning is throttled; wake for it even when nothing is due.
        limit = self.clock() + max(self.floor, 0.25)
        when = limit if when is None else min(when, limit)
        with trio.move_on_at(when):
            await self._wake.wait()

    def _drop_done(self) -> None:
        while self._heap and self._heap[0][2].done:
            heapq.heappop(self._heap)

    def _pop_due(self, until: float) -> list[Watch]:
        out: list[Watch] = []
        seen: set[int] = set()
        while self._heap and self._heap[0][0] <= until:
            due, _, w = heapq.heappop(self._heap)
            # A watch rescheduled since this heap entry was pushed is stale here.
            if w.done or due != w.due or id(w) in seen or self._swept_here(w) or w.asking:
                continue
            seen.add(id(w))
            out.append(w)
        return out

    def _sweep_batch(self, now: float) -> list[Watch]:
        """Every swept task due by now (plus a lag), topped up to a full page."""
        ranked = sorted(self._swept.values(), key=lambda w: w.due)
        typical = self.model.expected("") or 0.0
        horizon = now + max(self.floor, SWEEP_LAG * typical)
        due = [w for w in ranked if w.due <= horizon]
        # The rest of the page is free: top it up with the next due, except tasks
        # that have waited long enough to be asked only about once a minute.
        room = max(1, -(-len(due) // LIST_PAGE)) * LIST_PAGE - len(due)
        spare = [w for w in ranked[len(due) :] if now - w.submitted < LONG_WAIT]
        return due + spare[:room]

    async def _sweep(self, now: float) -> None:
        """One list request (a page per 100 tasks) for the tasks that may be done."""
        batch = self._sweep_batch(now)
        self._last_sweep = now
        pending = {w.task_id: w for w in batch}
        sent = self.clock()
        try:
            states = await self.client.list_tasks(list(pending), page_size=LIST_PAGE)
        except (Unsupported, AuthError, BadResponse) as exc:
            # The list endpoint is not in the documented API: a gateway may lack it,
            # refuse it, or answer it in another shape. Any of those: GET each task.
            log.debug("list endpoint unusable (%s); polling each task with GET", exc)
            self.use_list = False
            swept, self._swept = self._swept, {}
            for w in swept.values():
                self._schedule(w, at=now)
            return
        except ApiError as exc:
            log.debug("list request failed (%s); GET for the due tasks this time", exc)
            await self._poll_each([w for w in batch if w.due <= now + COALESCE])
            return
        received = self.clock()
        self.sweeps += 1
        missing: list[Watch] = []
        for task_id, w in pending.items():
            w.polls.append(sent)
            state = states.get(task_id)
            if state is None:
                missing.append(w)
            elif state.task_id != task_id:
                self._wrong_id(w, state)  # only ids asked are looked at, and each as itself
            else:
                self._update(w, state, sent, received)
        # A task the list does not show (yet): its own GET, which also sees a 404.
        due_missing = [w for w in missing if w.due <= now + COALESCE]
        for w in missing:
            if not w.done and w not in due_missing:
                self._schedule(w)
        for w in due_missing:
            self._swept.pop(w.task_id, None)
        await self._poll_each(due_missing)

    async def _poll_each(self, due: list[Watch]) -> None:
        async with trio.open_nursery() as nursery:
            for w in due:
                nursery.start_soon(self._poll_one, w)

    async def _poll_one(self, w: Watch) -> None:
        async with self._gets:
            if w.done:
                return
            sent = self.clock()
            w.polls.append(sent)
            w.asking = True
            try:
                state = await self.client.get(w.api, w.task_id)
            except AuthError as exc:
                self._fail_all(exc)
                return
            except TaskNotFound as exc:
                self._trouble(w, exc, f"task {w.task_id} answered 404")
                return
            except ApiError as exc:
                self._finish_error(w, exc)
                return
            finally:
                w.asking = False
        if state.task_id != w.task_id:
            self._wrong_id(w, state)
            return
        self._update(w, state, sent, self.clock())

    # ---------------------------------------------------------------- answers

    def _wrong_id(self, w: Watch, state: TaskState) -> None:
        why = f"the status of task {w.task_id} came back for task {state.task_id}"
        log.warning("%s; ignored, asking again", why)
        if not w.told_wrong_id:
            w.told_wrong_id = True
            self.note(f"{why}; the answer was ignored and the task is asked again")
        self._trouble(w, BadResponse(f"{why}, again and again"), why)

    def _trouble(self, w: Watch, exc: ApiError, why: str) -> None:
        """A 404 or an answer for another task: ask again with backoff, give up after
        ``not_found_patience`` seconds of nothing better."""
        now = self.clock()
        if w.trouble_since is None:
            w.trouble_since, w.troubles = now, 0
        w.troubles += 1
        if now - w.trouble_since >= self.not_found_patience:
            self._finish_error(w, exc)
            return
        delay = min(TROUBLE_BACKOFF_CAP, self.floor * 2.0 ** (w.troubles - 1))
        log.debug("%s; asking again in %.1f s", why, delay)
        self._schedule(w, at=now + delay)

    def _update(self, w: Watch, state: TaskState, sent: float, received: float) -> None:
        if w.done:
            return
        now = self.clock()
        w.trouble_since = None
        ran = self.forecast.observe(w.task_id, state, sent=sent, received=received)
        if ran is not None:
            w.run_seconds = ran
        old = w.state
        w.last_poll = now
        w.state = state
        if state.terminal:
            self._notify(w, final=True)
            return
        if w.deadline is not None and now >= w.deadline:
            self._notify(w, final=True)  # the job side turns this into a timeout
            return
        if state.status != old.status:
            self._notify(w, final=False)
        self._schedule(w)

    def _tail_moved(self) -> None:
        """The run's end came into view (or nearer): polls due past it come sooner."""
        tail = self.forecast.tail()
        if tail is None or (self._tail is not None and tail >= self._tail - self.floor / 2):
            if tail is None:
                self._tail = None
            return
        self._tail = tail
        for w in list(self._active.values()):
            if not w.asking and w.due > tail + self.floor:
                self._schedule(w, sooner=True)

    def _maybe_note_queue(self, now: float) -> None:
        """Say once, plainly, that the provider queues this run's tasks (its cap)."""
        if self._queue_noted or self.forecast.cap is None:
            return
        created_all = (
            self.forecast.expected is not None and self.forecast.added >= self.forecast.expected
        )
        if not created_all and now - self._last_add < QUEUE_NOTE_QUIET:
            return
        queued, _ = self.forecast.counts()
        if queued:
            self._queue_noted = True
            self.note(
                f"the provider runs {self.forecast.cap} tasks at a time; "
                f"{queued} wait in its queue"
            )

    def _finish_error(self, w: Watch, exc: ApiError) -> None:
        w.error = exc
        self._notify(w, final=True)

    def _fail_all(self, exc: AuthError) -> None:
        self.fatal = exc
        for w in list(self._active.values()):
            w.error = exc
            self._notify(w, final=True)

    def _notify(self, w: Watch, *, final: bool) -> None:
        if final:
            w.done = True
            self._active.pop(w.task_id, None)
            self._swept.pop(w.task_id, None)
            self.forecast.drop(w.task_id)
        w.version += 1
        event, w.changed = w.changed, trio.Event()
        event.set()
