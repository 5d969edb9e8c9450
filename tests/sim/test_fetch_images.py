"""The simulator's fetching moderation (fetch_images / --fetch-images): each image URL
is fetched and held to the doc's limits, as the real service does. Images are served
by a real S3 API (moto), public or not."""

from __future__ import annotations

import argparse
import io

import trio
from PIL import Image
from s3server import S3

from seedrun.sim import SimConfig
from seedrun.sim.cli import add_arguments, config_from_args

from .conftest import SimOpener
from .helpers import MODEL


def png(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "teal").save(out, format="PNG")
    return out.getvalue()


def put(s3: S3, key: str, data: bytes, *, public: bool = True) -> str:
    extra = {"ACL": "public-read"} if public else {}
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=data, **extra)  # type: ignore[attr-defined]
    return f"{s3.endpoint}/{s3.bucket}/{key}"


def test_the_flag_reaches_the_config() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert config_from_args(parser.parse_args(["--fetch-images"])).fetch_images is True
    assert SimConfig().fetch_images is False


async def test_fetched_images_are_held_to_the_limits(open_sim: SimOpener, s3: S3) -> None:
    good = put(s3, "good.png", png((640, 480)))
    cases = {
        put(s3, "private.png", png((640, 480)), public=False): (
            "could not be fetched: HTTP 403 (an expired presigned URL, or a bucket that is "
            "not public)"
        ),
        put(s3, "tiny.png", png((100, 400))): (
            "the image is 100x400 px; width and height must be 300-6000 px"
        ),
        put(s3, "tall.png", png((300, 1000))): (
            "the image is 300x1000 px, aspect ratio 0.30; it must be 0.4-2.5"
        ),
        put(s3, "text.png", b"not an image at all"): "is not an image",
        f"{s3.endpoint}/{s3.bucket}/gone.png": "could not be fetched: HTTP 404",
    }
    with trio.fail_after(20):
        async with open_sim(fetch_images=True) as (_, client):
            ok = await client.post(
                "/v1/images/moderations", json={"model": MODEL, "images": [good]}
            )
            answers = {
                url: await client.post(
                    "/v1/images/moderations", json={"model": MODEL, "images": [good, url]}
                )
                for url in cases
            }
        async with open_sim() as (_, plain):  # without the knob nothing is fetched
            private = next(iter(cases))
            unfetched = await plain.post(
                "/v1/images/moderations", json={"model": MODEL, "images": [private]}
            )
    assert ok.status_code == 200 and ok.json()["data"]["items"][0]["passed"] is True
    for url, words in cases.items():
        answer = answers[url]
        assert answer.status_code == 400
        body = answer.json()
        assert body["code"] == "invalid_image"
        assert body["message"].startswith("image 2: "), body
        assert url in body["message"] and body["message"].endswith(words), body
    assert unfetched.status_code == 200
