"""Seedance answer bodies -> typed records. Pure: no IO, no trio, no httpx.

Both API flavours describe a task differently (official: ``content.video_url``,
unified: ``metadata.url``); this module is the one place that knows, and turns
either into one :class:`~seedrun.models.TaskState`. Every shape problem is a
:class:`~seedrun.errors.BadResponse` quoting the start of the body.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from seedrun.api_facts import STATUS_WORDS
from seedrun.errors import BadResponse, RequestRejected
from seedrun.models import Moderation, TaskState

SNIPPET = 200  # characters of a body quoted in error messages
MAX_TASK_ID = 256  # longer ids are refused: they go into URLs, file names and logs
MAX_MESSAGE = 2000  # a server's error message is cut to this many characters


def snippet(text: str) -> str:
    return text[:SNIPPET]


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys; a gateway that says
    # "status" twice has said two things, and seedrun will not pick one.
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _Duplicate(key)
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def decode_json(text: str) -> Any:
    """The JSON value of an answer body, or BadResponse quoting the body.

    Stricter than ``json.loads``: a key twice in one object, and the
    non-standard NaN/Infinity, are refused."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _Duplicate as exc:
        raise BadResponse(f"answer has the key {exc.args[0]!r} twice: {snippet(text)!r}") from None
    except RecursionError:
        raise BadResponse(f"answer is nested too deeply: {snippet(text)!r}") from None
    except ValueError:
        raise BadResponse(f"answer is not JSON: {snippet(text)!r}") from None


def _kind(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else "an object"


def error_fields(text: str) -> tuple[str, str]:
    """(code, message) of an error answer: ``error.code``/``error.message``, else
    top-level ``code``/``message``, else the start of the body as the message."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        obj = None
    code, message = "", ""
    if isinstance(obj, dict):
        err = obj.get("error")
        if isinstance(err, dict):
            code = _text(err.get("code"))
            message = _text(err.get("message"))
        elif isinstance(err, str):
            message = err
        code = code or _text(obj.get("code"))
        message = message or _text(obj.get("message"))
    return code, _cut(message or snippet(text) or "(empty body)")


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date
    (``now`` is the current epoch time). None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        return max(0.0, when.timestamp() - now)
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)


# -- tasks -------------------------------------------------------------------


def parse_task(
    obj: Any,
    *,
    api: str,
    text: str,
    fallback_id: str | None = None,
    default_status: str | None = None,
) -> TaskState:
    """One task object of either flavour. ``text`` is the whole body, quoted in
    errors. ``default_status`` is used when the answer has no status at all
    (create answers may carry only the id)."""
    if not isinstance(obj, dict):
        raise BadResponse(f"task answer is {_kind(obj)}, not an object: {snippet(text)!r}")
    task_id = obj.get("id")
    if task_id is None and api == "unified":
        task_id = obj.get("task_id")
    if task_id is None:
        task_id = fallback_id
    if task_id is None or task_id == "":
        raise BadResponse(f"task answer has no id: {snippet(text)!r}")
    if not isinstance(task_id, str):
        raise BadResponse(f"task id is {_kind(task_id)}, not a string: {snippet(text)!r}")
    _check_task_id(task_id, text)
    raw_status = obj.get("status")
    if raw_status is None and default_status is not None:
        status, raw_status = default_status, ""
    elif raw_status is None:
        raise BadResponse(f"task answer has no status: {snippet(text)!r}")
    elif isinstance(raw_status, str) and raw_status.strip().lower() in STATUS_WORDS:
        status = STATUS_WORDS[raw_status.strip().lower()]
    else:
        raise BadResponse(
            f"unknown task status {snippet(str(raw_status))!r} (seedrun knows "
            f"{', '.join(sorted(set(STATUS_WORDS.values())))}): {snippet(text)!r}"
        )

    content = _sub(obj, "content", text)
    metadata = _sub(obj, "metadata", text)
    where = (content, metadata, obj)
    err = obj.get("error")
    error_code = error_message = None
    if isinstance(err, dict):
        error_code = _opt_str(err, "code", text)
        error_message = _opt_str(err, "message", text)
    elif isinstance(err, str) and err:
        error_message = err
    elif err is not None:
        raise BadResponse(f"task field 'error' is not an object: {snippet(text)!r}")
    if error_message is None:
        error_message = _opt_str(obj, "fail_reason", text)

    return TaskState(
        task_id=task_id,
        status=status,
        raw_status=raw_status,
        video_url=_first_url(
            ((content, "video_url"), (metadata, "url"), (obj, "url"), (obj, "video_url")), text
        ),
        last_frame_url=_first_url(tuple((m, "last_frame_url") for m in where), text),
        error_code=error_code,
        error_message=None if error_message is None else _cut(error_message),
        progress=_opt_int(obj, "progress", text),
        created_at=_opt_int(obj, "created_at", text),
        updated_at=_opt_int(obj, "updated_at", text),
        seed=_first_int(tuple((m, "seed") for m in (obj, metadata)), text),
        revised_prompt=_first_str(tuple((m, "revised_prompt") for m in (obj, metadata)), text),
        usage=_usage(obj.get("usage"), text),
        service_tier=_opt_str(obj, "service_tier", text),
        execution_expires_after=_opt_int(obj, "execution_expires_after", text),
    )


def parse_task_body(
    text: str, *, api: str, fallback_id: str | None = None, default_status: str | None = None
) -> TaskState:
    return parse_task(
        decode_json(text),
        api=api,
        text=text,
        fallback_id=fallback_id,
        default_status=default_status,
    )


def parse_task_page(text: str) -> tuple[list[TaskState], int | None]:
    """One page of the official list endpoint: ``{"items": [...], "total": n}``."""
    obj = decode_json(text)
    if not isinstance(obj, dict):
        raise BadResponse(f"task list answer is {_kind(obj)}, not an object: {snippet(text)!r}")
    items = obj.get("items")
    if not isinstance(items, list):
        raise BadResponse(f"task list answer has no 'items' list: {snippet(text)!r}")
    total = _opt_int(obj, "total", text)
    return [parse_task(item, api="official", text=text) for item in items], total


# -- moderation --------------------------------------------------------------


def moderation_timeout(text: str) -> str | None:
    """The server's message when a moderation answer is the wrapper's timeout."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or obj.get("code") == "success":
        return None
    code, message = error_fields(text)
    words = f"{code} {message}".lower()
    return message if ("timeout" in words or "timed out" in words) else None


def parse_moderation(text: str, urls: Sequence[str]) -> dict[str, Moderation]:
    """A moderation answer for the batch ``urls`` -> ``source_url -> Moderation``.

    Approved only when ``passed`` is true and ``submit_review_status`` is 1.
    A URL the answer does not mention is reported as not approved.
    """
    obj = decode_json(text)
    if not isinstance(obj, dict):
        raise BadResponse(
            f"moderation answer is {_kind(obj)}, not an object: {snippet(text)!r}"
        )
    if "code" in obj and obj["code"] != "success":
        code, message = error_fields(text)
        raise RequestRejected(f"moderation refused: {message}", code=code)
    data = obj.get("data")
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise BadResponse(f"moderation answer has no 'data.items' list: {snippet(text)!r}")
    by_url: dict[str, Mapping[str, Any]] = {}
    for item in items:
        source = item.get("source_url")
        if isinstance(source, str):
            by_url[source] = item
    if len(urls) == 1 and len(items) == 1 and urls[0] not in by_url:
        by_url[urls[0]] = items[0]  # one URL, one verdict: the server may have normalized it
    result: dict[str, Moderation] = {}
    for url in urls:
        item = by_url.get(url)
        if item is None:
            result[url] = Moderation(url, False, None, "no verdict for this URL in the answer")
        else:
            result[url] = _moderation(url, item, text)
    return result


def _moderation(url: str, item: Mapping[str, Any], text: str) -> Moderation:
    passed = item.get("passed")
    review = item.get("submit_review_status")
    asset_url = _opt_str(item, "asset_url", text)
    approved = passed is True and review == 1 and not isinstance(review, bool)
    if approved:
        return Moderation(url, True, asset_url, None)
    reason = None
    for key in ("reason", "reject_reason", "message"):
        if isinstance(item.get(key), str) and item[key]:
            reason = item[key]
            break
    err = item.get("error")
    if reason is None and isinstance(err, dict) and isinstance(err.get("message"), str):
        reason = err["message"]
    if reason is None:
        reason = f"not approved (passed={passed!r}, submit_review_status={review!r})"
    return Moderation(url, False, asset_url, reason)


# -- small field readers -----------------------------------------------------


def _check_task_id(task_id: str, text: str) -> None:
    if len(task_id) > MAX_TASK_ID:
        raise BadResponse(
            f"task id is {len(task_id)} characters, more than {MAX_TASK_ID}: {snippet(text)!r}"
        )
    if not task_id.isprintable() or task_id != task_id.strip():
        raise BadResponse(f"task id {task_id!r} has control or space characters")


def _cut(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _sub(obj: Mapping[str, Any], key: str, text: str) -> Mapping[str, Any]:
    value = obj.get(key)
    if value is None or isinstance(value, list):  # a create *request* echo may carry a list
        return {}
    if not isinstance(value, dict):
        raise BadResponse(f"task field {key!r} is not an object: {snippet(text)!r}")
    return value


def _opt_str(obj: Mapping[str, Any], key: str, text: str) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadResponse(f"field {key!r} is not a string: {snippet(text)!r}")
    return value


def _opt_int(obj: Mapping[str, Any], key: str, text: str) -> int | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadResponse(f"field {key!r} is not a number: {snippet(text)!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise BadResponse(f"field {key!r} is not a finite number: {snippet(text)!r}")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, float) and key == "progress":
        return int(value)
    if isinstance(value, str):
        digits = value.strip().removesuffix("%").strip()
        if digits.isdigit() and len(digits) <= 30:  # isdigit is true of "²", int() is not
            with contextlib.suppress(ValueError):
                return int(digits)
    raise BadResponse(f"field {key!r} is not a number: {snippet(text)!r}")


def _first_url(places: Sequence[tuple[Mapping[str, Any], str]], text: str) -> str | None:
    for obj, key in places:
        value = obj.get(key)
        if isinstance(value, dict):  # {"url": ...} wrappers, as in request content items
            value = value.get("url")
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise BadResponse(f"field {key!r} is not a URL string: {snippet(text)!r}")
        return value
    return None


def _first_str(places: Sequence[tuple[Mapping[str, Any], str]], text: str) -> str | None:
    for obj, key in places:
        value = _opt_str(obj, key, text)
        if value is not None:
            return value
    return None


def _first_int(places: Sequence[tuple[Mapping[str, Any], str]], text: str) -> int | None:
    for obj, key in places:
        value = _opt_int(obj, key, text)
        if value is not None:
            return value
    return None


def _usage(value: Any, text: str) -> tuple[tuple[str, int], ...] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadResponse(f"task field 'usage' is not an object: {snippet(text)!r}")
    pairs = (
        (name, int(n))
        for name, n in value.items()
        if isinstance(n, int | float)
        and not isinstance(n, bool)
        and math.isfinite(n)
        and float(n).is_integer()
    )
    return tuple(sorted(pairs))
