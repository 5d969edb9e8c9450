"""A lock entry and what the server says of its task, merged. Pure."""

from __future__ import annotations

from seedrun.lockfile import LockEntry
from seedrun.models import TaskState


def merge(entry: LockEntry, state: TaskState) -> LockEntry:
    """``entry`` brought up to date with ``state``; what the server leaves out is kept."""
    error = None
    if state.status in ("failed", "cancelled"):
        error = {
            "code": state.error_code or state.status,
            "message": state.error_message or f"task {state.status}",
        }
    return entry.with_(
        status=state.status,
        task_id=state.task_id or entry.task_id,
        video_url=state.video_url or entry.video_url,
        last_frame_url=state.last_frame_url or entry.last_frame_url,
        error=error,
        seed=state.seed if state.seed is not None else entry.seed,
        revised_prompt=state.revised_prompt or entry.revised_prompt,
        usage=dict(state.usage) if state.usage else entry.usage,
        service_tier=state.service_tier or entry.service_tier,
        execution_expires_after=state.execution_expires_after or entry.execution_expires_after,
        created_at=state.created_at or entry.created_at,
        updated_at=state.updated_at or entry.updated_at,
    )


def state_of(entry: LockEntry) -> TaskState:
    """The task as the lockfile last saw it."""
    return TaskState(
        task_id=entry.task_id or "",
        status=entry.status,
        video_url=entry.video_url,
        last_frame_url=entry.last_frame_url,
        created_at=entry.created_at,
        updated_at=entry.updated_at,
    )
