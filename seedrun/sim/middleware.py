"""Plain ASGI wrappers shared by the two origins: the request log and the API gate."""

from __future__ import annotations

import hmac

import trio
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seedrun.sim.answers import error
from seedrun.sim.state import SimState


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value)
    return None


class RequestLog:
    """Record every HTTP request once it is answered: never a header's value."""

    def __init__(self, app: ASGIApp, state: SimState, origin: str) -> None:
        self.app = app
        self.state = state
        self.origin = origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        recorded = False

        def record(status: int) -> None:
            nonlocal recorded
            recorded = True
            self.state.record(
                self.origin,
                scope["method"],
                scope["path"],
                scope.get("query_string", b"").decode("latin-1"),
                status,
                has_auth=_header(scope, b"authorization") is not None,
            )

        async def send_recorded(message: Message) -> None:
            # Record before the client can see the answer, so tests never race the log.
            if message["type"] == "http.response.start":
                record(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, send_recorded)
        finally:
            if not recorded:
                record(0)


class ApiGate:
    """Before any API route: the configured latency, then auth, then the rate limit."""

    def __init__(self, app: ASGIApp, state: SimState) -> None:
        self.app = app
        self.state = state
        self.expected = f"Bearer {state.config.api_key}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        config = self.state.config
        if config.latency > 0:
            await trio.sleep(config.latency)
        given = _header(scope, b"authorization") or b""
        if not hmac.compare_digest(given, self.expected):
            message = ("missing Authorization header; send Authorization: Bearer <API key>"
                       if not given else "invalid API key")
            answer = JSONResponse(error("unauthorized", message), status_code=401,
                                  headers={"WWW-Authenticate": "Bearer"})
            await answer(scope, receive, send)
            return
        wait = self.state.retry_after(self.state.now())
        if wait is not None:
            answer = JSONResponse(
                error("rate_limited", f"too many requests; retry after {wait} s"),
                status_code=429,
                headers={"Retry-After": str(wait)},
            )
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)
