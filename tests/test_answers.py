"""Answer bodies -> TaskState / Moderation (pure parsing, no IO)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedrun.answers import (
    decode_json,
    error_fields,
    moderation_timeout,
    parse_moderation,
    parse_retry_after,
    parse_task,
    parse_task_body,
    parse_task_page,
)
from seedrun.api_facts import STATUS_WORDS
from seedrun.errors import BadResponse, RequestRejected
from seedrun.models import Moderation, TaskState

# -- conformance: every ANSWER example of /work/shared/seedance-api.md, verbatim ------------

DOC_UNIFIED_CREATE = """{
"id": "video_xxx",
"task_id": "video_xxx",
"object": "video",
"model": "doubao-seedance-2.0",
"status": "queued",
"progress": 0,
"created_at": 1770000000
}"""

DOC_OFFICIAL_CREATE = """{
"id": "task_xxx",
"model": "doubao-seedance-2.0",
"status": "running",
"created_at": 1770000000,
"updated_at": 1770000000,
"service_tier": "default",
"execution_expires_after": 172800
}"""

DOC_RUNNING = """{
"id": "task_xxx",
"model": "doubao-seedance-2.0",
"status": "running",
"created_at": 1770000000,
"updated_at": 1770000030
}"""

DOC_SUCCEEDED = """{
"id": "task_xxx",
"model": "doubao-seedance-2.0",
"status": "succeeded",
"content": {
"video_url": "https://example.com/generated-video.mp4"
},
"created_at": 1770000000,
"updated_at": 1770000600
}"""

DOC_FAILED = """{
"id": "task_xxx",
"model": "doubao-seedance-2.0",
"status": "failed",
"error": {
"code": "task_failed",
"message": "The request failed because the output video may be related to policy restrictions."
},
"created_at": 1770000000,
"updated_at": 1770000300
}"""

DOC_MODERATION = """{
"code": "success",
"message": "",
"data": {
"object": "asset_moderation",
"status": "approved",
"review_batch_id": "review-batch-id",
"task_id": "moderation-task-id",
"items": [
{
"source_url": "https://example.com/product.png",
"asset_url": "asset://reviewed-image-asset-id",
"submit_review_status": 1,
"passed": true
}
]
}
}"""


def test_doc_unified_create_answer() -> None:
    assert parse_task_body(DOC_UNIFIED_CREATE, api="unified", default_status="queued") == TaskState(
        task_id="video_xxx", status="queued", raw_status="queued", progress=0, created_at=1770000000
    )


def test_doc_official_create_answer() -> None:
    assert parse_task_body(DOC_OFFICIAL_CREATE, api="official", default_status="queued") == (
        TaskState(
            task_id="task_xxx",
            status="running",
            raw_status="running",
            created_at=1770000000,
            updated_at=1770000000,
            service_tier="default",
            execution_expires_after=172800,
        )
    )


def test_doc_running_task() -> None:
    assert parse_task_body(DOC_RUNNING, api="official") == TaskState(
        task_id="task_xxx",
        status="running",
        raw_status="running",
        created_at=1770000000,
        updated_at=1770000030,
    )


def test_doc_succeeded_task() -> None:
    state = parse_task_body(DOC_SUCCEEDED, api="official")
    assert state == TaskState(
        task_id="task_xxx",
        status="succeeded",
        raw_status="succeeded",
        video_url="https://example.com/generated-video.mp4",
        created_at=1770000000,
        updated_at=1770000600,
    )
    assert state.terminal


def test_doc_failed_task() -> None:
    assert parse_task_body(DOC_FAILED, api="official") == TaskState(
        task_id="task_xxx",
        status="failed",
        raw_status="failed",
        error_code="task_failed",
        error_message=(
            "The request failed because the output video may be related to policy restrictions."
        ),
        created_at=1770000000,
        updated_at=1770000300,
    )


def test_doc_moderation_answer() -> None:
    assert parse_moderation(DOC_MODERATION, ["https://example.com/product.png"]) == {
        "https://example.com/product.png": Moderation(
            source_url="https://example.com/product.png",
            passed=True,
            asset_url="asset://reviewed-image-asset-id",
            reason=None,
        )
    }


# -- task states -------------------------------------------------------------------------


def _task(**fields: Any) -> str:
    return json.dumps({"id": "t1", "status": "running", **fields})


@pytest.mark.parametrize("word", sorted(STATUS_WORDS))
def test_every_status_word_normalizes_case_insensitively(word: str) -> None:
    for spelled in (word, word.upper(), f" {word.title()} "):
        state = parse_task_body(_task(status=spelled), api="official")
        assert (state.status, state.raw_status) == (STATUS_WORDS[word], spelled)


def test_unknown_status_is_named() -> None:
    with pytest.raises(BadResponse) as info:
        parse_task_body('{"id": "t1", "status": "thinking"}', api="official")
    assert str(info.value) == (
        "unknown task status 'thinking' (seedrun knows "
        'cancelled, failed, queued, running, succeeded): \'{"id": "t1", "status": "thinking"}\''
    )


def test_missing_status_is_bad_except_for_a_create() -> None:
    with pytest.raises(BadResponse, match="task answer has no status"):
        parse_task_body('{"id": "t1"}', api="official")
    created = parse_task_body('{"id": "cgt-1"}', api="official", default_status="queued")
    assert created == TaskState(task_id="cgt-1", status="queued", raw_status="")


def test_unified_task_id_and_metadata_url() -> None:
    body = json.dumps(
        {
            "task_id": "video_1",
            "status": "completed",
            "progress": "100%",
            "metadata": {"url": "https://files/v.mp4", "last_frame_url": "https://files/l.png"},
        }
    )
    assert parse_task_body(body, api="unified") == TaskState(
        task_id="video_1",
        status="succeeded",
        raw_status="completed",
        video_url="https://files/v.mp4",
        last_frame_url="https://files/l.png",
        progress=100,
    )


def test_task_id_alias_is_unified_only() -> None:
    with pytest.raises(BadResponse, match="task answer has no id"):
        parse_task_body('{"task_id": "x", "status": "queued"}', api="official")
    get = parse_task_body('{"status": "queued"}', api="official", fallback_id="asked")
    assert get.task_id == "asked"


@pytest.mark.parametrize("key", ["url", "video_url"])
def test_top_level_video_url_is_accepted(key: str) -> None:
    state = parse_task_body(
        _task(**{key: "https://f/v.mp4", "last_frame_url": "https://f/l"}), api="unified"
    )
    assert (state.video_url, state.last_frame_url) == ("https://f/v.mp4", "https://f/l")


def test_official_extras() -> None:
    body = _task(
        status="succeeded",
        content={"video_url": "https://f/v.mp4", "last_frame_url": "https://f/l.png"},
        seed=42,
        revised_prompt="a city",
        usage={"total_tokens": 108900, "completion_tokens": 108900, "details": {"x": 1}},
        service_tier="flex",
        execution_expires_after=3600,
    )
    assert parse_task_body(body, api="official") == TaskState(
        task_id="t1",
        status="succeeded",
        raw_status="succeeded",
        video_url="https://f/v.mp4",
        last_frame_url="https://f/l.png",
        seed=42,
        revised_prompt="a city",
        usage=(("completion_tokens", 108900), ("total_tokens", 108900)),
        service_tier="flex",
        execution_expires_after=3600,
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<html>502 Bad Gateway</html>", "answer is not JSON: '<html>502 Bad Gateway</html>'"),
        ("[1, 2]", "task answer is an array, not an object: '[1, 2]'"),
        (
            '{"id": 5, "status": "queued"}',
            'task id is a number, not a string: \'{"id": 5, "status": "queued"}\'',
        ),
        (
            '{"id": "t", "status": "queued", "content": "x"}',
            "task field 'content' is not an object: "
            '\'{"id": "t", "status": "queued", "content": "x"}\'',
        ),
        (
            '{"id": "t", "status": "queued", "created_at": "soon"}',
            "field 'created_at' is not a number: "
            '\'{"id": "t", "status": "queued", "created_at": "soon"}\'',
        ),
    ],
)
def test_bad_shapes(body: str, message: str) -> None:
    with pytest.raises(BadResponse) as info:
        parse_task_body(body, api="official")
    assert str(info.value) == message


def test_bad_response_quotes_only_200_characters() -> None:
    body = "x" * 1000
    with pytest.raises(BadResponse) as info:
        decode_json(body)
    assert str(info.value) == f"answer is not JSON: {'x' * 200!r}"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
TASKISH = st.fixed_dictionaries(
    {},
    optional={
        k: JSON | st.sampled_from(sorted(STATUS_WORDS))
        for k in (
            "id",
            "task_id",
            "status",
            "content",
            "metadata",
            "error",
            "usage",
            "progress",
            "url",
            "seed",
            "created_at",
        )
    },
)


@given(JSON | TASKISH)
def test_any_json_either_parses_or_is_bad_response(obj: Any) -> None:
    for api in ("official", "unified"):
        try:
            state = parse_task(obj, api=api, text=json.dumps(obj))
        except BadResponse:
            continue
        assert state.status in ("queued", "running", "succeeded", "failed", "cancelled")


def test_task_page() -> None:
    body = json.dumps({"items": [{"id": "a", "status": "queued"}], "total": 1})
    assert parse_task_page(body) == (
        [TaskState(task_id="a", status="queued", raw_status="queued")],
        1,
    )
    with pytest.raises(BadResponse, match="task list answer has no 'items' list"):
        parse_task_page('{"data": []}')


# -- errors, Retry-After -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '{"error": {"code": "InvalidParameter", "message": "bad ratio"}}',
            ("InvalidParameter", "bad ratio"),
        ),
        ('{"code": "bad", "message": "nope"}', ("bad", "nope")),
        ('{"error": "plain"}', ("", "plain")),
        ("Bad Request", ("", "Bad Request")),
        ("", ("", "(empty body)")),
    ],
)
def test_error_fields(body: str, expected: tuple[str, str]) -> None:
    assert error_fields(body) == expected


def test_retry_after_forms() -> None:
    now = 1_000_000_000.0  # 2001-09-09T01:46:40Z
    assert parse_retry_after("3", now=now) == 3.0
    assert parse_retry_after(" 1.5 ", now=now) == 1.5
    assert parse_retry_after("Sun, 09 Sep 2001 01:46:50 GMT", now=now) == 10.0
    assert parse_retry_after("Sun, 09 Sep 2001 01:46:00 GMT", now=now) == 0.0
    assert parse_retry_after("-4", now=now) == 0.0
    for junk in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(junk, now=now) is None


# -- moderation ------------------------------------------------------------------------------


def _moderation(items: list[dict[str, Any]], **top: Any) -> str:
    return json.dumps({"code": "success", "message": "", "data": {"items": items}, **top})


def test_moderation_needs_passed_and_review_status_1() -> None:
    urls = ["https://i/a.png", "https://i/b.png", "https://i/c.png", "https://i/d.png"]
    body = _moderation(
        [
            {
                "source_url": urls[0],
                "asset_url": "asset://a",
                "passed": True,
                "submit_review_status": 1,
            },
            {
                "source_url": urls[1],
                "asset_url": "asset://b",
                "passed": True,
                "submit_review_status": 2,
            },
            {"source_url": urls[2], "passed": False, "submit_review_status": 1, "reason": "person"},
        ]
    )
    assert parse_moderation(body, urls) == {
        urls[0]: Moderation(urls[0], True, "asset://a", None),
        urls[1]: Moderation(
            urls[1], False, "asset://b", "not approved (passed=True, submit_review_status=2)"
        ),
        urls[2]: Moderation(urls[2], False, None, "person"),
        urls[3]: Moderation(urls[3], False, None, "no verdict for this URL in the answer"),
    }


def test_moderation_single_item_maps_to_single_url() -> None:
    body = _moderation([{"asset_url": "asset://x", "passed": True, "submit_review_status": 1}])
    assert parse_moderation(body, ["https://i/x.png"]) == {
        "https://i/x.png": Moderation("https://i/x.png", True, "asset://x", None)
    }


def test_moderation_refusal_and_timeout() -> None:
    refused = '{"code": "invalid_request", "message": "unsupported image extension"}'
    with pytest.raises(RequestRejected) as info:
        parse_moderation(refused, ["https://i/a.svg"])
    assert (str(info.value), info.value.code) == (
        "moderation refused: unsupported image extension",
        "invalid_request",
    )
    assert moderation_timeout(refused) is None
    assert moderation_timeout('{"code": "timeout", "message": "moderation still running"}') == (
        "moderation still running"
    )
    assert moderation_timeout('{"code": "error", "message": "Request timed out"}') == (
        "Request timed out"
    )
    assert moderation_timeout(DOC_MODERATION) is None
    assert moderation_timeout("gateway timeout") is None  # not JSON: not the wrapper's answer
    with pytest.raises(BadResponse, match=r"moderation answer has no .data\.items. list"):
        parse_moderation('{"code": "success", "data": {}}', ["https://i/a.png"])


# -- hostile answers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '{"id": "t", "status": "running", "status": "succeeded"}',
            "answer has the key 'status' twice: "
            '\'{"id": "t", "status": "running", "status": "succeeded"}\'',
        ),
        (
            '{"id": "t", "status": "running", "progress": NaN}',
            'answer is not JSON: \'{"id": "t", "status": "running", "progress": NaN}\'',
        ),
        (
            '{"id": "t", "status": "running", "progress": 1e400}',
            "field 'progress' is not a finite number: "
            '\'{"id": "t", "status": "running", "progress": 1e400}\'',
        ),
        ("[" * 100_000, f"answer is nested too deeply: {'[' * 200!r}"),
        ("42", "task answer is a number, not an object: '42'"),
        ('"queued"', "task answer is a string, not an object: '\"queued\"'"),
        ("null", "task answer is null, not an object: 'null'"),
        (
            '{"id": "a\\nb", "status": "queued"}',
            "task id 'a\\nb' has control or space characters",
        ),
        (
            '{"id": "t", "status": 7}',
            "unknown task status '7' (seedrun knows cancelled, failed, queued, running, "
            'succeeded): \'{"id": "t", "status": 7}\'',
        ),
        (
            '{"id": "t", "status": "queued", "created_at": "²"}',
            'field \'created_at\' is not a number: \'{"id": "t", "status": "queued", '
            '"created_at": "²"}\'',
        ),
    ],
)
def test_hostile_shapes(body: str, message: str) -> None:
    with pytest.raises(BadResponse) as info:
        parse_task_body(body, api="official")
    assert str(info.value) == message


def test_a_task_id_of_megabytes_is_refused() -> None:
    body = json.dumps({"id": "x" * 5_000_000, "status": "queued"})
    with pytest.raises(BadResponse) as info:
        parse_task_body(body, api="official")
    assert str(info.value) == (f"task id is 5000000 characters, more than 256: {body[:200]!r}")


def test_a_long_error_message_is_cut() -> None:
    body = json.dumps({"id": "t", "status": "failed", "error": {"message": "m" * 10_000}})
    state = parse_task_body(body, api="official")
    assert state.error_message == "m" * 1999 + "…"


def test_a_list_page_that_is_not_an_object() -> None:
    with pytest.raises(BadResponse) as info:
        parse_task_page("[]")
    assert str(info.value) == "task list answer is an array, not an object: '[]'"
