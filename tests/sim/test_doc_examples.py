"""Every request example in seedance-api.md is accepted as written.

The examples use placeholder asset ids; a real account gets its own from
moderation, so the test moderates first and swaps the issued ids in.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import trio

from seedrun.sim import SimHandle

from .helpers import TASKS, UNIFIED

Pair = tuple[SimHandle, httpx.AsyncClient]

UNIFIED_EXAMPLES: list[dict[str, Any]] = [
    {
        "model": "doubao-seedance-2.0",
        "prompt": "A cinematic aerial shot of a futuristic cubic city at sunrise",
        "seconds": "5",
        "metadata": {"resolution": "1080p", "ratio": "16:9", "watermark": False,
                     "generate_audio": True},
    },
    {
        "model": "doubao-seedance-2.0",
        "prompt": "Use image 1 as the subject reference. Make the product rotate slowly on a "
                  "clean studio background while preserving its appearance.",
        "seconds": "5",
        "metadata": {
            "resolution": "720p", "ratio": "1:1", "camera_fixed": True, "watermark": False,
            "content": [{"type": "image_url",
                         "image_url": {"url": "asset://reviewed-image-asset-id"},
                         "role": "reference_image"}],
        },
    },
]

OFFICIAL_EXAMPLES: list[dict[str, Any]] = [
    {
        "model": "doubao-seedance-2.0",
        "content": [
            {"type": "text", "text": "Use image 1 to generate a 5-second product showcase video."},
            {"type": "image_url", "image_url": {"url": "asset://reviewed-image-asset-id"},
             "role": "reference_image", "duration": 5},
        ],
        "ratio": "16:9", "duration": 5, "generate_audio": True,
    },
    {
        "model": "doubao-seedance-2.0",
        "content": [{"type": "text",
                     "text": "A cinematic aerial shot of a futuristic cubic city at sunrise"}],
        "duration": 5, "ratio": "16:9", "watermark": False,
    },
    {
        "model": "doubao-seedance-2.0",
        "content": [
            {"type": "text", "text": "Generate a smooth transition video from image 1 to image 2."},
            {"type": "image_url", "image_url": {"url": "asset://first-frame-asset-id"},
             "role": "first_frame"},
            {"type": "image_url", "image_url": {"url": "asset://last-frame-asset-id"},
             "role": "last_frame"},
        ],
        "duration": 8, "ratio": "16:9", "generate_audio": True,
    },
    {
        "model": "doubao-seedance-2.0",
        "content": [
            {"type": "text", "text": "Keep the character style and generate a new action sequence"},
            {"type": "video_url", "video_url": {"url": "https://example.com/reference.mp4"}},
        ],
        "duration": 5, "ratio": "16:9",
    },
]

PLACEHOLDERS = {
    "asset://reviewed-image-asset-id": "https://example.com/product.png",
    "asset://first-frame-asset-id": "https://example.com/first.png",
    "asset://last-frame-asset-id": "https://example.com/last.png",
}


async def test_doc_examples_are_accepted(sim_client: Pair) -> None:
    sim, client = sim_client
    with trio.fail_after(5):
        moderation = await client.post("/v1/images/moderations", json={
            "model": "doubao-seedance-2.0", "images": list(PLACEHOLDERS.values())})
        issued = {item["source_url"]: item["asset_url"]
                  for item in moderation.json()["data"]["items"]}
        text = json.dumps([UNIFIED_EXAMPLES, OFFICIAL_EXAMPLES])
        for placeholder, source in PLACEHOLDERS.items():
            text = text.replace(placeholder, issued[source])
        unified, official = json.loads(text)
        answers = [await client.post(UNIFIED, json=body) for body in unified]
        answers += [await client.post(TASKS, json=body) for body in official]
    assert moderation.json()["data"]["status"] == "approved"
    assert [a.status_code for a in answers] == [200] * 6
    assert [sorted(a.json()) for a in answers[:2]] == [
        ["created_at", "id", "model", "object", "progress", "status", "task_id"]] * 2
    assert [sorted(a.json()) for a in answers[2:]] == [
        ["created_at", "execution_expires_after", "id", "model", "service_tier", "status",
         "updated_at"]] * 4
    assert len(sim.state.tasks) == 6
