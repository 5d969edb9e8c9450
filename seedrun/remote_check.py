"""``validate --online``: the spec's remote image URLs answer, and are within limits.

For each distinct http(s) image URL the jobs send (or moderate): a HEAD for the
status and size, then a ranged GET of the first bytes, which Pillow reads the
image's format and size from. A whole file is never downloaded: at most
``HEADER_BYTES`` are read, even from a server that ignores ``Range``. A HEAD that
is refused (a presigned GET URL signs only GET) falls back to the ranged GET.
The limits are the doc's moderation limits (``api_facts``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio
from PIL import ImageFile

from seedrun import api_facts, netguard
from seedrun.campaign import Spec
from seedrun.errors import DownloadRefused
from seedrun.localfiles import FORMAT_EXTENSIONS

HEADER_BYTES = 256 * 1024
TIMEOUT = 15.0
PARALLEL = 8


@dataclass(frozen=True)
class RemoteProblem:
    url: str
    used_by: str  # "asset bottle" or "job spin[...]"
    message: str

    def __str__(self) -> str:
        return f"{self.used_by}: image {_where(self.url)}: {self.message}"


def _where(url: str) -> str:
    parts = urlsplit(url)  # never echo a query string: it may carry a signature
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?..." if parts.query else "")


def _image_urls(value: Any) -> Iterator[str]:
    """Image URLs in a request body, either flavour."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "image_url" and isinstance(inner, dict) and isinstance(inner.get("url"), str):
                yield inner["url"]
            elif key in ("images",) and isinstance(inner, list):
                yield from (u for u in inner if isinstance(u, str))
            elif key in ("image", "input_reference") and isinstance(inner, str):
                yield inner
            else:
                yield from _image_urls(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _image_urls(inner)


def remote_images(spec: Spec) -> dict[str, str]:
    """Each remote image URL -> who uses it first (an asset, else a job)."""
    by_url = {a.url: f"asset {a.name}" for a in spec.assets.values() if a.type == "image"}
    out: dict[str, str] = {}
    for job in spec.jobs:
        for url in _image_urls(job.body):
            if urlsplit(url).scheme in ("http", "https") and url not in out:
                out[url] = by_url.get(url, f"job {job.id}")
    return out


async def check_remote(
    urls: dict[str, str],
    *,
    allow_private: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[RemoteProblem]:
    """Problems of the remote images ``urls`` (URL -> who uses it), in the spec's order.

    A spec may come from a pull request: as downloads do, connections go only to
    public addresses (checked after resolving, redirects too) unless ``allow_private``.
    """
    problems: list[RemoteProblem] = []
    limiter = trio.CapacityLimiter(PARALLEL)
    if transport is None:
        transport = netguard.guarded_transport(
            allow_private=allow_private, limits=httpx.Limits(max_connections=PARALLEL)
        )
    async with httpx.AsyncClient(
        timeout=TIMEOUT, follow_redirects=True, transport=transport
    ) as client:

        async def one(url: str, who: str) -> None:
            async with limiter:
                message = await _check(client, url)
            if message:
                problems.append(RemoteProblem(url, who, message))

        async with trio.open_nursery() as nursery:
            for url, who in urls.items():
                nursery.start_soon(one, url, who)
    order = {url: i for i, url in enumerate(urls)}  # the spec's order
    return sorted(problems, key=lambda p: order[p.url])


async def _check(client: httpx.AsyncClient, url: str) -> str | None:
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    try:
        head = await client.head(url)
        size = _length(head.headers) if head.status_code == 200 else None
        if head.status_code not in (200, 403, 405, 501):
            return f"HEAD answered HTTP {head.status_code}"
        if size is not None and size >= api_facts.IMAGE_MAX_BYTES:
            return f"the file is {size / 2**20:.1f} MB; it must be below 30 MB"
        headers = {"Range": f"bytes=0-{HEADER_BYTES - 1}"}
        async with client.stream("GET", url, headers=headers) as resp:
            if resp.status_code not in (200, 206):
                hint = (
                    " (not public, or an expired link?)" if resp.status_code in (401, 403) else ""
                )
                return f"GET answered HTTP {resp.status_code}{hint}"
            if size is None:
                size = _total(resp)
            return await _read_header(resp, suffix, size)
    except httpx.HTTPError as exc:
        return f"no answer: {type(exc).__name__}"
    except DownloadRefused as exc:
        return str(exc)


async def _read_header(resp: httpx.Response, suffix: str, size: int | None) -> str | None:
    parser = ImageFile.Parser()
    read = 0
    async for chunk in resp.aiter_bytes():
        read += len(chunk)
        try:
            parser.feed(chunk)
        except Exception:  # Pillow raises assorted errors on bytes that are no image
            return "not an image Pillow can read"
        if parser.image is not None or read >= HEADER_BYTES:
            break
    if parser.image is None:
        return f"not an image Pillow can read from its first {HEADER_BYTES // 1024} KB"
    fmt = parser.image.format or ""
    if suffix in api_facts.IMAGE_EXTENSIONS and suffix not in FORMAT_EXTENSIONS.get(fmt, ()):
        claimed = suffix.lstrip(".").upper()
        return f"the file is a {fmt or 'unknown'} image, not the {claimed} its extension claims"
    width, height = parser.image.size
    return api_facts.image_limit_problem(width, height, size)


def _length(headers: httpx.Headers) -> int | None:
    value = headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def _total(resp: httpx.Response) -> int | None:
    if resp.status_code == 200:
        return _length(resp.headers)
    total = resp.headers.get("Content-Range", "").rpartition("/")[2]
    return int(total) if total.isdigit() else None


def describe(problems: Iterable[RemoteProblem]) -> list[str]:
    return [str(p) for p in problems]
