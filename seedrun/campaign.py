"""The campaign a spec describes, as frozen records: assets, settings, jobs. Pure.

``seedrun.spec.load_spec`` makes these records from YAML; everything after it
reads only them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from seedrun.localrefs import LocalFile
from seedrun.requests import Slot

FINAL_SUFFIX = "#final"
DEFAULT_MAX_IN_FLIGHT = 10
DEFAULT_RPS = 5.0


@dataclass(frozen=True)
class Asset:
    name: str
    url: str
    type: str
    moderate: bool


@dataclass(frozen=True)
class Bucket:
    """An S3-compatible place (``settings.uploads``): no credentials, ever; they come
    from the standard AWS environment."""

    url: str  # s3://bucket/prefix
    endpoint_url: str | None = None
    region: str | None = None
    public_base_url: str | None = None  # objects readable at <this>/<key>; else presigned
    presign_seconds: int = 7 * 86400


@dataclass(frozen=True)
class Settings:
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    requests_per_second: float = DEFAULT_RPS
    base_url: str | None = None
    task_timeout: float | None = None
    poll_min_interval: float = 1.0
    price_per_million_tokens: float | None = None
    budget_tokens: int | None = None
    uploads: Bucket | None = None
    max_download_bytes: int | None = None  # None: the client's default cap


@dataclass(frozen=True, eq=False, slots=True)
class Job:
    """One expanded task. ``body`` holds slot stand-ins; ``key`` hashes it.

    Treat ``body`` and ``params`` as read-only: jobs of one matrix share parts.
    """

    id: str
    name: str
    index: int
    kind: str  # video | draft | final
    api: str
    body: dict[str, Any]
    key: str
    prompt: str
    params: dict[str, Any]
    matrix: tuple[tuple[str, Any], ...] = ()
    slots: tuple[Slot, ...] = ()
    deps: tuple[str, ...] = ()
    line: int = 0

    @property
    def moderated_urls(self) -> tuple[str, ...]:
        return tuple(s.ref for s in self.slots if s.kind == "asset")


@dataclass(frozen=True)
class Spec:
    path: str
    jobs: tuple[Job, ...]  # dependencies before dependents
    assets: dict[str, Asset] = field(default_factory=dict)
    settings: Settings = Settings()
    outputs_dir: str | None = None  # None: outputs/<campaign>/ beside the lockfile
    promote: tuple[str, ...] = ()
    files: dict[str, LocalFile] = field(default_factory=dict)  # local images by stand-in ref

    def job(self, job_id: str) -> Job:
        return self._index[job_id]

    def by_id(self) -> dict[str, Job]:
        """Jobs by id (one shared dict: do not modify it)."""
        return self._index

    @cached_property
    def _index(self) -> dict[str, Job]:
        return {j.id: j for j in self.jobs}


def settings_of(raw: dict[str, Any]) -> Settings:
    """``settings:`` as validated by the schema -> the record."""
    uploads = raw.get("uploads")
    if uploads is None:
        return Settings(**raw)
    return Settings(**{**raw, "uploads": Bucket(**uploads)})
