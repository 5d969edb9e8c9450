"""SeedanceClient: against the simulator over loopback, and over MockTransport for
what the simulator cannot produce (broken bodies, dropped connections, 403, dates)."""

from __future__ import annotations

import hashlib
import json
import logging
import pathlib
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from seedrun.api_facts import MODEL
from seedrun.client import SeedanceClient
from seedrun.errors import (
    ApiError,
    AuthError,
    BadResponse,
    CreateAnswerUnreadable,
    CreateUnknown,
    DownloadError,
    RateLimited,
    RequestRejected,
    TaskNotFound,
    TransientError,
    Unsupported,
    UrlExpired,
)
from seedrun.models import Moderation, TaskState
from seedrun.pacer import Pacer
from seedrun.sim import SimConfig, SimHandle, running_sim
from seedrun.sim.media import video_bytes

KEY = "sk-live-0123456789abcdef-SECRET"
API = "https://api.example"
FILES = "https://cdn.example"
OFFICIAL = "/api/v3/contents/generations/tasks"
UNIFIED = "/v1/video/generations"
OFFICIAL_BODY: dict[str, Any] = {
    "model": MODEL,
    "content": [{"type": "text", "text": "a lighthouse at dusk"}],
    "duration": 5,
    "ratio": "16:9",
    "return_last_frame": True,
}
UNIFIED_BODY: dict[str, Any] = {
    "model": MODEL,
    "prompt": "a lighthouse at dusk",
    "seconds": "5",
    "metadata": {"ratio": "16:9"},
}

# -- MockTransport plumbing ----------------------------------------------------------------

Answer = Callable[[httpx.Request], httpx.Response] | type[Exception]


def answer(
    status: int = 200,
    body: Any = None,
    *,
    text: str | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    def make(request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return make


class Script:
    """A scripted server: answers in order, the last one repeating. Records requests."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.times.append(trio.current_time())
        current = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(current, type):
            raise current("simulated failure")
        return current(request)


def mock_client(script: Script, files: Script | None = None, **kw: Any) -> SeedanceClient:
    options: dict[str, Any] = {"backoff_base": 0.001, "backoff_cap": 0.01, "max_retries": 3}
    options.update(kw)
    return SeedanceClient(
        base_url=API,
        api_key=KEY,
        transport=httpx.MockTransport(script),
        files_transport=httpx.MockTransport(files or Script(answer(404))),
        **options,
    )


TASK = {"id": "task_1", "status": "running", "created_at": 1770000000}
SUCCEEDED = {
    "id": "task_1",
    "status": "succeeded",
    "content": {"video_url": f"{FILES}/v/task_1.mp4?sig=abc"},
}


# -- create ----------------------------------------------------------------------------------


async def test_create_official_sends_body_and_key_once() -> None:
    script = Script(answer(200, TASK))
    with trio.fail_after(5):
        async with mock_client(script) as client:
            state = await client.create("official", OFFICIAL_BODY)
    assert state == TaskState(
        task_id="task_1", status="running", raw_status="running", created_at=1770000000
    )
    (request,) = script.requests
    assert (request.method, str(request.url)) == ("POST", f"{API}{OFFICIAL}")
    assert json.loads(request.content) == OFFICIAL_BODY
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert client.stats.creates == 1


async def test_create_unified_accepts_task_id() -> None:
    script = Script(answer(200, {"task_id": "video_9", "status": "queued"}))
    with trio.fail_after(5):
        async with mock_client(script) as client:
            state = await client.create("unified", UNIFIED_BODY)
    assert (state.task_id, state.status) == ("video_9", "queued")
    assert str(script.requests[0].url) == f"{API}{UNIFIED}"


@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError]
)
async def test_create_failing_after_send_is_unknown_and_not_resubmitted(
    failure: type[Exception],
) -> None:
    script = Script(failure, answer(200, TASK))
    with trio.fail_after(5):
        async with mock_client(script) as client:
            with pytest.raises(CreateUnknown) as info:
                await client.create("official", OFFICIAL_BODY)
    assert str(info.value) == (
        f"POST {OFFICIAL}: {failure.__name__}: simulated failure after the request was sent; "
        "a task may exist, not resubmitting"
    )
    assert len(script.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_create_5xx_is_unknown_and_not_resubmitted(status: int) -> None:
    script = Script(answer(status, {"error": {"message": "boom"}}), answer(200, TASK))
    with trio.fail_after(5):
        async with mock_client(script) as client:
            with pytest.raises(CreateUnknown) as info:
                await client.create("official", OFFICIAL_BODY)
    assert str(info.value) == (
        f"POST {OFFICIAL}: HTTP {status} (boom); a task may exist, not resubmitting"
    )
    assert (info.value.status, len(script.requests)) == (status, 1)


@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.ConnectTimeout])
async def test_create_retries_when_nothing_was_sent(failure: type[Exception]) -> None:
    script = Script(failure, failure, answer(200, TASK))
    with trio.fail_after(5):
        async with mock_client(script) as client:
            state = await client.create("official", OFFICIAL_BODY)
    assert state.task_id == "task_1"
    assert (len(script.requests), client.stats.retries) == (3, 2)


async def test_create_connect_failures_end_as_transient() -> None:
    script = Script(httpx.ConnectError)
    with trio.fail_after(5):
        async with mock_client(script, max_retries=2) as client:
            with pytest.raises(TransientError) as info:
                await client.create("official", OFFICIAL_BODY)
    assert str(info.value) == f"POST {OFFICIAL}: ConnectError: simulated failure, 3 attempts"


async def test_create_unreadable_success_is_unknown_and_bad() -> None:
    script = Script(answer(200, text="<html>ok</html>"))
    with trio.fail_after(5):
        async with mock_client(script) as client:
            with pytest.raises(CreateAnswerUnreadable) as info:
                await client.create("official", OFFICIAL_BODY)
    assert isinstance(info.value, CreateUnknown) and isinstance(info.value, BadResponse)
    assert str(info.value) == (
        "create answered HTTP 200 but answer is not JSON: '<html>ok</html>'; "
        "a task may exist, not resubmitting"
    )
    assert len(script.requests) == 1


# -- errors by status -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors_stop_at_once(status: int) -> None:
    script = Script(answer(status, {"error": {"code": "unauthorized", "message": "bad key"}}))
    with trio.fail_after(5):
        async with mock_client(script) as client:
            with pytest.raises(AuthError) as info:
                await client.get("official", "task_1")
    assert str(info.value) == f"GET {OFFICIAL}/task_1: HTTP {status}: bad key"
    assert (info.value.code, len(script.requests), client.stats.retries) == ("unauthorized", 1, 0)


@pytest.mark.parametrize(
    ("status", "reply", "message"),
    [
        (
            400,
            answer(400, {"error": {"code": "InvalidParameter", "message": "ratio is bad"}}),
            "create rejected (HTTP 400): ratio is bad",
        ),
        (
            422,
            answer(422, {"message": "duration too long"}),
            "create rejected (HTTP 422): duration too long",
        ),
        (
            400,
            answer(400, text="Bad Request " + "y" * 300),
            "create rejected (HTTP 400): Bad Request " + "y" * 188,
        ),
    ],
)
async def test_rejected_requests_keep_the_server_message(
    status: int, reply: Answer, message: str
) -> None:
    script = Script(reply)
    with trio.fail_after(5):
        async with mock_client(script) as client:
            with pytest.raises(RequestRejected) as info:
                await client.create("official", OFFICIAL_BODY)
    assert (str(info.value), info.value.status, len(script.requests)) == (message, status, 1)


async def test_get_404_is_task_not_found() -> None:
    script = Script(answer(404, {"error": {"message": "not found"}}))
    with trio.fail_after(5):
        async with mock_client(script) as client:
            with pytest.raises(TaskNotFound) as info:
                await client.get("unified", "video/../x")
    assert str(info.value) == "task 'video/../x' not found (HTTP 404)"
    assert script.requests[0].url.raw_path == b"/v1/video/generations/video%2F..%2Fx"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<html>gateway</html>", "answer is not JSON: '<html>gateway</html>'"),
        (
            '{"id": "t", "status": "thinking"}',
            'unknown task status \'thinking\' (seedrun knows '
            'cancelled, failed, queued, running, succeeded): \'{"id": "t", "status": "thinking"}\'',
        ),
        (
            '{"id": "t", "status": "running", "content": 3}',
            "task field 'content' is not an object: "
            '\'{"id": "t", "status": "running", "content": 3}\'',
        ),
    ],
)
async def test_bad_bodies_are_bad_response(body: str, message: str) -> None:
    script = Script(answer(200, text=body))
    with trio.fail_after(5):
        async with mock_client(script) as client:
            with pytest.raises(BadResponse) as info:
                await client.get("official", "t")
    assert str(info.value) == message


async def test_redirect_is_not_followed_with_the_key() -> None:
    script = Script(answer(302, text="", headers={"Location": "https://evil.example/steal"}))
    with trio.fail_after(5):
        async with mock_client(script) as client:
            with pytest.raises(BadResponse) as info:
                await client.get("official", "t")
    assert [str(r.url) for r in script.requests] == [f"{API}{OFFICIAL}/t"]
    assert str(info.value) == (
        f"GET {OFFICIAL}/t: HTTP 302 redirect to 'https://evil.example/steal'; seedrun does "
        "not follow redirects of API calls: check the base URL"
    )


@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout, httpx.ConnectError, httpx.RemoteProtocolError]
)
async def test_get_retries_transport_errors(failure: type[Exception]) -> None:
    script = Script(failure, answer(503), answer(200, TASK))
    with trio.fail_after(5):
        async with mock_client(script) as client:
            assert (await client.get("official", "task_1")).status == "running"
    assert (len(script.requests), client.stats.retries) == (3, 2)


async def test_get_5xx_ends_as_transient() -> None:
    script = Script(answer(503, {"error": {"message": "busy"}}))
    with trio.fail_after(5):
        async with mock_client(script, max_retries=4) as client:
            with pytest.raises(TransientError) as info:
                await client.get("official", "task_1")
    assert str(info.value) == f"GET {OFFICIAL}/task_1: HTTP 503, 5 attempts"
    assert (info.value.status, len(script.requests)) == (503, 5)


# -- 429 and the pacer ------------------------------------------------------------------------


async def test_429_seconds_are_honoured_and_slow_the_pacer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pacer = Pacer(10.0)
    script = Script(answer(429, headers={"Retry-After": "7"}), answer(200, TASK))
    with trio.fail_after(60):
        async with mock_client(script, pacer=pacer) as client:
            await client.create("official", OFFICIAL_BODY)  # a 429 never created a task
    assert 7.0 <= script.times[1] - script.times[0] <= 7.8
    assert (pacer.rate, pacer.rate_limited, pacer.requests) == (5.0, 1, 2)
    assert (client.stats.rate_limited, client.stats.retries) == (1, 1)


async def test_429_http_date_is_honoured(autojump_clock: trio.testing.MockClock) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    script = Script(answer(429, headers={"Retry-After": when}), answer(200, TASK))
    with trio.fail_after(60):
        async with mock_client(script) as client:
            await client.get("official", "task_1")
    assert 18.5 <= script.times[1] - script.times[0] <= 22.5


async def test_429_without_retry_after_backs_off_exponentially(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script(answer(429))
    with trio.fail_after(600):
        async with mock_client(
            script, backoff_base=1.0, backoff_cap=100.0, max_retries=4
        ) as client:
            with pytest.raises(RateLimited) as info:
                await client.get("official", "task_1")
    gaps = [b - a for a, b in zip(script.times, script.times[1:], strict=False)]
    for n, gap in enumerate(gaps):  # equal jitter: between half and all of 2**n seconds
        assert 2**n / 2 <= gap <= 2**n
    assert str(info.value) == f"GET {OFFICIAL}/task_1: HTTP 429 after 5 attempts"
    assert (info.value.retry_after, info.value.status, client.stats.rate_limited) == (None, 429, 5)


async def test_huge_retry_after_waits_the_cap_and_says_so(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    # Retry-After: 999999 once froze every later request through the shared pacer.
    script = Script(answer(429, headers={"Retry-After": "999999"}), answer(200, TASK))
    pacer = Pacer(None)
    with trio.fail_after(1000):
        async with mock_client(script, pacer=pacer, max_retry_after=60.0) as client:
            start = trio.current_time()
            state = await client.get("official", "task_1")
            assert pacer.paused_until is None  # the pause the pacer took is over, too
    assert state.task_id == "task_1"
    assert [round(t - start, 3) for t in script.times] == [0.0, 60.0]
    assert caplog.messages == [
        f"GET {OFFICIAL}/task_1: the server asks to wait 999999 s (Retry-After); "
        "waiting 60 s, the most seedrun waits"
    ]


async def test_huge_retry_after_on_the_last_attempt_is_handed_to_the_caller(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script(answer(429, headers={"Retry-After": "3600"}))
    with trio.fail_after(5000):
        async with mock_client(script, max_retries=1) as client:
            with pytest.raises(RateLimited) as info:
                await client.get("official", "task_1")
    assert (info.value.retry_after, len(script.requests)) == (120.0, 2)


# -- list and cancel --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 404, 405])
async def test_list_unavailable_is_unsupported(status: int) -> None:
    script = Script(answer(status, {"error": {"message": "no"}}))
    with trio.fail_after(5):
        async with mock_client(script) as client:
            with pytest.raises(Unsupported) as info:
                await client.list_tasks(["a"])
    assert str(info.value) == f"the task list endpoint is not available (HTTP {status})"


async def test_list_pages_and_chunks() -> None:
    def page(request: httpx.Request) -> httpx.Response:
        ids = request.url.params.get_list("filter.task_ids")
        size, num = int(request.url.params["page_size"]), int(request.url.params["page_num"])
        known = [i for i in ids if i != "gone"]
        items = [{"id": i, "status": "queued"} for i in known[(num - 1) * size : num * size]]
        items.append({"id": "stranger", "status": "running"})  # not asked for: ignored
        return httpx.Response(200, json={"items": items[:size], "total": len(known)})

    script = Script(page)
    with trio.fail_after(5):
        async with mock_client(script) as client:
            found = await client.list_tasks(["a", "b", "gone", "c", "a"], page_size=2)
    assert found == {i: TaskState(task_id=i, status="queued", raw_status="queued") for i in "abc"}
    assert [str(r.url.query, "ascii") for r in script.requests] == [
        "page_num=1&page_size=2&filter.task_ids=a&filter.task_ids=b",
        "page_num=1&page_size=2&filter.task_ids=gone&filter.task_ids=c",
    ]


async def test_cancel() -> None:
    script = Script(answer(200, {}), answer(404), answer(400, {"error": {"message": "running"}}))
    with trio.fail_after(5):
        async with mock_client(script) as client:
            await client.cancel("official", "t1")
            with pytest.raises(TaskNotFound):
                await client.cancel("official", "t2")
            with pytest.raises(
                RequestRejected, match=r"cancel 't3' rejected \(HTTP 400\): running"
            ):
                await client.cancel("official", "t3")
            with pytest.raises(Unsupported, match="cancel has no unified form"):
                await client.cancel("unified", "t4")
    assert [(r.method, r.url.path) for r in script.requests] == [
        ("DELETE", f"{OFFICIAL}/t{i}") for i in (1, 2, 3)
    ]


# -- moderation ---------------------------------------------------------------------------------


def _verdicts(request: httpx.Request) -> httpx.Response:
    urls = json.loads(request.content)["images"]
    items = [
        {
            "source_url": u,
            "asset_url": f"asset://{u[-5]}",
            "submit_review_status": 1,
            "passed": True,
        }
        for u in urls
    ]
    return httpx.Response(200, json={"code": "success", "message": "", "data": {"items": items}})


async def test_moderation_batches() -> None:
    script = Script(_verdicts)
    urls = [f"https://i.example/{c}.png" for c in "abcde"]
    with trio.fail_after(5):
        async with mock_client(script) as client:
            found = await client.moderate([*urls, urls[0]], batch_size=2)
    assert found == {u: Moderation(u, True, f"asset://{u[-5]}", None) for u in urls}
    bodies = sorted((json.loads(r.content) for r in script.requests), key=lambda b: b["images"])
    assert bodies == [
        {"model": MODEL, "images": urls[0:2]},
        {"model": MODEL, "images": urls[2:4]},
        {"model": MODEL, "images": urls[4:5]},
    ]
    with pytest.raises(ValueError, match="batch_size must be between 1 and 50"):
        await client.moderate(urls, batch_size=51)


async def test_moderation_timeout_body_is_retried_then_transient() -> None:
    slow = answer(200, {"code": "moderation_timeout", "message": "timeout waiting for review"})
    script = Script(slow, _verdicts)
    with trio.fail_after(5):
        async with mock_client(script) as client:
            found = await client.moderate(["https://i.example/a.png"])
            assert found["https://i.example/a.png"].passed
            script.answers = [slow]
            with pytest.raises(TransientError) as info:
                await client.moderate(["https://i.example/a.png"])
    assert str(info.value) == "moderation timed out 4 times: timeout waiting for review"


async def test_moderation_refusal_is_rejected() -> None:
    script = Script(answer(200, {"code": "invalid_request", "message": "bad extension"}))
    with trio.fail_after(5):
        async with mock_client(script) as client:
            with pytest.raises(RequestRejected) as info:
                await client.moderate(["https://i.example/a.svg"])
    assert (str(info.value), info.value.code) == (
        "moderation refused: bad extension",
        "invalid_request",
    )


# -- downloads (mock) -------------------------------------------------------------------------


def _file(data: bytes, *, length: int | None = None, status: int = 200) -> Answer:
    def make(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Length": str(len(data) if length is None else length)}
        return httpx.Response(status, content=data, headers=headers)

    return make


async def test_download_retries_a_short_body_and_cleans_up(tmp_path: pathlib.Path) -> None:
    data = bytes(range(256)) * 1000
    files = Script(_file(data[:1000], length=len(data)), httpx.ReadError, _file(data))
    dest = tmp_path / "out" / "deep" / "v.mp4"
    with trio.fail_after(5):
        async with mock_client(Script(answer(200, SUCCEEDED)), files) as client:
            done = await client.download(f"{FILES}/v/task_1.mp4?sig=abc", dest)
    assert (done.path, done.sha256, done.bytes) == (
        str(dest),
        hashlib.sha256(data).hexdigest(),
        len(data),
    )
    assert dest.read_bytes() == data
    assert sorted(p.name for p in dest.parent.iterdir()) == ["v.mp4"]
    assert all("authorization" not in r.headers for r in files.requests)
    assert client.stats.retries == 2


async def test_download_gives_up_and_leaves_nothing(tmp_path: pathlib.Path) -> None:
    files = Script(_file(b"abc", length=10))
    with trio.fail_after(5):
        async with mock_client(Script(answer(404)), files) as client:
            with pytest.raises(DownloadError) as info:
                await client.download(f"{FILES}/v.mp4?sig=s3cr3t", tmp_path / "v.mp4")
    assert str(info.value) == (
        f"download of {FILES}/v.mp4 failed 3 times: truncated: 3 of 10 bytes"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("status", [403, 404, 410])
async def test_download_expired_url(status: int, tmp_path: pathlib.Path) -> None:
    files = Script(_file(b"AccessDenied", status=status))
    with trio.fail_after(5):
        async with mock_client(Script(answer(404)), files) as client:
            with pytest.raises(UrlExpired) as info:
                await client.download(f"{FILES}/v.mp4?Expires=1&Signature=x", tmp_path / "v.mp4")
    assert str(info.value) == (
        f"download URL {FILES}/v.mp4 answered HTTP {status}; fetch the task again for a fresh URL"
    )
    assert (info.value.status, len(files.requests), list(tmp_path.iterdir())) == (status, 1, [])


# -- the key ----------------------------------------------------------------------------------


async def test_key_never_leaks_into_errors_reprs_or_logs(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every error class, from a server that echoes the key in every body."""
    caplog.set_level(logging.DEBUG)
    echo = {"error": {"code": "x", "message": f"you sent Bearer {KEY}"}}
    cases: list[tuple[str, Answer, type[ApiError]]] = [
        ("get", answer(401, echo), AuthError),
        ("get", answer(403, echo), AuthError),
        ("create", answer(400, echo), RequestRejected),
        ("create", answer(422, text=f"key={KEY}"), RequestRejected),
        ("create", answer(500, echo), CreateUnknown),
        ("create", httpx.ReadTimeout, CreateUnknown),
        ("create", answer(200, text=f"<{KEY}>"), CreateAnswerUnreadable),
        ("get", answer(429, echo), RateLimited),
        ("get", answer(503, echo), TransientError),
        ("get", answer(404, echo), TaskNotFound),
        ("get", answer(200, text=f"not json {KEY}"), BadResponse),
        ("get", answer(200, {"id": "t", "status": KEY}), BadResponse),
        ("list", answer(405, echo), Unsupported),
        ("moderate", answer(200, {"code": "bad", "message": KEY}), RequestRejected),
        ("moderate", answer(200, {"code": "timeout", "message": KEY}), TransientError),
    ]
    seen: list[ApiError] = []
    for op, reply, expected in cases:
        async with mock_client(Script(reply), max_retries=1) as client:
            with trio.fail_after(5), pytest.raises(expected) as info:
                if op == "get":
                    await client.get("official", "t")
                elif op == "create":
                    await client.create("official", OFFICIAL_BODY)
                elif op == "list":
                    await client.list_tasks(["t"])
                else:
                    await client.moderate(["https://i.example/a.png"])
            seen.append(info.value)
    files = Script(_file(KEY.encode(), status=403))
    async with mock_client(Script(answer(404)), files) as client:
        with trio.fail_after(5), pytest.raises(UrlExpired) as expired:
            await client.download(f"{FILES}/v.mp4", tmp_path / "v.mp4")
        seen.append(expired.value)
        assert KEY not in repr(client) and KEY not in repr(vars(client))
    assert any("[redacted]" in str(exc) for exc in seen)
    for exc in seen:
        assert KEY not in str(exc) and KEY not in repr(exc) and KEY not in repr(exc.args)
        assert exc.__cause__ is None  # no httpx exception (holding the request) chained
    assert KEY not in caplog.text


def test_key_goes_only_to_the_api_origin() -> None:
    from seedrun.client import _BearerAuth

    auth = _BearerAuth(KEY, ("https", "api.example", 443))
    sent = {}
    for url in (
        "https://api.example/v1/x",
        "https://api.example:443/v1/x",
        "https://api.example:8443/v1/x",
        "http://api.example/v1/x",
        "https://cdn.example/v1/x",
        "https://api.example.evil/v1/x",
    ):
        request = next(auth.auth_flow(httpx.Request("GET", url)))
        sent[url] = request.headers.get("Authorization")
    assert sent == {
        "https://api.example/v1/x": f"Bearer {KEY}",
        "https://api.example:443/v1/x": f"Bearer {KEY}",
        "https://api.example:8443/v1/x": None,
        "http://api.example/v1/x": None,
        "https://cdn.example/v1/x": None,
        "https://api.example.evil/v1/x": None,
    }
    assert KEY not in repr(auth)


async def test_bad_construction() -> None:
    from seedrun.errors import ConfigError

    with pytest.raises(ConfigError, match="the API key is empty"):
        SeedanceClient(base_url=API, api_key="")
    with pytest.raises(ConfigError) as info:
        SeedanceClient(base_url=API, api_key="abc\ndef")
    assert "abc" not in str(info.value)
    for bad in ("ftp://x", "http://", "http://[::1"):
        with pytest.raises(ConfigError, match="base URL must be"):
            SeedanceClient(base_url=bad, api_key=KEY)
    with trio.fail_after(5):
        async with mock_client(Script(answer(200))) as client:
            with pytest.raises(ValueError, match="api must be one of"):
                await client.get("openai", "t")


# -- against the simulator (real sockets, real clock) ----------------------------------------


def sim_config(**kw: Any) -> SimConfig:
    options: dict[str, Any] = {"task_seconds": (0.2, 0.4), "concurrency": 10, "seed": 7}
    options.update(kw)
    return SimConfig(**options)


def sim_client(sim: SimHandle, **kw: Any) -> SeedanceClient:
    options: dict[str, Any] = {"backoff_base": 0.01, "backoff_cap": 0.1, "max_retries": 5}
    options.update(kw)
    return SeedanceClient(base_url=sim.base_url, api_key=sim.api_key, **options)


async def finished(client: SeedanceClient, api: str, task_id: str) -> TaskState:
    while True:
        state = await client.get(api, task_id)
        if state.terminal:
            return state
        await trio.sleep(0.05)


@pytest.mark.parametrize(("api", "body"), [("official", OFFICIAL_BODY), ("unified", UNIFIED_BODY)])
async def test_sim_round_trip(api: str, body: dict[str, Any], tmp_path: pathlib.Path) -> None:
    with trio.fail_after(10):
        async with running_sim(sim_config()) as sim, sim_client(sim) as client:
            created = await client.create(api, body)
            assert created.status in ("queued", "running")
            done = await finished(client, api, created.task_id)
            assert done.status == "succeeded" and done.video_url is not None
            assert done.video_url.startswith(sim.files_url)
            got = await client.download(done.video_url, tmp_path / "videos" / "v.mp4")
    data = video_bytes(created.task_id)
    assert (got.sha256, got.bytes) == (hashlib.sha256(data).hexdigest(), len(data))
    by_origin = {(r["origin"], r["has_auth"]) for r in sim.state.requests}
    assert by_origin == {("api", True), ("files", False)}  # the key never reached the files


async def test_sim_official_task_extras_and_last_frame(tmp_path: pathlib.Path) -> None:
    with trio.fail_after(10):
        async with running_sim(sim_config()) as sim, sim_client(sim) as client:
            created = await client.create("official", OFFICIAL_BODY)
            assert (created.service_tier, created.execution_expires_after) == ("default", 172800)
            done = await finished(client, "official", created.task_id)
            assert done.last_frame_url is not None
            frame = await client.download(done.last_frame_url, tmp_path / "last.png")
    assert done.seed is not None and done.revised_prompt == "A lighthouse at dusk."
    assert done.usage is not None and [name for name, _ in done.usage] == [
        "completion_tokens",
        "total_tokens",
    ]
    assert pathlib.Path(frame.path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(not r["has_auth"] for r in sim.state.requests if r["origin"] == "files")


async def test_sim_failed_task() -> None:
    body = {**UNIFIED_BODY, "prompt": "a lighthouse [policy-fail]"}
    with trio.fail_after(10):
        async with running_sim(sim_config()) as sim, sim_client(sim) as client:
            done = await finished(client, "unified", (await client.create("unified", body)).task_id)
    assert (done.status, done.error_code, done.error_message) == (
        "failed",
        "task_failed",
        "The request failed because the output video may be related to policy restrictions.",
    )


async def test_sim_wrong_key_is_auth_error() -> None:
    with trio.fail_after(10):
        async with (
            running_sim(sim_config()) as sim,
            SeedanceClient(base_url=sim.base_url, api_key="wrong-" + KEY) as client,
        ):
            with pytest.raises(AuthError) as info:
                await client.create("official", OFFICIAL_BODY)
    assert str(info.value) == f"POST {OFFICIAL}: HTTP 401: invalid API key"
    assert len(sim.state.requests) == 1 and not sim.state.tasks


async def test_sim_rejected_request() -> None:
    with trio.fail_after(10):
        async with running_sim(sim_config()) as sim, sim_client(sim) as client:
            with pytest.raises(RequestRejected) as info:
                await client.create("official", {**OFFICIAL_BODY, "model": "other"})
    assert str(info.value) == (
        'create rejected (HTTP 400): model must be doubao-seedance-2.0 (got "other")'
    )
    assert (info.value.status, info.value.code) == (400, "invalid_request")


async def test_sim_unknown_task_is_not_found() -> None:
    with trio.fail_after(10):
        async with running_sim(sim_config()) as sim, sim_client(sim) as client:
            with pytest.raises(TaskNotFound):
                await client.get("official", "task_nope")


async def test_sim_create_500_before_and_after_is_never_resubmitted() -> None:
    for knob, tasks in (("error_rate_before", 0), ("error_rate_after", 1)):
        with trio.fail_after(10):
            async with running_sim(sim_config(**{knob: 1.0})) as sim, sim_client(sim) as client:
                with pytest.raises(CreateUnknown):
                    await client.create("official", OFFICIAL_BODY)
        assert (sim.state.creates, len(sim.state.tasks)) == (1, tasks)


async def test_sim_flaky_gets_are_retried() -> None:
    with trio.fail_after(10):
        async with running_sim(sim_config(get_error_rate=0.5)) as sim, sim_client(sim) as client:
            task_id = (await client.create("official", OFFICIAL_BODY)).task_id
            for _ in range(20):
                assert (await client.get("official", task_id)).task_id == task_id
    assert client.stats.retries > 0
    assert sum(r["status"] == 503 for r in sim.state.requests) == client.stats.retries


async def test_sim_rate_limit_slows_the_whole_run() -> None:
    pacer = Pacer()
    with trio.fail_after(20):
        async with (
            running_sim(sim_config(rate_limit_rps=20)) as sim,
            sim_client(sim, pacer=pacer, max_retries=8) as client,
        ):
            task_id = (await client.create("official", OFFICIAL_BODY)).task_id
            async with trio.open_nursery() as nursery:
                for _ in range(60):
                    nursery.start_soon(client.get, "official", task_id)
    assert sim.state.rate_limited > 0
    assert client.stats.rate_limited == pacer.rate_limited == sim.state.rate_limited
    assert pacer.rate is not None  # was unlimited; a 429 gave it a rate
    assert sim.state.gets == 60


async def test_sim_list_pages_and_fallback() -> None:
    with trio.fail_after(10):
        async with running_sim(sim_config()) as sim, sim_client(sim) as client:
            ids = [(await client.create("official", OFFICIAL_BODY)).task_id for _ in range(5)]
            found = await client.list_tasks([*ids, "task_missing"], page_size=2)
            assert sorted(found) == sorted(ids)
            assert all(s.status in ("queued", "running") for s in found.values())
    assert client.stats.lists == sim.state.lists == 3
    with trio.fail_after(10):
        async with running_sim(sim_config(list_endpoint=False)) as sim, sim_client(sim) as client:
            with pytest.raises(Unsupported):
                await client.list_tasks(["task_x"])


async def test_sim_cancel() -> None:
    with trio.fail_after(10):
        async with running_sim(sim_config(concurrency=1)) as sim, sim_client(sim) as client:
            first = await client.create("official", OFFICIAL_BODY)
            second = await client.create("official", OFFICIAL_BODY)
            await client.cancel("official", second.task_id)
            assert (await client.get("official", second.task_id)).status == "cancelled"
            with pytest.raises(RequestRejected, match="only a queued task can be cancelled"):
                await client.cancel("official", first.task_id)


async def test_sim_moderation() -> None:
    ok, bad, slow = (f"https://img.example/{n}.png" for n in ("ok", "reject-me", "slow-moderation"))
    with trio.fail_after(10):
        async with running_sim(sim_config()) as sim, sim_client(sim, max_retries=2) as client:
            found = await client.moderate([ok, bad])
            assert found[ok].passed and found[ok].asset_url in sim.state.assets
            assert found[bad] == Moderation(
                bad,
                False,
                None,
                "The image may violate the platform's content policy and was not approved.",
            )
            with pytest.raises(TransientError) as info:
                await client.moderate([slow])
    assert info.value.status == 504
    assert sim.state.moderations == 2 + 3  # one per URL, then the slow one three times


async def test_sim_truncated_download_is_retried(tmp_path: pathlib.Path) -> None:
    with trio.fail_after(10):
        async with running_sim(sim_config(truncate_rate=1.0)) as sim, sim_client(sim) as client:
            done = await finished(
                client, "official", (await client.create("official", OFFICIAL_BODY)).task_id
            )
            assert done.video_url is not None
            got = await client.download(done.video_url, tmp_path / "v.mp4")
    assert got.sha256 == hashlib.sha256(video_bytes(done.task_id)).hexdigest()
    assert (sim.state.truncated, sim.state.downloads, client.stats.retries) == (1, 2, 1)
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


async def test_sim_expired_url_then_fresh_one(tmp_path: pathlib.Path) -> None:
    with trio.fail_after(10):
        async with running_sim(sim_config(url_ttl=0.6)) as sim, sim_client(sim) as client:
            task_id = (await client.create("official", OFFICIAL_BODY)).task_id
            stale = await finished(client, "official", task_id)
            assert stale.video_url is not None
            await trio.sleep(0.7)
            with pytest.raises(UrlExpired):
                await client.download(stale.video_url, tmp_path / "v.mp4")
            fresh = await client.get("official", task_id)
            assert fresh.video_url is not None
            await client.download(fresh.video_url, tmp_path / "v.mp4")
    assert list(tmp_path.iterdir()) == [tmp_path / "v.mp4"]


async def test_sim_read_timeout() -> None:
    with trio.fail_after(10):
        async with (
            running_sim(sim_config(latency=0.5)) as sim,
            sim_client(sim, timeout=0.1, max_retries=1) as client,
        ):
            with pytest.raises(TransientError, match="ReadTimeout"):
                await client.get("official", "task_x")
            with pytest.raises(CreateUnknown, match="ReadTimeout"):
                await client.create("official", OFFICIAL_BODY)
    assert (client.stats.creates, client.stats.retries) == (1, 1)  # the retry was the GET's


async def test_connection_refused() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with trio.fail_after(10):
        async with SeedanceClient(
            base_url=f"http://127.0.0.1:{port}", api_key=KEY, backoff_base=0.01, max_retries=2
        ) as client:
            with pytest.raises(TransientError, match="ConnectError") as info:
                await client.create("official", OFFICIAL_BODY)
    assert KEY not in str(info.value)
    assert client.stats.retries == 2
