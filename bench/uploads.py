"""Uploads of local images to an S3 API: moto's server on loopback, in this process.

    .venv/bin/python bench/uploads.py [--images 40] [--kb 500]

Uploads ``--images`` distinct PNG files of about ``--kb`` KB each through
``seedrun.uploads.Uploader`` (all at once, as a run's jobs ask for them), then
asks again for every URL (already there: stat + presign only). Prints images/s
and MB/s for both. moto keeps objects in memory, so this measures seedrun's
side plus boto3 and HTTP on loopback, not a real store's bandwidth.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import trio
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from s3server import moto_server, new_bucket

from seedrun.campaign import Bucket
from seedrun.localfiles import DiskFiles
from seedrun.localrefs import LocalFile
from seedrun.storage import S3Storage
from seedrun.uploads import Uploader


def make_images(folder: Path, count: int, kb: int) -> dict[str, LocalFile]:
    side = max(300, int((kb * 1024 / 3) ** 0.5))  # noise PNGs barely compress
    files = DiskFiles(folder / "spec.yaml")
    out: dict[str, LocalFile] = {}
    for i in range(count):
        Image.effect_noise((side, side), 60 + i).convert("RGB").save(folder / f"{i}.png")
        found = files.image(f"{i}.png")
        assert isinstance(found, LocalFile), found
        out[found.ref] = found
    return out


async def upload_all(uploads: Uploader, refs: list[str]) -> float:
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for ref in refs:
            nursery.start_soon(uploads.url, ref)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--kb", type=int, default=500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, moto_server() as endpoint:
        bucket = new_bucket(endpoint)
        os.environ.update(bucket.env())
        files = make_images(Path(tmp), args.images, args.kb)
        total = sum(f.bytes for f in files.values()) / 2**20
        settings = Bucket(url=f"s3://{bucket.bucket}/bench", endpoint_url=endpoint)
        cold = trio.run(upload_all, Uploader(S3Storage(settings), files), list(files))
        warm = trio.run(upload_all, Uploader(S3Storage(settings), files), list(files))
    n = len(files)
    print(f"{n} images, {total:.1f} MB in all")
    print(f"first upload: {cold:.2f} s, {n / cold:.1f} images/s, {total / cold:.1f} MB/s")
    print(f"already there (stat + presign): {warm:.2f} s, {n / warm:.1f} images/s")


if __name__ == "__main__":
    main()
