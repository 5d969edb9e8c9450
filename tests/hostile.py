"""A hostile gateway for the tests: a raw HTTP/1.1 server on 127.0.0.1.

Each test gives it one handler, which reads the parsed request and writes
whatever bytes it likes to the socket: a slow drip, a body cut mid-way, a
gzip header on plain text, a redirect loop. Raw trio sockets, not an ASGI
server, because most of these behaviours are below what a framework lets an
application do. One request per connection (``Connection: close``).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import trio


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # with the query
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Handler = Callable[[Request, trio.SocketStream], Awaitable[None]]


@dataclass
class Hostile:
    url: str  # http://127.0.0.1:<port>
    port: int
    requests: list[Request] = field(default_factory=list)


async def _read_request(stream: trio.SocketStream) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = await stream.receive_some(65536)
        if not chunk:
            break
        rest += chunk
    return Request(method, path, headers, rest[:length])


def head(status: int, headers: dict[str, str] | None = None, *, length: int | None) -> bytes:
    lines = [f"HTTP/1.1 {status} X"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def send(
    stream: trio.SocketStream,
    status: int,
    body: bytes | str = b"",
    headers: dict[str, str] | None = None,
) -> None:
    raw = body.encode() if isinstance(body, str) else body
    await stream.send_all(head(status, headers, length=len(raw)) + raw)


async def send_json(stream: trio.SocketStream, obj: Any, status: int = 200) -> None:
    await send(stream, status, json.dumps(obj), {"Content-Type": "application/json"})


def gzipped(text: str) -> bytes:
    return gzip.compress(text.encode())


async def _serve(handler: Handler, state: Hostile, stream: trio.SocketStream) -> None:
    async with stream:
        try:
            request = await _read_request(stream)
            if request is None:
                return
            state.requests.append(request)
            await handler(request, stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client gave up: expected in most of these cases


@asynccontextmanager
async def hostile_server(handler: Handler) -> AsyncIterator[Hostile]:
    """Serve ``handler`` on a fresh loopback port for the duration of the block."""
    state = Hostile(url="", port=0)
    failure: Exception | None = None
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            partial(trio.serve_tcp, lambda s: _serve(handler, state, s), 0, host="127.0.0.1")
        )
        state.port = listeners[0].socket.getsockname()[1]
        state.url = f"http://127.0.0.1:{state.port}"
        try:
            yield state
        except Exception as exc:  # re-raised below, not wrapped in the nursery's group
            failure = exc
        finally:
            nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure
