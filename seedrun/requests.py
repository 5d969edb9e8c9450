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
from typing import Any, NamedTuple

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


class MediaItem(NamedTuple):
    """One rendered media item. ``slot``/``ref`` mark a value filled in at run time.

    A NamedTuple rather than a dataclass: one is made per matrix combination.
    """

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


def _refuse(obj: Any) -> Any:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


# json.dumps builds a new C encoder on every call; keys are hashed for every job,
# so build it once. Same output as
# json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).
_c_encoder = getattr(json.encoder, "c_make_encoder", None)
_ENCODE = (
    _c_encoder(None, _refuse, json.encoder.encode_basestring, None, ":", ",", True, False, True)
    if _c_encoder is not None
    else None
)


def canonical_json(obj: Any) -> str:
    if _ENCODE is not None:
        return "".join(_ENCODE(obj, 0))
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_encode_str = json.encoder.encode_basestring  # the ensure_ascii=False string encoder


def build_body_keyed(
    api: str,
    params: Mapping[str, Any],
    prompt: str,
    media: Sequence[MediaItem],
    memo: dict[Any, Any],
) -> tuple[dict[str, Any], tuple[Slot, ...], str]:
    """``build_body`` plus ``content_key`` of the body, from pre-encoded parts.

    The body's key order and media entries repeat across a matrix, so their
    encodings are remembered in ``memo``; the key is the same as ``content_key(body)``.
    """
    extra = params.get("extra") or {}
    if api != "official" or _ENCODE is None or "content" in extra:
        body, slots = build_body(api, params, prompt, media, memo=memo)
        return body, slots, content_key(body)
    # build_body's official flavour, with the media part remembered whole.
    body = {"model": params.get("model") or MODEL, "content": None}
    for k in _body_params(params, memo):
        v = params[k]
        if v is not None:
            body[k] = v
    body.update(extra)
    # Media items are shared between jobs; the memo keeps them alive, so ids stay unique.
    seen = ("canon-media", *map(id, media))
    kept: tuple[Sequence[MediaItem], list[dict[str, Any]], tuple[Slot, ...], str] | None
    kept = memo.get(seen)
    if kept is None:
        entries = [_shared_entry(m, memo) for m in media]
        slots = _slots(api, media, memo) if any(m.slot for m in media) else ()
        tail = "".join("," + canonical_json(e) for e in entries) + "]"
        kept = memo[seen] = (tuple(media), entries, slots, tail)
    body["content"] = [{"type": "text", "text": prompt}, *kept[1]]
    slots = kept[2]
    shape = ("canon", *body)
    order: list[tuple[str, str]] | None = memo.get(shape)
    if order is None:
        order = memo[shape] = [(k, _encode_str(k) + ":") for k in sorted(body)]
    encode = _encode_str
    parts = []
    for k, head in order:
        if k == "content":  # [{"type": "text", "text": prompt}, *entries]
            parts.append(head + '[{"text":' + encode(prompt) + ',"type":"text"}' + kept[3])
            continue
        v = body[k]
        t = type(v)
        if t is str:
            parts.append(head + encode(v))
        elif t is int:
            parts.append(head + int.__repr__(v))
        elif v is True:
            parts.append(head + "true")
        elif v is False:
            parts.append(head + "false")
        else:
            parts.append(head + canonical_json(v))
    text = "{" + ",".join(parts) + "}"
    return body, slots, hashlib.sha256(text.encode()).hexdigest()


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
    api: str,
    params: Mapping[str, Any],
    prompt: str,
    media: Sequence[MediaItem],
    *,
    memo: dict[Any, Any] | None = None,
) -> tuple[dict[str, Any], tuple[Slot, ...]]:
    """The body for one video task, and the slots in it.

    ``memo`` (a dict kept across calls) lets bodies share equal media entries and
    slot tuples, which saves time and memory for large matrices. Shared parts
    make the bodies read-only: use ``fill_slots`` for a body to send.
    """
    model = params.get("model") or MODEL
    chosen = {k: v for k in _body_params(params, memo) if (v := params[k]) is not None}
    extra = params.get("extra") or {}
    entries = [_shared_entry(m, memo) for m in media]
    slots = _slots(api, media, memo) if any(m.slot for m in media) else ()
    if api == "official":
        content: list[dict[str, Any]] = [{"type": "text", "text": prompt}, *entries]
        return {"model": model, "content": content, **chosen, **extra}, slots

    body: dict[str, Any] = {"model": model, "prompt": prompt}
    duration = chosen.pop("duration", None)
    if duration is not None:
        body["seconds"] = str(duration)
    metadata: dict[str, Any] = {**chosen, **extra}
    if media and _plain_images(media):
        body["images"] = [m.url for m in media]
    elif media:
        # Roles and non-image media only survive in the official-compatible content array.
        metadata["content"] = entries
    if metadata:
        body["metadata"] = metadata
    return body, slots


def _body_params(params: Mapping[str, Any], memo: dict[Any, Any] | None) -> Sequence[str]:
    """The BODY_PARAMS that ``params`` has, in BODY_PARAMS order (remembered per key set)."""
    if memo is None:
        return [k for k in BODY_PARAMS if k in params]
    shape = ("params", *params)
    found: Sequence[str] | None = memo.get(shape)
    if found is None:
        found = memo[shape] = [k for k in BODY_PARAMS if k in params]
    return found


def _plain_images(media: Sequence[MediaItem]) -> bool:
    return all(m.type == "image" and not m.role for m in media)


def _shared_entry(item: MediaItem, memo: dict[Any, Any] | None) -> dict[str, Any]:
    if memo is None:
        return _media_entry(item)
    entry: dict[str, Any] | None = memo.get(item)
    if entry is None:
        entry = memo[item] = _media_entry(item)
    return entry


def _slots(api: str, media: Sequence[MediaItem], memo: dict[Any, Any] | None) -> tuple[Slot, ...]:
    memo_key = (api, tuple(media))
    if memo is not None and memo_key in memo:
        found: tuple[Slot, ...] = memo[memo_key]
        return found
    if api == "official":
        prefix: BodyPath = ("content",)
        first = 1  # content[0] is the text
    elif _plain_images(media):
        prefix, first = ("images",), 0
    else:
        prefix, first = ("metadata", "content"), 0
    out = tuple(
        Slot(
            (*prefix, first + i)
            if prefix == ("images",)
            else (*prefix, first + i, *_media_path(m)),
            m.slot,
            m.ref,
        )
        for i, m in enumerate(media)
        if m.slot and m.ref
    )
    if memo is not None:
        memo[memo_key] = out
    return out


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
