"""The files origin, the shipped media, and the request log."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import httpx
import pytest
import trio

from seedrun.sim import media

from .conftest import SimOpener
from .helpers import TASKS, text_body, until_done

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    """Top-level ISO-BMFF boxes as (type, payload)."""
    found, offset = [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        assert size >= 8, "boxes with 64-bit or to-end sizes are not expected here"
        found.append((kind, data[offset + 8 : offset + size]))
        offset += size
    return found


@pytest.mark.parametrize("name", media.VIDEO_VARIANTS)
def test_shipped_videos_are_small_faststart_h264_mp4(name: str) -> None:
    data = media._variant(name)
    assert len(data) < 50_000
    top = boxes(data)
    kinds = [kind for kind, _ in top]
    assert kinds[0] == b"ftyp"
    assert kinds.index(b"moov") < kinds.index(b"mdat")  # +faststart
    moov = dict(top)[b"moov"]
    assert b"stsd" in moov and b"avc1" in moov and b"avcC" in moov


def test_last_frames_are_real_pngs_coloured_by_task() -> None:
    data = media.frame_png("task_a")
    assert data.startswith(PNG_SIGNATURE)
    length, kind = struct.unpack(">I4s", data[8:16])
    width, height, depth, colour_type = struct.unpack(">IIBB", data[16:26])
    assert (kind, length, width, height, depth, colour_type) == (b"IHDR", 13, 320, 180, 8, 2)
    idat_at = data.index(b"IDAT")
    (idat_length,) = struct.unpack(">I", data[idat_at - 4 : idat_at])
    pixels = zlib.decompress(data[idat_at + 4 : idat_at + 4 + idat_length])
    assert len(pixels) == (1 + 320 * 3) * 180
    assert data.endswith(b"IEND\xaeB`\x82")
    assert media.frame_png("task_a") != media.frame_png("task_b")


async def test_files_are_served_without_auth(open_sim: SimOpener) -> None:
    with trio.fail_after(5):
        async with open_sim(task_seconds=(0.3, 0.3)) as (sim, client), httpx.AsyncClient() as files:
            body = text_body(return_last_frame=True)
            task_id = (await client.post(TASKS, json=body)).json()["id"]
            early = await files.get(f"{sim.files_url}/files/videos/{task_id}.mp4")
            plain_id = (await client.post(TASKS, json=text_body("no frame"))).json()["id"]
            await until_done(sim, task_id, plain_id)
            content = (await client.get(f"{TASKS}/{task_id}")).json()["content"]
            video = await files.get(content["video_url"])
            frame = await files.get(content["last_frame_url"])
            head = await files.head(content["video_url"])
            part = await files.get(content["video_url"], headers={"Range": "bytes=0-99"})
            beyond = await files.get(content["video_url"],
                                     headers={"Range": "bytes=999999-"})
            no_frame = await files.get(f"{sim.files_url}/files/frames/{plain_id}.png")
            on_api = await files.get(f"{sim.base_url}/files/videos/{task_id}.mp4")
    assert sim.files_url != sim.base_url
    assert early.status_code == 404
    assert (video.status_code, video.headers["content-type"]) == (200, "video/mp4")
    assert video.content == media.video_bytes(task_id)
    assert (frame.headers["content-type"], frame.content) == ("image/png",
                                                               media.frame_png(task_id))
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(len(video.content))
    assert (part.status_code, part.content) == (206, video.content[:100])
    assert part.headers["content-range"] == f"bytes 0-99/{len(video.content)}"
    assert beyond.status_code == 416
    assert no_frame.status_code == 404
    assert on_api.status_code == 401  # the API origin does not serve files
    assert sim.state.downloads == 3


async def test_request_log_records_requests_but_never_the_key(
    open_sim: SimOpener, tmp_path: Path
) -> None:
    log = tmp_path / "requests.jsonl"
    key = "sk-very-secret-test-key"
    with trio.fail_after(5):
        async with open_sim(api_key=key, request_log=str(log), task_seconds=(0.1, 0.1)) as (
            sim,
            client,
        ):
            task_id = (await client.post(TASKS, json=text_body())).json()["id"]
            await until_done(sim, task_id)
            url = (await client.get(f"{TASKS}/{task_id}")).json()["content"]["video_url"]
            async with httpx.AsyncClient() as files:
                await files.get(url)
            await client.get(TASKS, params={"filter.task_ids": task_id})
            async with httpx.AsyncClient(base_url=sim.base_url) as anonymous:
                await anonymous.get(f"{TASKS}/{task_id}")
    text = log.read_text()
    assert key not in text
    records = [json.loads(line) for line in text.splitlines()]
    assert records == sim.state.requests
    assert [{k: v for k, v in r.items() if k != "time"} for r in records] == [
        {"origin": "api", "method": "POST", "path": TASKS, "query": "", "status": 200,
         "has_auth": True},
        {"origin": "api", "method": "GET", "path": f"{TASKS}/{task_id}", "query": "",
         "status": 200, "has_auth": True},
        {"origin": "files", "method": "GET", "path": f"/files/videos/{task_id}.mp4",
         "query": "", "status": 200, "has_auth": False},
        {"origin": "api", "method": "GET", "path": TASKS,
         "query": f"filter.task_ids={task_id}", "status": 200, "has_auth": True},
        {"origin": "api", "method": "GET", "path": f"{TASKS}/{task_id}", "query": "",
         "status": 401, "has_auth": False},
    ]
    times = [r["time"] for r in records]
    assert times == sorted(times)
