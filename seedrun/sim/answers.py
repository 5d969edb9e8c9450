"""The JSON answers, shaped exactly like the examples in seedance-api.md.

Also the deterministic extras a finished task reports: its seed, a revised
prompt and token usage derived from resolution, ratio, duration and draft.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from seedrun import api_facts
from seedrun.sim.engine import POLICY_FAILURE, Engine, SimTask
from seedrun.sim.validate import TaskRequest

# Output frame size per resolution and ratio ("adaptive" is billed as 16:9).
DIMENSIONS = api_facts.OUTPUT_PIXELS
FPS = api_facts.OUTPUT_FPS
DRAFT_RESOLUTION = api_facts.DRAFT_RESOLUTION
DRAFT_FACTOR = 0.6
UNIFIED_STATUS = {
    "queued": "queued",
    "running": "in_progress",
    "succeeded": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}

Mint = Callable[[SimTask, str], str]  # (task, "video" | "frame") -> URL


def usage_tokens(resolution: str, ratio: str, duration: int, draft: bool) -> int:
    """``width * height * 24 fps * duration // 1024``.

    Drafts are rendered at 480p whatever was asked and billed at 60 % of that.
    """
    table = DIMENSIONS[DRAFT_RESOLUTION if draft else resolution]
    width, height = table.get(ratio, table["16:9"])
    tokens = width * height * FPS * duration // 1024
    return int(tokens * DRAFT_FACTOR) if draft else tokens


def revised_prompt(prompt: str) -> str:
    """Light, deterministic edits: collapse spaces, capitalise, end with a full stop."""
    text = " ".join(prompt.split())
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def usage(request: TaskRequest) -> dict[str, int]:
    tokens = usage_tokens(request.resolution, request.ratio, request.duration, request.draft)
    return {"completion_tokens": tokens, "total_tokens": tokens}


def task_failed() -> dict[str, str]:
    return {"code": "task_failed", "message": POLICY_FAILURE}


def official_created(task: SimTask, now: float, engine: Engine) -> dict[str, Any]:
    return {
        "id": task.id,
        "model": task.request.model,
        "status": task.status_at(now),
        "created_at": engine.epoch(task.created),
        "updated_at": engine.epoch(task.updated_at(now)),
        "service_tier": task.request.service_tier,
        "execution_expires_after": task.request.execution_expires_after,
    }


def official_task(task: SimTask, now: float, engine: Engine, mint: Mint) -> dict[str, Any]:
    status = task.status_at(now)
    answer: dict[str, Any] = {"id": task.id, "model": task.request.model, "status": status}
    if status == "succeeded":
        content = {"video_url": mint(task, "video")}
        if task.request.return_last_frame:
            content["last_frame_url"] = mint(task, "frame")
        answer["content"] = content
        answer["seed"] = task.seed
        answer["revised_prompt"] = revised_prompt(task.request.prompt)
        answer["usage"] = usage(task.request)
    elif status == "failed":
        answer["error"] = task_failed()
    answer["created_at"] = engine.epoch(task.created)
    answer["updated_at"] = engine.epoch(task.updated_at(now))
    return answer


def unified_created(task: SimTask, now: float, engine: Engine) -> dict[str, Any]:
    return unified_task(task, now, engine, None)


def unified_task(task: SimTask, now: float, engine: Engine, mint: Mint | None) -> dict[str, Any]:
    """The standard video object; ``mint`` is None for the create answer (always queued)."""
    status = task.status_at(now) if mint is not None else "queued"
    answer: dict[str, Any] = {
        "id": task.id,
        "task_id": task.id,
        "object": "video",
        "model": task.request.model,
        "status": UNIFIED_STATUS[status],
        "progress": task.progress_at(now) if mint is not None else 0,
        "created_at": engine.epoch(task.created),
    }
    if status == "succeeded" and mint is not None:
        metadata = {"url": mint(task, "video")}
        if task.request.return_last_frame:
            metadata["last_frame_url"] = mint(task, "frame")
        answer["metadata"] = metadata
    elif status == "failed":
        answer["error"] = task_failed()
    return answer


def error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}
