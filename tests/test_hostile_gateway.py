"""SeedanceClient against a hostile gateway on loopback, one behaviour per test.

Every misbehaviour must end in an error of seedrun's tree with a one-line
reason (never an httpx exception), within the client's deadlines, without
the key, and without a create that might have created a task being sent again.
"""

from __future__ import annotations

import json
import pathlib
import re
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import httpcore
import pytest
import trio
from hostile import Request, gzipped, head, hostile_server, send, send_json

from seedrun.api_facts import MODEL
from seedrun.client import SeedanceClient
from seedrun.errors import (
    BadResponse,
    CreateAnswerUnreadable,
    CreateUnknown,
    DownloadError,
    DownloadRefused,
    InvalidRequest,
    RateLimited,
    RequestRejected,
    SeedrunError,
    TransientError,
)

KEY = "sk-hostile-0123456789-SECRET"
TASKS = "/api/v3/contents/generations/tasks"
BODY: dict[str, Any] = {"model": MODEL, "content": [{"type": "text", "text": "a boat"}]}
Stream = trio.SocketStream


def client_for(url: str, **kw: Any) -> SeedanceClient:
    options: dict[str, Any] = {
        "backoff_base": 0.01,
        "backoff_cap": 0.02,
        "max_retries": 2,
        "timeout": 2.0,
    }
    options.update(kw)
    return SeedanceClient(base_url=url, api_key=KEY, **options)


async def _expect(
    handler: Callable[[Request, Stream], Awaitable[None]],
    call: Callable[[SeedanceClient], Awaitable[Any]],
    error: type[SeedrunError],
    **kw: Any,
) -> tuple[str, int]:
    """Run ``call`` against ``handler``; the error's message and the request count."""
    with trio.fail_after(10):
        async with hostile_server(handler) as server, client_for(server.url, **kw) as client:
            with pytest.raises(error) as info:
                await call(client)
    message = str(info.value)
    assert "\n" not in message and KEY not in message
    return message, len(server.requests)


def _get(client: SeedanceClient) -> Awaitable[Any]:
    return client.get("official", "t1")


def _create(client: SeedanceClient) -> Awaitable[Any]:
    return client.create("official", BODY)


GET_T1 = f"GET {TASKS}/t1"


# -- bodies that are not a task --------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        (
            "<html><body>Welcome to nginx!</body></html>",
            {"Content-Type": "text/html"},
            "answer is not JSON: '<html><body>Welcome to nginx!</body></html>'",
        ),
        ("[]", {}, "task answer is an array, not an object: '[]'"),
        ("3.5", {}, "task answer is a number, not an object: '3.5'"),
        (
            '{"id": "t1", "status": "exploded"}',
            {},
            "unknown task status 'exploded' (seedrun knows cancelled, failed, queued, running, "
            'succeeded): \'{"id": "t1", "status": "exploded"}\'',
        ),
        ('{"id": "t1"}', {}, 'task answer has no status: \'{"id": "t1"}\''),
        (
            '{"id": "t1", "status": "queued", "status": "failed"}',
            {},
            "answer has the key 'status' twice: "
            '\'{"id": "t1", "status": "queued", "status": "failed"}\'',
        ),
        (
            '{"id": "t1", "status": "running", "progress": [1]}',
            {},
            "field 'progress' is not a number: "
            '\'{"id": "t1", "status": "running", "progress": [1]}\'',
        ),
    ],
)
async def test_a_get_answer_that_is_no_task_is_a_bad_response(
    body: str, headers: dict[str, str], message: str
) -> None:
    async def handler(req: Request, stream: Stream) -> None:
        await send(stream, 200, body, headers)

    got, requests = await _expect(handler, _get, BadResponse)
    assert (got, requests) == (message, 1)  # a bad shape is not retried


async def test_invalid_utf8_is_a_bad_response() -> None:
    async def handler(req: Request, stream: Stream) -> None:
        await send(stream, 200, b'{"id": "t1", "status": "queued", "x": "\xff\xfe"}')

    got, requests = await _expect(handler, _get, BadResponse)
    assert got == f"{GET_T1}: HTTP 200 but the answer is not UTF-8 text (bad byte at offset 39)"
    assert requests == 1


async def test_a_huge_answer_is_cut_and_refused() -> None:
    async def handler(req: Request, stream: Stream) -> None:
        await stream.send_all(head(200, length=None).replace(b"Connection", b"X-A"))
        # No length: the body goes on until seedrun stops reading.
        chunk = b'{"id": "t1", "pad": "' + b"x" * (1 << 20)
        for _ in range(20):
            await stream.send_all(chunk)

    got, requests = await _expect(handler, _get, BadResponse)
    assert (got, requests) == (f"{GET_T1}: HTTP 200 but the answer is larger than 8 MiB", 1)


# -- transport misbehaviour --------------------------------------------------------------------


async def test_gzip_header_on_a_plain_body_get_is_retried_then_transient() -> None:
    async def handler(req: Request, stream: Stream) -> None:
        await send(stream, 200, '{"id": "t1", "status": "queued"}', {"Content-Encoding": "gzip"})

    got, requests = await _expect(handler, _get, TransientError)
    assert got.startswith(
        f"{GET_T1}: the answer does not decode as its Content-Encoding 'gzip' says (DecodingError:"
    )
    assert got.endswith(", 3 attempts")
    assert requests == 3


async def test_gzip_header_on_a_plain_create_answer_is_unknown_and_not_resent() -> None:
    async def handler(req: Request, stream: Stream) -> None:
        await send(stream, 200, '{"id": "t1", "status": "queued"}', {"Content-Encoding": "gzip"})

    got, requests = await _expect(handler, _create, CreateAnswerUnreadable)
    assert got.startswith(
        "create answered HTTP 200 but the answer does not decode as its Content-Encoding 'gzip'"
    )
    assert got.endswith("; a task may exist, not resubmitting")
    assert requests == 1


async def test_a_real_gzip_answer_is_read() -> None:
    async def handler(req: Request, stream: Stream) -> None:
        body = gzipped('{"id": "t1", "status": "running"}')
        await send(stream, 200, body, {"Content-Encoding": "gzip"})

    with trio.fail_after(10):
        async with hostile_server(handler) as server, client_for(server.url) as client:
            state = await client.get("official", "t1")
    assert (state.task_id, state.status) == ("t1", "running")


async def test_a_body_cut_mid_way_get_retries_create_is_unknown() -> None:
    async def handler(req: Request, stream: Stream) -> None:
        await stream.send_all(head(200, length=100) + b'{"id": "t1", "sta')

    got, requests = await _expect(handler, _get, TransientError)
    assert got.startswith(f"{GET_T1}: the answer broke off: RemoteProtocolError:")
    assert requests == 3
    got, requests = await _expect(handler, _create, CreateAnswerUnreadable)
    assert got.startswith("create answered HTTP 200 but the answer broke off: RemoteProtocolError")
    assert requests == 1


async def test_a_chunked_body_cut_mid_chunk() -> None:
    async def handler(req: Request, stream: Stream) -> None:
        await stream.send_all(
            b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n{"id": "t1"'
        )

    got, requests = await _expect(handler, _create, CreateAnswerUnreadable)
    assert "the answer broke off: RemoteProtocolError" in got
    assert requests == 1


async def test_closed_without_an_answer() -> None:
    async def handler(req: Request, stream: Stream) -> None:
        return  # the request was read, then the connection closes

    got, requests = await _expect(handler, _create, CreateUnknown)
    assert got == (
        f"POST {TASKS}: RemoteProtocolError: Server disconnected without sending a response. "
        "after the request was sent; a task may exist, not resubmitting"
    )
    assert requests == 1
    got, requests = await _expect(handler, _get, TransientError)
    assert got.startswith(f"{GET_T1}: RemoteProtocolError: Server disconnected")
    assert requests == 3


async def test_a_garbage_status_line_is_a_protocol_error() -> None:
    async def handler(req: Request, stream: Stream) -> None:
        await stream.send_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")

    got, _ = await _expect(handler, _create, CreateUnknown)
    assert got.startswith(f"POST {TASKS}: RemoteProtocolError:")
    got, _ = await _expect(handler, _get, TransientError)
    assert got.startswith(f"{GET_T1}: RemoteProtocolError:")


async def test_tls_to_a_plain_server_fails_before_anything_is_sent() -> None:
    # The equivalent of a TLS error: the handshake meets plain HTTP. No request
    # bytes went out, so even a create may be retried; it ends as TransientError.
    async def handler(req: Request, stream: Stream) -> None:
        await send(stream, 400, "plain http")

    async def garbage(stream: Stream) -> None:
        async with stream:
            await stream.send_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, garbage, 0, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
            async with client_for(f"https://127.0.0.1:{port}") as client:
                with pytest.raises(TransientError) as info:
                    await client.create("official", BODY)
            nursery.cancel_scope.cancel()
    assert str(info.value).startswith(f"POST {TASKS}: ConnectError: [SSL")
    assert str(info.value).endswith(", 3 attempts")


async def test_a_five_megabyte_task_id() -> None:
    async def handler(req: Request, stream: Stream) -> None:
        await send_json(stream, {"id": "x" * 5_000_000, "status": "queued"})

    got, requests = await _expect(handler, _create, CreateAnswerUnreadable)
    assert got.startswith("create answered HTTP 200 but task id is 5000000 characters, more than")
    assert requests == 1

    async def long_get(client: SeedanceClient) -> Any:
        return await client.get("official", "x" * 5_000_000)  # e.g. from a crafted lockfile

    got, requests = await _expect(handler, long_get, InvalidRequest)
    assert got.startswith(f"GET {TASKS}/xxxx")
    assert got.endswith(": cannot build the URL: URL too long")
    assert requests == 0


# -- redirects of API calls ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_of_an_api_call_is_not_followed(status: int) -> None:
    async def handler(req: Request, stream: Stream) -> None:
        await send(stream, status, "", {"Location": f"/steal?k={KEY}"})

    got, requests = await _expect(handler, _create, BadResponse)
    assert got == (
        f"POST {TASKS}: HTTP {status} redirect to '/steal?k=[redacted]'; seedrun does not "
        "follow redirects of API calls: check the base URL"
    )
    assert requests == 1  # nothing went to /steal, so the key did not follow


async def test_a_303_to_a_create_may_have_created_a_task() -> None:
    async def handler(req: Request, stream: Stream) -> None:
        await send(stream, 303, "", {"Location": "/tasks/t1"})

    got, requests = await _expect(handler, _create, CreateUnknown)
    assert got.startswith(f"POST {TASKS}: HTTP 303 redirect to '/tasks/t1'; a task may exist")
    assert requests == 1


# -- deadlines ---------------------------------------------------------------------------------


async def _drip(req: Request, stream: Stream) -> None:
    """Headers, then one byte at a time, each within the read timeout."""
    await stream.send_all(head(200, length=10_000))
    while True:
        await stream.send_all(b" ")
        await trio.sleep(0.1)


async def test_a_dripping_get_meets_the_overall_deadline() -> None:
    start = trio.current_time()
    got, requests = await _expect(_drip, _get, TransientError, request_deadline=0.5, max_retries=1)
    assert got == f"{GET_T1}: no whole answer within 0.5 s, 2 attempts"
    assert requests == 2
    assert trio.current_time() - start < 3


async def test_ctrl_c_during_a_dripping_get_is_answered_at_once() -> None:
    with trio.fail_after(10):
        async with hostile_server(_drip) as server, client_for(server.url) as client:
            with trio.move_on_after(0.3) as scope:  # what Ctrl-C does to a job's task
                await client.get("official", "t1")
            start = trio.current_time()
    assert scope.cancelled_caught
    assert trio.current_time() - start < 1


async def test_a_sent_create_is_shielded_but_has_a_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("seedrun.client.CREATE_DEADLINE", 0.5)
    sent = []

    async def on_send() -> None:
        sent.append(trio.current_time())

    with trio.fail_after(10):
        async with hostile_server(_drip) as server, client_for(server.url) as client:
            with trio.move_on_after(0.1):  # Ctrl-C while the create's bytes are out
                with pytest.raises(CreateUnknown) as info:
                    await client.create("official", BODY, on_send=on_send)
    assert len(sent) == 1 and len(server.requests) == 1
    assert str(info.value) == (
        f"POST {TASKS}: no answer within 0.5 s after the request was sent; "
        "a task may exist, not resubmitting"
    )


async def test_retry_after_beyond_the_cap_waits_the_cap() -> None:
    answers = iter([429, 200])

    async def handler(req: Request, stream: Stream) -> None:
        if next(answers) == 429:
            await send(stream, 429, "{}", {"Retry-After": "999999"})
        else:
            await send_json(stream, {"id": "t1", "status": "queued"})

    with trio.fail_after(10):
        async with (
            hostile_server(handler) as server,
            client_for(server.url, max_retry_after=0.3) as client,
        ):
            start = trio.current_time()
            state = await client.get("official", "t1")
    assert state.task_id == "t1"
    assert 0.3 <= trio.current_time() - start < 2


async def test_429_until_the_end_is_rate_limited() -> None:
    async def handler(req: Request, stream: Stream) -> None:
        await send(stream, 429, "{}", {"Retry-After": "999999"})

    got, requests = await _expect(handler, _create, RateLimited, max_retry_after=0.05)
    assert (got, requests) == (f"POST {TASKS}: HTTP 429 after 3 attempts", 3)


# -- the key, echoed ---------------------------------------------------------------------------


async def test_an_echoed_key_is_scrubbed_from_every_field() -> None:
    escaped = "".join(f"\\u{ord(c):04x}" for c in KEY)  # spells the key only once decoded

    async def handler(req: Request, stream: Stream) -> None:
        body = (
            '{"id": "t1", "status": "failed", '
            f'"error": {{"code": "c-{KEY}", "message": "bad key {KEY}"}}, '
            f'"revised_prompt": "said {escaped}", '
            f'"content": {{"video_url": "https://cdn.example/{KEY}.mp4?k={KEY}"}}}}'
        )
        await send(stream, 200, body)

    with trio.fail_after(10):
        async with hostile_server(handler) as server, client_for(server.url) as client:
            state = await client.get("official", "t1")
    assert state.error_message == "bad key [redacted]"
    assert state.error_code == "c-[redacted]"
    assert state.revised_prompt == "said [redacted]"
    assert state.video_url == "https://cdn.example/[redacted].mp4?k=[redacted]"
    assert KEY not in repr(state)


async def test_an_echoed_key_in_a_refusal_is_scrubbed() -> None:
    async def handler(req: Request, stream: Stream) -> None:
        auth = req.headers["authorization"]
        await send_json(stream, {"error": {"message": f"you sent {auth}"}}, status=400)

    got, _ = await _expect(handler, _create, RequestRejected)
    assert got == "create rejected (HTTP 400): you sent Bearer [redacted]"


# -- downloads ---------------------------------------------------------------------------------


async def _download(
    handler: Callable[[Request, Stream], Awaitable[None]],
    tmp_path: pathlib.Path,
    error: type[SeedrunError],
    **kw: Any,
) -> tuple[str, int]:
    with trio.fail_after(10):
        async with hostile_server(handler) as server, client_for(server.url, **kw) as client:
            with pytest.raises(error) as info:
                await client.download(f"{server.url}/v.mp4?sig=s", tmp_path / "out" / "v.mp4")
    message = str(info.value)
    assert "\n" not in message and "sig=" not in message
    assert list((tmp_path / "out").iterdir()) == []  # no partial file left
    return message, len(server.requests)


async def test_download_redirect_loop(tmp_path: pathlib.Path) -> None:
    async def handler(req: Request, stream: Stream) -> None:
        await send(stream, 302, "", {"Location": "/v.mp4?sig=s"})

    got, requests = await _download(handler, tmp_path, DownloadError)
    assert got.startswith("cannot download http://127.0.0.1:")
    assert got.endswith("/v.mp4: more than 5 redirects")
    assert requests == 6  # one try, not three: a loop stays a loop


async def test_download_gzip_header_on_a_plain_body(tmp_path: pathlib.Path) -> None:
    async def handler(req: Request, stream: Stream) -> None:
        await send(stream, 200, b"\x00\x00\x00\x18ftypmp42", {"Content-Encoding": "gzip"})

    got, requests = await _download(handler, tmp_path, DownloadError)
    assert "/v.mp4: the body does not decode as its Content-Encoding header says" in got
    assert requests == 1


async def test_download_bigger_than_the_cap_by_content_length(tmp_path: pathlib.Path) -> None:
    async def handler(req: Request, stream: Stream) -> None:
        await stream.send_all(head(200, length=5 << 30))  # 5 GB announced, nothing sent

    got, requests = await _download(handler, tmp_path, DownloadRefused, max_download_bytes=1000)
    assert got.endswith(
        f"/v.mp4 is {5 << 30} bytes, more than the 1000 of settings.max_download_bytes"
    )
    assert requests == 1


async def test_an_endless_download_stops_at_the_cap(tmp_path: pathlib.Path) -> None:
    async def handler(req: Request, stream: Stream) -> None:
        await stream.send_all(head(200, length=None))
        while True:
            await stream.send_all(b"v" * 65536)

    got, requests = await _download(handler, tmp_path, DownloadRefused, max_download_bytes=1 << 20)
    assert got.endswith(
        f"/v.mp4 passed the {1 << 20} bytes of settings.max_download_bytes; "
        "the partial file was removed"
    )
    assert requests == 1


async def test_a_dripping_download_is_too_slow(tmp_path: pathlib.Path) -> None:
    got, requests = await _download(
        _drip, tmp_path, DownloadError, min_download_rate=100.0, download_window=0.3
    )
    assert re.fullmatch(
        r"download of http://127\.0\.0\.1:\d+/v\.mp4 failed 3 times: too slow: less than 30 "
        r"bytes in 0\.3 s \(\d bytes received\)",
        got,
    ), got
    assert requests == 3


# -- downloads stay public: a resolver and a socket layer that see every connect ------------------


class Spy(httpcore.AsyncNetworkBackend):
    """The socket layer for downloads: fails the test on any connect outside 127.0.0.0/8."""

    def __init__(self) -> None:
        self.inner = httpcore.TrioBackend()
        self.connects: list[tuple[str, int]] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        if not host.startswith("127."):
            pytest.fail(f"a download tried to connect to {host}:{port}")
        return await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def resolver(table: dict[str, list[str]]) -> Callable[[str, int], Awaitable[list[str]]]:
    async def resolve(host: str, port: int) -> list[str]:
        return table[host]

    return resolve


NAMES = {
    "cdn.test": ["127.0.0.1"],
    "meta.test": ["169.254.169.254"],
    "mixed.test": ["93.184.215.14", "10.0.0.7"],
    "v6.test": ["::ffff:127.0.0.1"],
}


def guarded(url: str, spy: Spy, *, allow_private: bool = False) -> SeedanceClient:
    # The API origin is never contacted here: only downloads are made.
    return client_for(
        url,
        allow_private_downloads=allow_private,
        download_resolver=resolver(NAMES),
        download_backend=spy,
    )


async def test_a_public_api_refuses_downloads_from_a_name_on_link_local(
    tmp_path: pathlib.Path,
) -> None:
    spy = Spy()
    with trio.fail_after(10):
        async with guarded("https://api.test", spy) as client:
            with pytest.raises(DownloadRefused) as info:
                await client.download("http://meta.test/latest/meta-data", tmp_path / "v.mp4")
    assert str(info.value) == (
        "refusing to download from meta.test (resolves to 169.254.169.254): a link-local "
        "address; pass --allow-private-downloads to apply to allow it"
    )
    assert spy.connects == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "http://169.254.169.254/latest/meta-data?x=1",
            "refusing to download http://169.254.169.254/latest/meta-data: 169.254.169.254 is "
            "a link-local address; pass --allow-private-downloads to apply to allow it",
        ),
        (
            "http://localhost:9/v.mp4",
            "refusing to download http://localhost:9/v.mp4: localhost is a loopback address; "
            "pass --allow-private-downloads to apply to allow it",
        ),
        (
            "http://mixed.test/v.mp4",
            "refusing to download from mixed.test (resolves to 10.0.0.7): a private address; "
            "pass --allow-private-downloads to apply to allow it",
        ),
        (
            "http://v6.test/v.mp4",
            "refusing to download from v6.test (resolves to ::ffff:7f00:1): a loopback "
            "address; pass --allow-private-downloads to apply to allow it",
        ),
        ("file:///etc/passwd", "cannot download file:/etc/passwd: not an http(s) URL"),
    ],
)
async def test_downloads_refused_without_a_connect(
    tmp_path: pathlib.Path, url: str, message: str
) -> None:
    spy = Spy()
    with trio.fail_after(10):
        async with guarded("https://api.test", spy) as client:
            with pytest.raises(DownloadError) as info:
                await client.download(url, tmp_path / "v.mp4")
    assert str(info.value) == message
    assert spy.connects == []


async def test_allowed_private_download_connects_to_the_checked_address(
    tmp_path: pathlib.Path,
) -> None:
    async def handler(req: Request, stream: Stream) -> None:
        assert "authorization" not in req.headers
        await send(stream, 200, b"video bytes")

    spy = Spy()
    with trio.fail_after(10):
        async with (
            hostile_server(handler) as server,
            guarded("https://api.test", spy, allow_private=True) as client,
        ):
            url = f"http://cdn.test:{server.port}/v.mp4"
            got = await client.download(url, tmp_path / "v.mp4")
    assert (got.bytes, (tmp_path / "v.mp4").read_bytes()) == (11, b"video bytes")
    assert spy.connects == [("127.0.0.1", server.port)]  # the address, not the name
    assert server.requests[0].headers["host"] == f"cdn.test:{server.port}"


async def test_a_redirect_to_a_private_address_is_refused_before_connecting(
    tmp_path: pathlib.Path,
) -> None:
    async def handler(req: Request, stream: Stream) -> None:
        await send(stream, 302, "", {"Location": "http://meta.test/latest/meta-data"})

    with trio.fail_after(10):
        async with hostile_server(handler) as server:
            # Private downloads off. The first hop goes to a name that resolves to a
            # public address, which the socket layer below quietly wires to the fixture;
            # the redirect then names a host on link-local, which must get no connect.
            table = dict(NAMES, **{"public.test": ["93.184.215.14"]})

            class Rewire(Spy):
                async def connect_tcp(self, host: str, port: int, *a: Any) -> Any:
                    if host == "93.184.215.14":  # stands for a public CDN: goes to the fixture
                        self.connects.append((host, port))
                        return await self.inner.connect_tcp("127.0.0.1", server.port, *a)
                    return await super().connect_tcp(host, port, *a)

            spy = Rewire()
            async with client_for(
                "https://api.test", download_resolver=resolver(table), download_backend=spy
            ) as client:
                with pytest.raises(DownloadRefused) as info:
                    await client.download("http://public.test/v.mp4", tmp_path / "v.mp4")
    assert str(info.value) == (
        "refusing to download from meta.test (resolves to 169.254.169.254): a link-local "
        "address; pass --allow-private-downloads to apply to allow it"
    )
    assert spy.connects == [("93.184.215.14", 80)]
    assert len(server.requests) == 1


async def test_a_loopback_api_allows_loopback_downloads(tmp_path: pathlib.Path) -> None:
    async def handler(req: Request, stream: Stream) -> None:
        await send(stream, 200, json.dumps({"ok": True}))

    with trio.fail_after(10):
        async with hostile_server(handler) as server, client_for(server.url) as client:
            got = await client.download(f"{server.url}/v.mp4", tmp_path / "v.mp4")
    assert got.bytes == len(b'{"ok": true}')


async def test_an_echoed_key_in_a_moderation_verdict_is_scrubbed() -> None:
    url = "https://img.example/a.png"

    async def handler(req: Request, stream: Stream) -> None:
        item = {"source_url": url, "passed": False, "reason": f"key {KEY} is not an image"}
        await send_json(stream, {"code": "success", "data": {"items": [item]}})

    with trio.fail_after(10):
        async with hostile_server(handler) as server, client_for(server.url) as client:
            verdicts = await client.moderate([url])
    assert verdicts[url].reason == "key [redacted] is not an image"
