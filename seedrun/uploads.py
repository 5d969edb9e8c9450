"""Local images -> URLs the API can fetch: content-addressed uploads to a bucket.

A local image's stand-in ``seedrun://file/<sha256><ext>`` (``seedrun.localrefs``)
becomes the object ``<prefix>/<sha256><ext>`` of ``settings.uploads``:

- uploaded before moderation and before any create that uses it, at most once
  per run, and not at all when the object is already there (same size, and the
  sha256 seedrun recorded in its metadata, when it has one);
- the bytes are checked by the store itself (``ChecksumSHA256``), so an upload
  cut off halfway never leaves a short object behind a good name;
- the URL handed to the API is public (``public_base_url``) or presigned for
  ``presign_seconds``, and signed again once half of that has passed, so a
  task created late in a long run still gets a URL that outlives it;
- a presigned URL is a bearer credential: the lockfile records the stand-in in
  its place (``redact``), and messages name the file instead (``scrub``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import trio

from seedrun.campaign import Spec
from seedrun.errors import StorageError
from seedrun.localfiles import sha256_of
from seedrun.localrefs import LocalFile, is_file_ref
from seedrun.storage import S3Storage, Storage


def object_key(local: LocalFile) -> str:
    return f"{local.sha256}{local.ext}"


class Uploader:
    """Uploads the spec's local images on first use; one per run."""

    def __init__(
        self,
        storage: Storage,
        files: Mapping[str, LocalFile],
        *,
        fresh_for: float = 3 * 86400,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.storage = storage
        self.files = files
        # A presigned URL is handed out at most this long after it was signed, so a
        # task created late in a long run still gets one that outlives moderation.
        self.fresh_for = fresh_for
        self.clock = clock
        self._urls: dict[str, tuple[str, float]] = {}  # stand-in -> (URL, signed at)
        self._errors: dict[str, StorageError] = {}
        self._locks: dict[str, trio.Lock] = {}
        self._given: dict[str, str] = {}  # URL handed out -> its stand-in
        self.uploaded = 0  # objects actually sent this run
        self.reused = 0  # objects that were in the bucket already

    def name(self, ref: str) -> str:
        local = self.files.get(ref)
        return local.written if local else ref

    def needed(self, refs: Iterable[str]) -> bool:
        return any(is_file_ref(r) for r in refs)

    async def check(self) -> None:
        """Fail fast (StorageError, fatal) when the bucket refuses these credentials."""
        await trio.to_thread.run_sync(self.storage.check)

    async def url(self, ref: str) -> str:
        """The fetchable URL of a stand-in, uploading the file first if needed."""
        lock = self._locks.setdefault(ref, trio.Lock())
        async with lock:  # one upload per image, however many jobs wait for it
            known = self._urls.get(ref)
            if known is not None and self.clock() - known[1] < self.fresh_for:
                return known[0]
            if ref in self._errors:
                raise self._errors[ref]
            try:
                if known is not None:  # uploaded already: only sign again
                    key = object_key(self.files[ref])
                    url = await trio.to_thread.run_sync(self.storage.url, key)
                else:
                    url = await trio.to_thread.run_sync(self._upload, ref)
            except StorageError as exc:
                self._errors[ref] = exc
                raise
            self._urls[ref] = (url, self.clock())
            self._given[url] = ref
            return url

    def _upload(self, ref: str) -> str:
        local = self.files.get(ref)
        if local is None:
            raise StorageError(f"{ref}: not a local file of this spec")
        key = object_key(local)
        have = self.storage.stat(key)
        if have is None or have.bytes != local.bytes or have.sha256 not in (None, local.sha256):
            path = Path(local.path)
            try:
                # The file may have changed since the spec was read: the job key
                # names the old bytes, so sending new ones would break identity.
                changed = sha256_of(path) != local.sha256
            except OSError as exc:
                raise StorageError(f"{local.written}: cannot read it: {exc.strerror}") from None
            if changed:
                raise StorageError(
                    f"{local.written} changed since the spec was read; run apply again"
                )
            try:
                self.storage.put_file(
                    key, path, sha256=local.sha256, content_type=local.content_type
                )
            except StorageError as exc:
                raise StorageError(f"{local.written}: {exc.message}", fatal=exc.fatal) from None
            self.uploaded += 1
        else:
            self.reused += 1
        return self.storage.url(key)

    def summary(self) -> str:
        """One line for the end of a run, empty when nothing was asked."""
        if not (self.uploaded or self.reused):
            return ""
        return (
            f"uploads to {self.storage.describe()}: {self.uploaded} image(s) sent, "
            f"{self.reused} already there"
        )

    def handed_out(self) -> list[tuple[str, str]]:
        """(URL, stand-in) of every URL this run gave the API."""
        return list(self._given.items())

    def redact(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``body`` with every URL this run handed out put back to its stand-in."""
        if not self._given:
            return dict(body)
        out: Any = _swap(body, self._given)
        return dict(out)


def uploader_for(spec: Spec) -> Uploader | None:
    """The uploader of a spec that names local files (the spec requires settings.uploads)."""
    if not spec.files or spec.settings.uploads is None:
        return None
    bucket = spec.settings.uploads
    return Uploader(S3Storage(bucket), spec.files, fresh_for=bucket.presign_seconds / 2)


# A presigned query string, wherever a server echoes one back.
_SIGNED = re.compile(r"\?[^\s\"'<>]*(X-Amz-Signature|Signature=)[^\s\"'<>]*")


def scrub(text: str, uploads: Uploader | None) -> str:
    """``text`` without presigned URLs: each one this run handed out becomes its file's name."""
    if uploads is not None:
        for url, ref in uploads.handed_out():
            # Servers echo a URL whole, or without its query string.
            text = text.replace(url, uploads.name(ref))
            text = text.replace(url.split("?", 1)[0], uploads.name(ref))
    return _SIGNED.sub("?<signed>", text)


def _swap(value: Any, given: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return given.get(value, value)
    if isinstance(value, Mapping):
        return {k: _swap(v, given) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap(v, given) for v in value]
    return value


__all__ = ["Uploader", "object_key", "scrub", "uploader_for"]
