"""Request bodies -> validated records, with the messages the simulated API answers.

Pure: no IO, no state. References that need the server's memory (approved asset
ids, draft tasks) are returned for the caller to check, with where they sit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from seedrun import api_facts

ITEM_TYPES = ("text", "image_url", "video_url", "audio_url", "draft_task")
MEDIA_TYPES = ("image_url", "video_url", "audio_url")
# Which content item type each role belongs on.
ROLE_ITEM = {
    "reference_image": "image_url",
    "first_frame": "image_url",
    "last_frame": "image_url",
    "reference_video": "video_url",
    "reference_audio": "audio_url",
}
SEED_MAX = 4294967295
DEFAULT_DURATION = 5
DEFAULT_RATIO = "16:9"
DEFAULT_RESOLUTION = "720p"
_BOOLEANS = ("camera_fixed", "watermark", "generate_audio", "return_last_frame", "draft")
_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]{32,}$")
_WHOLE = re.compile(r"^-?\d+$")

BASE64_MESSAGE = (
    "base64 and inline binary content are not supported; "
    "pass a public http(s) URL or an approved asset://<asset ID>"
)


class Invalid(Exception):
    """A request the API refuses with 400; ``message`` names the parameter."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class TaskRequest:
    """A create request reduced to what the simulator acts on."""

    flavour: str  # "official" | "unified"
    model: str
    prompt: str
    duration: int
    ratio: str
    resolution: str
    seed: int | None  # None when absent or -1: the server picks one
    draft: bool
    return_last_frame: bool
    service_tier: str
    execution_expires_after: int
    asset_refs: tuple[tuple[str, str], ...] = ()  # (where, "asset://...")
    draft_refs: tuple[tuple[str, str], ...] = ()  # (where, task id)


def got(value: object) -> str:
    return f" (got {json.dumps(value)})"


def json_object(body: object, where: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid(f"{where} must be a JSON object")
    return body


def check_model(obj: dict[str, Any]) -> str:
    model = obj.get("model")
    if model is None or model == "":
        raise Invalid(f"model is required; use {api_facts.MODEL}")
    if model != api_facts.MODEL:
        raise Invalid(f"model must be {api_facts.MODEL}{got(model)}")
    return api_facts.MODEL


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def looks_inline(url: str) -> bool:
    return url[:5].lower() == "data:" or ("://" not in url and bool(_BASE64.match(url)))


def media_url(url: object, where: str) -> str | None:
    """Check one content URL; return it when it is an ``asset://`` reference."""
    if not isinstance(url, str) or not url:
        raise Invalid(f"{where} must be a URL string")
    if looks_inline(url):
        raise Invalid(f"{where}: {BASE64_MESSAGE}")
    lowered = url.lower()
    if lowered.startswith("asset://") and len(url) > len("asset://"):
        return url
    if lowered.startswith(("http://", "https://")) and urlsplit(url).netloc:
        return None
    raise Invalid(f"{where} must be a public http(s) URL or an approved asset://<asset ID>")


@dataclass
class _Content:
    texts: list[str]
    assets: list[tuple[str, str]]
    drafts: list[tuple[str, str]]
    first_frames: int = 0
    last_frames: int = 0


def _content_item(item: object, where: str, into: _Content) -> None:
    obj = json_object(item, where)
    kind = obj.get("type")
    if kind not in ITEM_TYPES:
        raise Invalid(f"{where}.type must be one of {', '.join(ITEM_TYPES)}{got(kind)}")
    role = obj.get("role")
    if kind in ("text", "draft_task") and role is not None:
        raise Invalid(f"{where}.role is only allowed on image_url, video_url and audio_url items")
    if kind == "text":
        text = obj.get("text")
        if not isinstance(text, str) or not text.strip():
            raise Invalid(f"{where}.text must be a non-empty string")
        into.texts.append(text)
        return
    if kind == "draft_task":
        draft = obj.get("draft_task")
        task_id = draft.get("id") if isinstance(draft, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise Invalid(f"{where}.draft_task.id must be the id of a succeeded draft task")
        into.drafts.append((f"{where}.draft_task.id", task_id))
        return
    media = obj.get(kind)
    if not isinstance(media, dict) or "url" not in media:
        raise Invalid(f"{where}.{kind}.url is required")
    asset = media_url(media["url"], f"{where}.{kind}.url")
    if asset is not None:
        into.assets.append((f"{where}.{kind}.url", asset))
    if role is None:
        return
    if role not in api_facts.ROLES:
        raise Invalid(f"{where}.role must be one of {', '.join(api_facts.ROLES)}{got(role)}")
    if ROLE_ITEM[role] != kind:
        raise Invalid(f"{where}.role {role} is only allowed on {ROLE_ITEM[role]} items")
    into.first_frames += role == "first_frame"
    into.last_frames += role == "last_frame"


def _content(items: object, where: str, into: _Content) -> None:
    if not isinstance(items, list):
        raise Invalid(f"{where} must be a list of content items")
    texts_before = len(into.texts)
    for index, item in enumerate(items):
        _content_item(item, f"{where}[{index}]", into)
    if texts_before and len(into.texts) > texts_before:
        raise Invalid(f"{where} must not contain a text item: prompt is the text")
    if len(into.texts) > 1:
        raise Invalid(f"{where} may contain at most one text item (found {len(into.texts)})")
    if into.first_frames > 1:
        raise Invalid(f"{where} may contain at most one first_frame item")
    if into.last_frames > 1:
        raise Invalid(f"{where} may contain at most one last_frame item")
    if into.last_frames and not into.first_frames:
        raise Invalid(f"{where} has a last_frame item but no first_frame item; "
                      "last_frame requires first_frame")


def _duration(value: object, name: str, *, strings: bool) -> int | None:
    if value is None:
        return None
    if strings and isinstance(value, str) and _WHOLE.match(value.strip()):
        value = int(value.strip())
    if (isinstance(value, int) and not isinstance(value, bool)
            and api_facts.DURATION_MIN <= value <= api_facts.DURATION_MAX):
        return value
    how = ' as an integer or a string such as "5"' if strings else ""
    raise Invalid(f"{name} must be a whole number of seconds from {api_facts.DURATION_MIN} "
                  f"to {api_facts.DURATION_MAX}{how}{got(value)}")


def _choice(obj: dict[str, Any], name: str, prefix: str, allowed: tuple[str, ...]) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if value not in allowed:
        raise Invalid(f"{prefix}{name} must be one of {', '.join(allowed)}{got(value)}")
    return str(value)


def _options(obj: dict[str, Any], prefix: str, *, strings: bool) -> dict[str, Any]:
    """The task options shared by both flavours (top level or unified metadata)."""
    out: dict[str, Any] = {
        "duration": _duration(obj.get("duration"), f"{prefix}duration", strings=strings),
        "ratio": _choice(obj, "ratio", prefix, api_facts.RATIOS),
        "resolution": _choice(obj, "resolution", prefix, api_facts.RESOLUTIONS),
        "service_tier": _choice(obj, "service_tier", prefix, api_facts.SERVICE_TIERS),
    }
    seed = obj.get("seed")
    if seed is not None and not (_is_int(seed) and -1 <= seed <= SEED_MAX):
        raise Invalid(f"{prefix}seed must be an integer from -1 to {SEED_MAX}{got(seed)}")
    out["seed"] = None if seed in (None, -1) else seed
    expires = obj.get("execution_expires_after")
    low, high = api_facts.EXECUTION_EXPIRES_MIN, api_facts.EXECUTION_EXPIRES_MAX
    if expires is not None and not (_is_int(expires) and low <= expires <= high):
        raise Invalid(f"{prefix}execution_expires_after must be an integer number of seconds "
                      f"from {low} to {high}{got(expires)}")
    out["execution_expires_after"] = expires
    for name in _BOOLEANS:
        value = obj.get(name)
        if value is not None and not isinstance(value, bool):
            raise Invalid(f"{prefix}{name} must be true or false{got(value)}")
        out[name] = bool(value)
    return out


def _request(flavour: str, prompt: str, options: dict[str, Any], content: _Content,
             duration: int | None) -> TaskRequest:
    return TaskRequest(
        flavour=flavour,
        model=api_facts.MODEL,
        prompt=prompt,
        duration=duration or options["duration"] or DEFAULT_DURATION,
        ratio=options["ratio"] or DEFAULT_RATIO,
        resolution=options["resolution"] or DEFAULT_RESOLUTION,
        seed=options["seed"],
        draft=options["draft"],
        return_last_frame=options["return_last_frame"],
        service_tier=options["service_tier"] or "default",
        execution_expires_after=(options["execution_expires_after"]
                                 or api_facts.EXECUTION_EXPIRES_DEFAULT),
        asset_refs=tuple(content.assets),
        draft_refs=tuple(content.drafts),
    )


def parse_official(body: object) -> TaskRequest:
    """``POST /api/v3/contents/generations/tasks``. Unknown top-level keys are ignored."""
    obj = json_object(body, "request body")
    check_model(obj)
    if obj.get("content") is None:
        raise Invalid("content is required: a list of content items")
    content = _Content([], [], [])
    _content(obj["content"], "content", content)
    if not obj["content"]:
        raise Invalid("content must contain at least one item")
    options = _options(obj, "", strings=False)
    prompt = content.texts[0] if content.texts else ""
    return _request("official", prompt, options, content, None)


def parse_unified(body: object) -> TaskRequest:
    """``POST /v1/video/generations``; ``metadata`` carries the Seedance options."""
    obj = json_object(body, "request body")
    check_model(obj)
    prompt = obj.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise Invalid("prompt is required: a non-empty string")
    metadata = obj.get("metadata", {})
    metadata = json_object({} if metadata is None else metadata, "metadata")
    content = _Content([prompt], [], [])
    images = obj.get("images")
    if images is not None:
        if not isinstance(images, list):
            raise Invalid("images must be a list of image URLs")
        for index, url in enumerate(images):
            _add_asset(content, media_url(url, f"images[{index}]"), f"images[{index}]")
    for name in ("image", "input_reference"):
        if obj.get(name) is not None:
            _add_asset(content, media_url(obj[name], name), name)
    if metadata.get("content") is not None:
        _content(metadata["content"], "metadata.content", content)
    options = _options(metadata, "metadata.", strings=True)
    duration = (_duration(obj.get("seconds"), "seconds", strings=True)
                or _duration(obj.get("duration"), "duration", strings=True))
    return _request("unified", prompt, options, content, duration)


def _add_asset(content: _Content, asset: str | None, where: str) -> None:
    if asset is not None:
        content.assets.append((where, asset))
