"""Frozen records that flow between the core and the shell."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskState:
    """A task as the server last described it, normalized across flavours."""

    task_id: str
    status: str  # queued | running | succeeded | failed | cancelled
    raw_status: str = ""
    video_url: str | None = None
    last_frame_url: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    progress: int | None = None
    created_at: int | None = None
    updated_at: int | None = None
    seed: int | None = None
    revised_prompt: str | None = None
    usage: tuple[tuple[str, int], ...] | None = None
    service_tier: str | None = None
    execution_expires_after: int | None = None

    @property
    def terminal(self) -> bool:
        return self.status in ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class Moderation:
    """The normalized answer for one moderated source URL."""

    source_url: str
    passed: bool
    asset_url: str | None
    reason: str | None


@dataclass(frozen=True)
class Download:
    """A file fully written to disk and verified."""

    path: str
    sha256: str
    bytes: int
