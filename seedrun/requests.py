"""Job -> the exact request body for each API flavour, and its content key.

A body may hold *slots*: places whose final value is only known at run time
(the approved ``asset://`` URL of a moderated asset, a source job's last frame,
a draft's task id). The key is computed over the body with the slot's stable
stand-in (the source URL, or a placeholder naming the source job's key), so it
is known before anything is sent and changes whenever an upstream job changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from seedrun.api_facts import MODEL

BodyPath = tuple[str | int, ...]

# Request parameters, in the order they are documented and emitted.
BODY_PARAMS = (
    "duration",
    "ratio",
    "resolution",
    "seed",
    "camera_fixed",
    "watermark",
    "generate_audio",
    "draft",
    "service_tier",
    "execution_expires_after",
    "return_last_frame",
)
PARAMS = ("model", "api", *BODY_PARAMS, "extra")
# Fields that `extra:` may not shadow, in either flavour.
MODELLED_FIELDS = frozenset(
    {"model", "content", "prompt", "seconds", "images", "image", "input_reference", "metadata"}
    | set(BODY_PARAMS)
)
# A final video made from a draft inherits the draft's shape; only these still apply.
FINAL_PARAMS = (
    "resolution",
    "watermark",
    "service_tier",
    "execution_expires_after",
    "return_last_frame",
)


@dataclass(frozen=True)
class MediaItem:
    """One rendered media item. ``slot``/``ref`` mark a value filled in at run time."""

    type: str  # image | video | audio
    url: str
    role: str | None = None
    slot: str | None = None  # None | "asset" | "last_frame"
    ref: str | None = None  # the asset's source URL, or the source job's id


@dataclass(frozen=True)
class Slot:
    path: BodyPath
    kind: str  # asset | last_frame | draft_task
    ref: str


def last_frame_placeholder(source_id: str, source_key: str) -> str:
    return f"seedrun://last-frame/{source_id}@{source_key}"


def task_id_placeholder(source_id: str, source_key: str) -> str:
    return f"seedrun://task-id/{source_id}@{source_key}"


def content_key(body: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of ``body``."""
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _media_entry(item: MediaItem) -> dict[str, Any]:
    field = f"{item.type}_url"
    entry: dict[str, Any] = {"type": field, field: {"url": item.url}}
    if item.role:
        entry["role"] = item.role
    return entry


def _media_path(item: MediaItem) -> tuple[str, str]:
    field = f"{item.type}_url"
    return (field, "url")


def build_body(
    api: str, params: Mapping[str, Any], prompt: str, media: Sequence[MediaItem]
) -> tuple[dict[str, Any], tuple[Slot, ...]]:
    """The body for one video task, and the slots in it."""
    slots: list[Slot] = []
    model = params.get("model") or MODEL
    chosen = {k: params[k] for k in BODY_PARAMS if params.get(k) is not None}
    extra = dict(params.get("extra") or {})
    if api == "official":
        content: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
        for item in media:
            if item.slot and item.ref:
                slots.append(
                    Slot(("content", len(content), *_media_path(item)), item.slot, item.ref)
                )
            content.append(_media_entry(item))
        return {"model": model, "content": content, **chosen, **extra}, tuple(slots)

    body: dict[str, Any] = {"model": model, "prompt": prompt}
    duration = chosen.pop("duration", None)
    if duration is not None:
        body["seconds"] = str(duration)
    metadata: dict[str, Any] = {**chosen, **extra}
    plain_images = all(m.type == "image" and not m.role for m in media)
    if media and plain_images:
        body["images"] = [m.url for m in media]
        slots.extend(
            Slot(("images", i), m.slot, m.ref) for i, m in enumerate(media) if m.slot and m.ref
        )
    elif media:
        # Roles and non-image media only survive in the official-compatible content array.
        metadata["content"] = [_media_entry(m) for m in media]
        slots.extend(
            Slot(("metadata", "content", i, *_media_path(m)), m.slot, m.ref)
            for i, m in enumerate(media)
            if m.slot and m.ref
        )
    if metadata:
        body["metadata"] = metadata
    return body, tuple(slots)


def build_final_body(
    api: str, params: Mapping[str, Any], prompt: str, draft_id: str, draft_key: str
) -> tuple[dict[str, Any], tuple[Slot, ...]]:
    """The body that turns a succeeded draft into the final video."""
    model = params.get("model") or MODEL
    chosen = {k: params[k] for k in FINAL_PARAMS if params.get(k) is not None}
    extra = dict(params.get("extra") or {})
    item = {"type": "draft_task", "draft_task": {"id": task_id_placeholder(draft_id, draft_key)}}
    if api == "official":
        body = {"model": model, "content": [item], **chosen, **extra}
        return body, (Slot(("content", 0, "draft_task", "id"), "draft_task", draft_id),)
    body = {"model": model, "prompt": prompt, "metadata": {**chosen, **extra, "content": [item]}}
    return body, (Slot(("metadata", "content", 0, "draft_task", "id"), "draft_task", draft_id),)


def fill_slots(
    body: Mapping[str, Any], slots: Sequence[Slot], value_for: Callable[[Slot], str]
) -> dict[str, Any]:
    """A deep copy of ``body`` with every slot replaced by ``value_for(slot)``."""
    out: Any = json.loads(json.dumps(body))
    for slot in slots:
        target = out
        for part in slot.path[:-1]:
            target = target[part]
        target[slot.path[-1]] = value_for(slot)
    result: dict[str, Any] = out
    return result
