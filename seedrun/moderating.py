"""A run's assets before any create: local images uploaded, every image moderated
once (by source URL, or by content for a local file), each verdict journaled.

The runner starts ``moderate`` for each asset a job to be created needs; the
jobs wait on ``done[url]`` (through ``seedrun.sources``) and read the verdict
from the lock. Storage problems stop the run before anything is paid
(``stores_ready``), or leave the job pending with the reason in ``upload_errors``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

import trio

from seedrun import plan as planner
from seedrun.bucket_outputs import BucketOutputs
from seedrun.client import SeedanceClient
from seedrun.errors import ApiError, AuthError, StorageError
from seedrun.localrefs import is_file_ref
from seedrun.lockfile import AssetEntry, asset_event
from seedrun.spec import Job
from seedrun.uploads import Uploader, scrub

MAX_PARALLEL_MODERATIONS = 4


class Assets:
    def __init__(
        self,
        client: SeedanceClient,
        assets: MutableMapping[str, AssetEntry],
        *,
        append: Callable[[Mapping[str, Any]], Awaitable[None]],
        uploads: Uploader | None,
        stop: Callable[[str], None],
        note: Callable[[str], None],
    ) -> None:
        """``assets`` is the run's live lock assets; ``append`` journals an event."""
        self._client = client
        self._assets = assets
        self._append = append
        self.uploads = uploads
        self._stop = stop
        self._note = note
        self._limit = trio.CapacityLimiter(MAX_PARALLEL_MODERATIONS)
        self.done: dict[str, trio.Event] = {}
        self.errors: dict[str, str] = {}
        self.upload_errors: dict[str, str] = {}

    def start(
        self, nursery: trio.Nursery, items: Iterable[planner.PlanItem], by_id: Mapping[str, Job]
    ) -> None:
        """Moderate what the jobs to be created need and the lock has no verdict for."""
        for item in items:
            if item.action not in planner.CREATES:
                continue
            for url in by_id[item.id].moderated_urls:
                if url not in self._assets and url not in self.done:
                    self.done[url] = trio.Event()
                    nursery.start_soon(self.moderate, url)

    async def stores_ready(
        self,
        items: list[planner.PlanItem],
        by_id: Mapping[str, Job],
        bucket: BucketOutputs | None,
        download: bool,
    ) -> bool:
        """A bucket that refuses the credentials stops the run before anything is paid."""
        refs = [s.ref for i in items if i.action in planner.CREATES for s in by_id[i.id].slots]
        try:
            if self.uploads is not None and self.uploads.needed(refs):
                await self.uploads.check()
            fetches = ("download", "resume", *planner.CREATES)
            if bucket is not None and download and any(i.action in fetches for i in items):
                await bucket.check()
        except StorageError as exc:
            self._stop(exc.message)
            return False
        return True

    async def upload(self, ref: str) -> str | None:
        """The URL of a local image, uploaded first; None after a failure (remembered)."""
        if self.uploads is None:
            self.upload_errors[ref] = "no uploads bucket is configured"
            return None
        try:
            return await self.uploads.url(ref)
        except StorageError as exc:
            self.upload_errors[ref] = exc.message
            if exc.fatal:
                self._stop(exc.message)
            else:
                self._note(exc.message)
            return None

    def name(self, ref: str) -> str:
        return self.uploads.name(ref) if self.uploads is not None else ref

    async def moderate(self, url: str) -> None:
        try:
            async with self._limit:
                source = url
                if is_file_ref(url):  # a local image: uploaded first, then moderated
                    uploaded = await self.upload(url)
                    if uploaded is None:
                        return
                    source = uploaded
                try:
                    result = (await self._client.moderate([source])).get(source)
                except AuthError as exc:
                    self._stop(str(exc))
                    return
                except ApiError as exc:
                    message = scrub(exc.message, self.uploads)
                    self.errors[url] = message
                    self._note(f"moderation of {self.name(url)} failed: {message}")
                    return
                if result is None:
                    return
                entry = AssetEntry(
                    result.passed,
                    result.asset_url if result.passed else None,
                    None if result.passed else (result.reason or "rejected"),
                )
                self._assets[url] = entry
                await self._append(asset_event(url, entry))
        finally:
            self.done.setdefault(url, trio.Event()).set()
