"""Moderation that fetches each image, as the real service does (``fetch_images``).

With the knob on, the simulated moderation GETs every image URL before
reviewing it and applies the doc's limits (size below 30 MB, sides 300-6000 px,
aspect 0.4-2.5, a real image of the claimed kind). An expired presigned URL or
a bucket that is not public answers 403, and the moderation request fails with
a message naming the URL's host and path (never its query: a presigned
signature stays out of every message).
"""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import httpx
from PIL import Image, UnidentifiedImageError

from seedrun import api_facts

FETCH_TIMEOUT = 10.0


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


async def fetch_problem(client: httpx.AsyncClient, url: str) -> str | None:
    """Why the service could not use the image at ``url``; None when it could."""
    where = _where(url)
    try:
        async with client.stream("GET", url, timeout=FETCH_TIMEOUT) as resp:
            if resp.status_code != 200:
                hint = (
                    " (an expired presigned URL, or a bucket that is not public)"
                    if resp.status_code in (401, 403)
                    else ""
                )
                return f"the image at {where} could not be fetched: HTTP {resp.status_code}{hint}"
            data = bytearray()
            async for chunk in resp.aiter_bytes():
                data += chunk
                if len(data) >= api_facts.IMAGE_MAX_BYTES:
                    return f"the image at {where} is over {api_facts.IMAGE_MAX_BYTES // 2**20} MB"
    except httpx.HTTPError as exc:
        return f"the image at {where} could not be fetched: {type(exc).__name__}"
    try:
        with Image.open(io.BytesIO(bytes(data))) as img:
            width, height = img.size
    except (UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError):
        return f"the file at {where} is not an image"
    problem = api_facts.image_limit_problem(width, height, len(data))
    return f"{where}: {problem}" if problem else None
