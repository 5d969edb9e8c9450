"""The files origin: finished videos and last frames, no auth, maybe signed URLs.

A truncated download declares the full Content-Length, sends half the bytes and
ends the ASGI call without the final body message; hypercorn then closes the
connection, so the client sees an incomplete body, as with a dropped CDN link.
"""

from __future__ import annotations

import re

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from seedrun.sim import media
from seedrun.sim.middleware import RequestLog
from seedrun.sim.state import FILE_PATHS, SimState

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_TYPES = {"video": "video/mp4", "frame": "image/png"}


class FileBody(Response):
    """Bytes with an honest Content-Length, optionally cut short after ``cut`` bytes."""

    def __init__(self, content: bytes, *, media_type: str, status_code: int = 200,
                 headers: dict[str, str] | None = None, cut: int | None = None,
                 head: bool = False) -> None:
        super().__init__(content, status_code=status_code, media_type=media_type,
                         headers=headers)
        self.cut = cut
        self.head = head

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        if self.head:
            await send({"type": "http.response.body", "body": b""})
        elif self.cut is None:
            await send({"type": "http.response.body", "body": bytes(self.body)})
        else:
            await send({"type": "http.response.body", "body": bytes(self.body[: self.cut]),
                        "more_body": True})


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One ``bytes=`` range as (first, last) inclusive; None to send the whole file.

    A range that starts past the end comes back with first > last (answer 416).
    """
    match = _RANGE.match(header.strip()) if header else None
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        return max(0, size - int(last)), size - 1
    end = min(size - 1, int(last)) if last else size - 1
    return int(first), end


class _Files:
    def __init__(self, state: SimState) -> None:
        self.state = state

    async def video(self, request: Request) -> Response:
        return self._serve(request, "video")

    async def frame(self, request: Request) -> Response:
        return self._serve(request, "frame")

    def _serve(self, request: Request, kind: str) -> Response:
        state = self.state
        suffix = FILE_PATHS[kind][1]
        name: str = request.path_params["name"]
        task_id = name.removesuffix(suffix)
        now = state.now()
        task = state.engine.find(task_id, now) if name.endswith(suffix) else None
        if (task is None or task.status_at(now) != "succeeded"
                or (kind == "frame" and not task.request.return_last_frame)):
            return PlainTextResponse("Not Found", status_code=404)
        path = request.scope["path"]
        refusal = state.url_refusal(path, request.scope["query_string"].decode("latin-1"))
        if refusal is not None:
            return PlainTextResponse(refusal, status_code=403)
        data = media.video_bytes(task_id) if kind == "video" else media.frame_png(task_id)
        head = request.method == "HEAD"
        headers = {"Accept-Ranges": "bytes"}
        wanted = byte_range(request.headers.get("range"), len(data))
        if wanted is not None:
            first, last = wanted
            if first > last:
                return PlainTextResponse("Range Not Satisfiable", status_code=416,
                                         headers={"Content-Range": f"bytes */{len(data)}"})
            headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
            state.downloads += not head
            return FileBody(data[first : last + 1], media_type=_TYPES[kind], status_code=206,
                            headers=headers, head=head)
        cut = None
        if not head:
            state.downloads += 1
            if state.truncates(path):
                state.truncated += 1
                cut = len(data) // 2
        return FileBody(data, media_type=_TYPES[kind], headers=headers, cut=cut, head=head)


def create_files_app(state: SimState) -> ASGIApp:
    """The files origin's ASGI app (logged, never authenticated)."""
    files = _Files(state)
    app = Starlette(routes=[
        Route("/files/videos/{name}", files.video, methods=["GET"]),
        Route("/files/frames/{name}", files.frame, methods=["GET"]),
    ])
    return RequestLog(app, state, "files")
