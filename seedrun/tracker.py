"""Follows tasks in flight until they end, with as few status requests as we can.

One loop owns every task's poll schedule (a heap of due times). When the
server has the official list endpoint, one sweep refreshes every official task
in flight, so the request count follows the number of moments something is
expected to end, not the number of tasks. Without it (probed once: 404, 405 or
400) each due task gets its own GET.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from seedrun.client import SeedanceClient
from seedrun.errors import ApiError, AuthError, BadResponse, TaskNotFound, Unsupported
from seedrun.models import TaskState
from seedrun.polling import DurationModel, Observation, next_delay

log = logging.getLogger(__name__)

# Due times this close together are served by one sweep.
COALESCE = 0.05
MAX_PARALLEL_GETS = 64


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
    prev_poll: float | None = None
    prev_progress: float | None = None
    error: ApiError | None = None
    changed: trio.Event = field(default_factory=trio.Event)
    version: int = 0
    done: bool = False


class Tracker:
    def __init__(
        self,
        client: SeedanceClient,
        *,
        floor: float = 1.0,
        use_list: bool = True,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self.client = client
        self.floor = floor
        self.use_list = use_list
        self.clock = clock
        self.model = DurationModel()
        self._heap: list[tuple[float, int, Watch]] = []
        self._counter = itertools.count()
        self._wake = trio.Event()
        self._gets = trio.CapacityLimiter(MAX_PARALLEL_GETS)
        self._active: set[Watch] = set()
        self.sweeps = 0
        self.fatal: AuthError | None = None

    # ---------------------------------------------------------------- job side

    def watch(
        self, api: str, state: TaskState, *, group: str, submitted: float, deadline: float | None
    ) -> Watch:
        w = Watch(api, state.task_id, group, submitted, deadline, state, last_poll=self.clock())
        self._active.add(w)
        self._schedule(w)
        return w

    async def wait_change(self, w: Watch, seen: int) -> int:
        """Wait for a state change after version ``seen`` (or the end, or ``w.error``)."""
        while w.version == seen:
            await w.changed.wait()
        return w.version

    # ---------------------------------------------------------------- loop

    def _schedule(self, w: Watch) -> None:
        now = self.clock()
        obs = Observation(
            elapsed=now - w.submitted,
            progress=None if w.state.progress is None else float(w.state.progress),
            prev_elapsed=None if w.prev_poll is None else w.prev_poll - w.submitted,
            prev_progress=w.prev_progress,
        )
        delay = next_delay(obs, self.model.samples(w.group), self.floor)
        w.due = now + delay
        if w.deadline is not None:
            w.due = min(w.due, max(w.deadline, now + self.floor))
        heapq.heappush(self._heap, (w.due, next(self._counter), w))
        self._wake.set()

    async def run(self) -> None:
        """Serve polls until cancelled."""
        async with trio.open_nursery() as nursery:
            while True:
                self._drop_done()
                if not self._heap:
                    await self._sleep_until(None)
                    continue
                first = self._heap[0][0]
                if first > self.clock():
                    await self._sleep_until(first)
                    continue
                due = self._pop_due(self.clock() + COALESCE)
                if self.use_list:
                    official = [w for w in due if w.api == "official"]
                    if official:
                        await self._sweep(official)
                    due = [w for w in due if w.api != "official"]
                for w in due:
                    nursery.start_soon(self._poll_one, w)

    async def _sleep_until(self, when: float | None) -> None:
        self._wake = trio.Event()
        if when is None:
            await self._wake.wait()
        else:
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
            if w.done or due != w.due or id(w) in seen:
                continue
            seen.add(id(w))
            out.append(w)
        return out

    async def _sweep(self, due: list[Watch]) -> None:
        """One list request for every official task in flight, not just the due ones."""
        pending = {w.task_id: w for _, _, w in self._heap if w.api == "official" and not w.done}
        pending.update({w.task_id: w for w in due})
        try:
            states = await self.client.list_tasks(list(pending))
        except (Unsupported, AuthError, BadResponse) as exc:
            # The list endpoint is not in the documented API: a gateway may lack it,
            # refuse it, or answer it in another shape. Any of those: GET each task.
            log.debug("list endpoint unusable (%s); polling each task with GET", exc)
            self.use_list = False
            await self._poll_each(due)
            return
        except ApiError as exc:
            log.debug("list request failed (%s); GET for the due tasks this time", exc)
            await self._poll_each(due)
            return
        self.sweeps += 1
        missing = [w for tid, w in pending.items() if tid not in states]
        for tid, state in states.items():
            if tid in pending:
                self._update(pending[tid], state)
        # Only the due ones among the missing deserve their own GET now.
        due_ids = {w.task_id for w in due}
        async with trio.open_nursery() as nursery:
            for w in missing:
                if w.task_id in due_ids:
                    nursery.start_soon(self._poll_one, w)

    async def _poll_each(self, due: list[Watch]) -> None:
        async with trio.open_nursery() as nursery:
            for w in due:
                nursery.start_soon(self._poll_one, w)

    async def _poll_one(self, w: Watch) -> None:
        async with self._gets:
            if w.done:
                return
            try:
                state = await self.client.get(w.api, w.task_id)
            except AuthError as exc:
                self._fail_all(exc)
                return
            except TaskNotFound as exc:
                self._finish_error(w, exc)
                return
            except ApiError as exc:
                self._finish_error(w, exc)
                return
        self._update(w, state)

    def _update(self, w: Watch, state: TaskState) -> None:
        if w.done:
            return
        now = self.clock()
        old = w.state
        w.prev_poll, w.prev_progress = (
            w.last_poll,
            (None if old.progress is None else float(old.progress)),
        )
        w.last_poll = now
        w.state = state
        if state.terminal:
            if state.status == "succeeded" and w.prev_poll is not None:
                # The end lies between the previous poll and this one.
                self.model.observe(w.group, (w.prev_poll + now) / 2 - w.submitted)
            self._notify(w, final=True)
            return
        if w.deadline is not None and now >= w.deadline:
            self._notify(w, final=True)  # the job side turns this into a timeout
            return
        if state.status != old.status:
            self._notify(w, final=False)
        self._schedule(w)

    def _finish_error(self, w: Watch, exc: ApiError) -> None:
        w.error = exc
        self._notify(w, final=True)

    def _fail_all(self, exc: AuthError) -> None:
        self.fatal = exc
        for w in list(self._active):
            w.error = exc
            self._notify(w, final=True)

    def _notify(self, w: Watch, *, final: bool) -> None:
        if final:
            w.done = True
            self._active.discard(w)
        w.version += 1
        event, w.changed = w.changed, trio.Event()
        event.set()
