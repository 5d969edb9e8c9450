"""Image moderation: the doc's response shape, rejections, timeouts, issued asset ids."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import trio

from seedrun.sim import SimHandle
from seedrun.sim.engine import digest
from seedrun.sim.moderation import REJECT_REASON as REASON
from seedrun.sim.moderation import asset_url as asset_for

from .helpers import MODEL, TASKS, UNIFIED, invalid

Pair = tuple[SimHandle, httpx.AsyncClient]
def batch_ids(urls: list[str], n: int = 1, seed: int = 0) -> tuple[str, str]:
    key = hashlib.sha256(json.dumps(urls, sort_keys=True).encode()).hexdigest()
    batch = f"moderation:{key}#{n}"
    return ("review-batch-" + digest(seed, batch, "review-batch")[:16],
            "moderation-task-" + digest(seed, batch, "moderation-task")[:16])


def approved(url: str) -> dict[str, Any]:
    return {"source_url": url, "asset_url": asset_for(url), "submit_review_status": 1,
            "passed": True}


def rejected(url: str) -> dict[str, Any]:
    return {"source_url": url, "submit_review_status": 2, "passed": False, "reason": REASON}


def result(status: str, urls: list[str], items: list[dict[str, Any]]) -> dict[str, Any]:
    review_batch_id, task_id = batch_ids(urls)
    return {"code": "success", "message": "", "data": {
        "object": "asset_moderation", "status": status, "review_batch_id": review_batch_id,
        "task_id": task_id, "items": items}}


async def test_approved_rejected_and_partial(sim_client: Pair) -> None:
    sim, client = sim_client
    good, bad = "https://example.com/product.png", "https://example.com/reject-me.jpg"
    with trio.fail_after(5):
        one = await client.post("/v1/images/moderations", json={"model": MODEL, "images": [good]})
        no = await client.post("/v1/assets/moderations", json={"model": MODEL,
                                                               "image_url": bad})
        mixed = await client.post("/v1/images/moderations", json={
            "model": MODEL, "image_urls": [bad, "https://example.com/b.webp"]})
    assert one.json() == result("approved", [good], [approved(good)])
    assert no.json() == result("rejected", [bad], [rejected(bad)])
    other = "https://example.com/b.webp"
    assert mixed.json() == result("partial", [bad, other], [rejected(bad), approved(other)])
    assert sim.state.assets == {asset_for(good), asset_for(other)}
    assert sim.state.moderations == 3


async def test_moderation_errors(sim_client: Pair) -> None:
    _, client = sim_client
    with trio.fail_after(5):
        slow = await client.post("/v1/images/moderations", json={
            "model": MODEL, "images": ["https://example.com/slow-moderation.png"]})
        bad = await client.post("/v1/images/moderations", json={
            "model": MODEL, "images": ["https://example.com/a.txt"]})
    assert (slow.status_code, slow.json()) == (504, {
        "code": "moderation_timeout",
        "message": "moderation did not finish in time; retry the request later",
        "data": None})
    assert (bad.status_code, bad.json()) == (400, {
        "code": "invalid_request",
        "message": "images[0] must end in a supported image extension (.jpeg, .jpg, .png, "
                   '.webp, .bmp, .tiff, .tif, .gif, .heic, .heif) (got "https://example.com/a.txt")',
        "data": None})


async def test_only_issued_asset_ids_are_accepted_in_content(sim_client: Pair) -> None:
    _, client = sim_client
    source = "https://example.com/first.png"

    def with_asset(url: str) -> dict[str, Any]:
        return {"model": MODEL, "content": [
            {"type": "text", "text": "Animate image 1."},
            {"type": "image_url", "image_url": {"url": url}, "role": "first_frame"}]}

    with trio.fail_after(5):
        before = await client.post(TASKS, json=with_asset(asset_for(source)))
        moderated = await client.post("/v1/images/moderations", json={"model": MODEL,
                                                                      "images": [source]})
        asset = moderated.json()["data"]["items"][0]["asset_url"]
        after = await client.post(TASKS, json=with_asset(asset))
        made_up = await client.post(TASKS, json=with_asset("asset://reviewed-image-asset-id"))
        unified = await client.post(UNIFIED, json={"model": MODEL, "prompt": "p",
                                                   "images": [asset]})
    assert (before.status_code, before.json()) == (400, invalid(
        f"content[1].image_url.url: {asset} is not an approved asset; use an asset_url "
        "returned by /v1/images/moderations"))
    assert after.status_code == 200
    assert made_up.json() == invalid(
        "content[1].image_url.url: asset://reviewed-image-asset-id is not an approved asset; "
        "use an asset_url returned by /v1/images/moderations")
    assert unified.status_code == 200
