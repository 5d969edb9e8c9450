"""Constants and small builders shared by the simulator tests."""

from __future__ import annotations

from typing import Any

import trio

from seedrun.sim import SimConfig, SimHandle

FAST = SimConfig(task_seconds=(0.2, 0.4))
MODEL = "doubao-seedance-2.0"
TASKS = "/api/v3/contents/generations/tasks"
UNIFIED = "/v1/video/generations"
POLICY = "The request failed because the output video may be related to policy restrictions."


def text_body(prompt: str = "A cubic city at sunrise", **extra: Any) -> dict[str, Any]:
    """An official create body with one text item."""
    return {"model": MODEL, "content": [{"type": "text", "text": prompt}], **extra}


def unified_body(prompt: str = "A cubic city at sunrise", **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "prompt": prompt, **extra}


def invalid(message: str) -> dict[str, Any]:
    return {"error": {"code": "invalid_request", "message": message}}


async def until_done(sim: SimHandle, *task_ids: str) -> None:
    """Sleep until the planned end of the given tasks, plus a little slack."""
    end = max(sim.state.tasks[task_id].end for task_id in task_ids)
    await trio.sleep(max(0.0, end - sim.state.now()) + 0.03)


async def until_started(sim: SimHandle, task_id: str) -> None:
    start = sim.state.tasks[task_id].start
    await trio.sleep(max(0.0, start - sim.state.now()) + 0.03)
