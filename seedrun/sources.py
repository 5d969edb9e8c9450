"""What a job waits for before its create: the jobs it chains from, the moderation
of its assets, and fresh URLs of its sources' last frames.

``Sources.resolve(job)`` waits, then answers with the values for the job's slots
(``Ready``) or why it cannot be sent now (``NotReady``: blocked for good, failed,
or still pending). It records nothing: the runner turns the answer into a lock
entry, so every state change is journaled in one place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import trio

from seedrun.client import SeedanceClient
from seedrun.errors import ApiError
from seedrun.lockfile import Lock
from seedrun.spec import Job


@dataclass(frozen=True)
class Ready:
    values: Mapping[str, str]


@dataclass(frozen=True)
class NotReady:
    outcome: str  # "blocked" (never sendable as is), "failed" (try again later), "pending"
    reason: str
    code: str = ""


class Sources:
    def __init__(
        self,
        lock: Lock,
        client: SeedanceClient,
        *,
        done: Mapping[str, trio.Event],
        moderated: Mapping[str, trio.Event],
        moderation_errors: Mapping[str, str],
        fresh: set[str],
        upload: Callable[[str], Awaitable[str | None]] | None = None,
        upload_errors: Mapping[str, str] | None = None,
        name: Callable[[str], str] = str,
    ) -> None:
        """``lock`` is the run's live lock; ``done`` is set when a job ends in this
        run, ``moderated`` when an asset's moderation ended; ``fresh`` holds the jobs
        that succeeded in this run (their frame URLs are new). ``upload`` gives the
        URL of a local image (``seedrun.uploads``), None after a failure, whose
        words are then in ``upload_errors``; ``name`` names an asset for messages."""
        self._lock = lock
        self._client = client
        self._done = done
        self._moderated = moderated
        self._moderation_errors = moderation_errors
        self._fresh = fresh
        self._upload = upload
        self._upload_errors = upload_errors if upload_errors is not None else {}
        self._name = name

    async def resolve(self, job: Job) -> Ready | NotReady:
        for dep in job.deps:
            await self._done[dep].wait()
            src = self._lock.jobs.get(dep)
            if src is not None and src.status in ("failed", "cancelled", "blocked"):
                return NotReady("blocked", f"source {dep} is {src.status}")
            if src is None or src.status != "succeeded":
                # In flight (detached), unknown, or never created (budget, Ctrl-C):
                # nothing is decided yet, so nothing is recorded; a later apply goes on.
                state = src.status if src else "not created"
                return NotReady("pending", f"waits for source {dep} ({state})")
        values: dict[str, str] = {}
        for slot in job.slots:
            if slot.kind == "asset":
                if slot.ref in self._moderated:
                    await self._moderated[slot.ref].wait()
                asset = self._lock.assets.get(slot.ref)
                if asset is None and slot.ref in self._upload_errors:
                    return self._not_uploaded(slot.ref)
                if asset is None:
                    why = self._moderation_errors.get(slot.ref, "no answer")
                    return NotReady(
                        "failed",
                        f"asset {self._name(slot.ref)} could not be moderated ({why}); run again",
                        "moderation_error",
                    )
                if not asset.passed or not asset.asset_url:
                    return NotReady(
                        "blocked",
                        f"asset {self._name(slot.ref)} failed moderation: "
                        f"{asset.reason or 'rejected'}",
                    )
                values[slot.ref] = asset.asset_url
            elif slot.kind == "file":  # a local image, uploaded on first use
                url = await self._upload(slot.ref) if self._upload is not None else None
                if url is None:
                    return self._not_uploaded(slot.ref)
                values[slot.ref + "#file"] = url
            elif slot.kind == "draft_task":
                values[slot.ref + "#task"] = self._lock.jobs[slot.ref].task_id or ""
            elif slot.kind == "last_frame":
                url = await self._fresh_last_frame(slot.ref)
                if url is None:
                    return NotReady(
                        "failed",
                        f"the last frame of {slot.ref} is not available "
                        "(its URL expired and the task is past retention); "
                        f"replace it with --replace '{slot.ref}'",
                        "source_frame_unavailable",
                    )
                values[slot.ref + "#frame"] = url
        return Ready(values)

    def _not_uploaded(self, ref: str) -> NotReady:
        """Nothing was sent for the job, so nothing is recorded: a later apply goes on."""
        why = self._upload_errors.get(ref, "no uploads bucket is configured")
        return NotReady("pending", f"{why}; nothing was created, run apply again")

    async def _fresh_last_frame(self, source_id: str) -> str | None:
        src = self._lock.jobs[source_id]
        if source_id in self._fresh and src.last_frame_url:
            return src.last_frame_url
        # Frame URLs expire; a source finished in an earlier run gets a fresh one.
        if not src.task_id:
            return None
        try:
            state = await self._client.get(src.api, src.task_id)
        except ApiError:
            return None
        return state.last_frame_url
