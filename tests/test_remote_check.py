"""validate --online: remote image URLs checked by HEAD and a ranged GET of their
first bytes, against a real S3 API (moto) serving public objects."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import trio
from conftest import cli_env, run_cli
from PIL import Image
from s3server import S3

from seedrun.remote_check import HEADER_BYTES, check_remote


def png(size: tuple[int, int], *, noise: bool = False) -> bytes:
    out = io.BytesIO()
    img = Image.effect_noise(size, 80).convert("RGB") if noise else Image.new("RGB", size, "red")
    img.save(out, format="PNG")
    return out.getvalue()


def publish(s3: S3, key: str, data: bytes) -> str:
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=data, ACL="public-read")  # type: ignore[attr-defined]
    return f"{s3.endpoint}/{s3.bucket}/{key}"


SPEC = """\
version: 1
assets:
  hero: {url: "%s", moderate: true}
jobs:
  - name: a
    prompt: "Image 1 turns."
    media: [{asset: hero}]
  - name: b
    prompt: "Image 1 and image 2."
    media: [{url: "%s"}, {url: "%s"}]
  - name: c
    prompt: "Image 1 again."
    media: [{url: "%s"}, {url: "https://example.invalid/never-fetched.mp4"}]
"""


async def test_online_validation_reports_each_unusable_image(tmp_path: Path, s3: S3) -> None:
    good = publish(s3, "ok.png", png((800, 600)))
    small = publish(s3, "small.png", png((200, 200)))
    fake = publish(s3, "fake.jpg", png((800, 600)))
    missing = f"{s3.endpoint}/{s3.bucket}/missing.png"
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC % (good, small, fake, missing))
    with trio.fail_after(30):
        ran = await run_cli(
            "validate",
            "spec.yaml",
            "--online",
            "--allow-private-downloads",
            env=cli_env(),
            cwd=tmp_path,
        )
    assert ran.code == 2
    assert ran.stderr.splitlines() == [
        f"spec.yaml: job b: image {small}: the image is 200x200 px; width and height must "
        "be 300-6000 px",
        f"spec.yaml: job b: image {fake}: the file is a PNG image, not the JPG its "
        "extension claims",
        f"spec.yaml: job c: image {missing}: HEAD answered HTTP 404",
        "seedrun: 3 of 4 remote image(s) unusable",
    ]
    ran = await run_cli("validate", "spec.yaml", env=cli_env(), cwd=tmp_path)
    assert (ran.code, ran.stdout) == (0, "spec.yaml: valid, 3 jobs\n")  # offline: no checks


async def test_a_big_image_passes_from_its_first_bytes(tmp_path: Path, s3: S3) -> None:
    data = png((2000, 1500), noise=True)
    assert len(data) > 8 * HEADER_BYTES
    url = publish(s3, "big.png", data)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f'version: 1\njobs:\n  - name: a\n    prompt: "Image 1."\n    media: [{{url: "{url}"}}]\n'
    )
    with trio.fail_after(30):
        ran = await run_cli(
            "validate",
            "spec.yaml",
            "--online",
            "--allow-private-downloads",
            env=cli_env(),
            cwd=tmp_path,
        )
    assert (ran.code, ran.stdout) == (
        0,
        "spec.yaml: valid, 1 jobs; 1 remote image(s) reachable and within limits\n",
    )


async def test_a_server_that_ignores_range_is_not_read_to_the_end() -> None:
    """MockTransport: a server that ignores Range and would send 40 MB lazily."""
    head = png((900, 700))
    served = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal served
        served += len(head)
        yield head
        for _ in range(40 * 16):  # 40 MB in 64 KB chunks, made only when read
            served += 65536
            yield b"\0" * 65536

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(405)
        return httpx.Response(200, content=body())

    with trio.fail_after(10):
        problems = await check_remote(
            {"https://cdn.test/a.png": "job a"}, transport=httpx.MockTransport(handler)
        )
    assert problems == []
    assert served < HEADER_BYTES + 2 * 65536


async def test_private_addresses_are_not_probed_without_the_flag(tmp_path: Path, s3: S3) -> None:
    """A spec may come from a pull request: --online must not become a probe of the
    runner's network (loopback, cloud metadata) unless the person running it says so."""
    url = publish(s3, "ok.png", png((800, 600)))
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f'version: 1\njobs:\n  - name: a\n    prompt: "Image 1."\n    media: [{{url: "{url}"}}]\n'
    )
    with trio.fail_after(30):
        ran = await run_cli("validate", "spec.yaml", "--online", env=cli_env(), cwd=tmp_path)
    assert ran.code == 2
    assert ran.stderr.splitlines()[0] == (
        f"spec.yaml: job a: image {url}: refusing to download from 127.0.0.1: a loopback "
        "address; pass --allow-private-downloads to apply to allow it"
    )
