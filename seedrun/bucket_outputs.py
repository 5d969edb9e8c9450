"""Videos and last frames kept in a bucket: ``outputs.dir: s3://bucket/prefix``.

A CI runner's files vanish with it; a bucket keeps what was paid for. Each
output is fetched with the client's download (sha256 computed on the way,
length verified, into a private temporary folder), then put in the bucket
under the same name it would have on disk. The store checks the bytes against
that sha256 (``ChecksumSHA256``) and seedrun reads the object's size and
recorded sha256 back before the lockfile records ``s3://bucket/prefix/name``.

An object already there with the same sha256 is not sent again (a run that
stopped between the upload and the record). ``status --verify`` compares the
objects with the lockfile; the report links to them through ``url``.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import trio

from seedrun.campaign import Bucket, Spec
from seedrun.client import SeedanceClient
from seedrun.errors import StorageError
from seedrun.lockfile import FileRef
from seedrun.storage import ObjectInfo, S3Storage, Storage, split_s3_url

CONTENT_TYPES = {".mp4": "video/mp4", ".png": "image/png", ".jpg": "image/jpeg"}


def is_bucket_url(text: str) -> bool:
    return text.startswith("s3://")


def bucket_outputs_for(spec: Spec) -> BucketOutputs | None:
    """The bucket of ``outputs.dir: s3://...``, with the endpoint of ``settings.uploads``."""
    where = spec.outputs_dir
    if where is None or not is_bucket_url(where):
        return None
    up = spec.settings.uploads or Bucket(url=where)
    same = split_s3_url(up.url)[0] == split_s3_url(where)[0]
    settings = replace(up, url=where, public_base_url=up.public_base_url if same else None)
    return BucketOutputs(S3Storage(settings))


def _root_storage(spec: Spec | None, s3_url: str) -> tuple[S3Storage, str]:
    """A storage at the bucket's root for ``s3://bucket/key``, and the key."""
    name, key = split_s3_url(s3_url)
    up = spec.settings.uploads if spec is not None else None
    same = up is not None and split_s3_url(up.url)[0] == name
    settings = Bucket(
        url=f"s3://{name}",
        endpoint_url=up.endpoint_url if up else None,
        region=up.region if up else None,
        public_base_url=up.public_base_url if up and same else None,
        presign_seconds=up.presign_seconds if up else Bucket.presign_seconds,
    )
    return S3Storage(settings), key


def links(spec: Spec, refs: Iterable[FileRef]) -> dict[str, str]:
    """Report links of the outputs kept in a bucket: public or presigned URLs.

    Presigning is local (no request); without credentials there are no links.
    """
    out: dict[str, str] = {}
    stores: dict[str, tuple[S3Storage, str]] = {}
    for ref in refs:
        if not is_bucket_url(ref.path):
            continue
        try:
            name = split_s3_url(ref.path)[0]
            if name not in stores:
                stores[name] = _root_storage(spec, f"s3://{name}")
            storage = stores[name][0]
            out[ref.path] = storage.url(split_s3_url(ref.path)[1])
        except StorageError:
            continue
    return out


MISSING = "missing"


def verify(spec: Spec | None, ref: FileRef) -> str:
    """Empty when the object's bytes match ``ref``; MISSING when absent; else why not."""
    storage, key = _root_storage(spec, ref.path)
    have = storage.digest(key)
    if have is None:
        return MISSING
    if have.bytes != ref.bytes:
        return f"{have.bytes} bytes, lockfile says {ref.bytes}"
    if have.sha256 != ref.sha256:
        return f"sha256 {(have.sha256 or '')[:12]}, lockfile says {ref.sha256[:12]}"
    return ""


class BucketOutputs:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.uploaded = 0
        self.skipped = 0

    async def check(self) -> None:
        await trio.to_thread.run_sync(self.storage.check)

    def summary(self) -> str:
        """One line for the end of a run, empty when nothing was kept."""
        if not (self.uploaded or self.skipped):
            return ""
        return (
            f"outputs in {self.storage.describe()}: {self.uploaded} file(s) stored, "
            f"{self.skipped} already there"
        )

    async def save(
        self, client: SeedanceClient, url: str, name: str, *, task_id: str | None = None
    ) -> FileRef:
        """Download ``url`` and keep it in the bucket as ``name``; the lockfile's record.

        A paid object is never written over: when ``name`` holds other bytes (a
        replaced job's earlier video), the new one is named with its task id.
        """
        with tempfile.TemporaryDirectory(prefix="seedrun-out-") as tmp:
            got = await client.download(url, Path(tmp) / name)
            have = await trio.to_thread.run_sync(self.storage.stat, name)
            if have is not None and not _same(have, got.sha256, got.bytes) and task_id:
                name = with_task_id(name, task_id)
                have = await trio.to_thread.run_sync(self.storage.stat, name)
            if have is not None and _same(have, got.sha256, got.bytes):
                self.skipped += 1
            else:
                suffix = Path(name).suffix.lower()
                await trio.to_thread.run_sync(
                    lambda: self.storage.put_file(
                        name,
                        Path(got.path),
                        sha256=got.sha256,
                        content_type=CONTENT_TYPES.get(suffix, "application/octet-stream"),
                    )
                )
                have = await trio.to_thread.run_sync(self.storage.stat, name)
                _verify(self.storage.describe(name), have, got.sha256, got.bytes)
                self.uploaded += 1
        return FileRef(self.storage.describe(name), got.sha256, got.bytes)


def _same(have: ObjectInfo, sha256: str, size: int) -> bool:
    return have.sha256 == sha256 and have.bytes == size


def with_task_id(name: str, task_id: str) -> str:
    """``shot1.mp4`` -> ``shot1.<task id>.mp4`` (``.last.png`` kept whole)."""
    tail = ".last.png" if name.endswith(".last.png") else Path(name).suffix
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", task_id)[:40]
    return f"{name[: len(name) - len(tail)]}.{safe}{tail}"


def _verify(where: str, have: ObjectInfo | None, sha256: str, size: int) -> None:
    if have is None:
        raise StorageError(f"{where}: the object is missing right after its upload")
    if have.bytes != size or (have.sha256 is not None and have.sha256 != sha256):
        raise StorageError(
            f"{where}: the stored object ({have.bytes} bytes) differs from the "
            f"download ({size} bytes, sha256 {sha256[:12]})"
        )
