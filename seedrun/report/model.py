"""Spec + lockfile -> the gallery's view model. Pure: no file IO, no network.

Every string here is plain text; the template escapes it on output. Paths are
turned into hrefs relative to the report's folder, so the page works from
``file://``, from a static host and as an unpacked CI artifact alike.
"""

from __future__ import annotations

import json
import ntpath
import posixpath
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from seedrun.lockfile import FileRef, Lock, LockEntry
from seedrun.spec import FINAL_SUFFIX, Job, Spec

PENDING = "pending"  # a job of the spec that the lockfile does not know yet
NOT_IN_SPEC = "(not in the spec)"
# The order statuses are listed in: the ones needing attention first.
STATUS_ORDER = (
    "failed",
    "blocked",
    "unknown",
    "cancelled",
    "running",
    "queued",
    PENDING,
    "succeeded",
)


@dataclass(frozen=True)
class Panel:
    """One job's outcome: what a draft and its final each have."""

    id: str
    kind: str  # video | draft | final
    status: str
    video: str | None = None  # href: relative path to the downloaded file, or the remote URL
    video_remote: bool = False
    poster: str | None = None  # href of the last frame, when the lock has one
    error: str | None = None  # why a failed (or unknown, cancelled) job failed
    blocked: str | None = None  # why a blocked job was never submitted
    stale: bool = False  # the spec changed since this result was recorded
    task_id: str | None = None
    seed: int | None = None
    tokens: int | None = None
    revised_prompt: str | None = None
    previous: Previous | None = None  # the result this one replaced, when the lock keeps it


@dataclass(frozen=True)
class Previous:
    """The video a replaced job had before: shown beside the new one to compare."""

    video: str | None
    video_remote: bool = False
    task_id: str | None = None


@dataclass(frozen=True)
class Input:
    """One media item a job sends: an image, video or audio, or another job's last frame.

    ``thumb`` is the href to show (a web URL, or a local file relative to the
    page); ``None`` when nothing can be shown (an ``asset://`` id, a frame not
    made yet). ``source`` is the id of the job a chained frame comes from.
    """

    type: str  # image | video | audio
    role: str | None
    label: str
    thumb: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Card:
    """One variant: a job, or a draft with the final made from it side by side."""

    id: str
    name: str
    axes: tuple[tuple[str, str], ...]  # (axis, shown value), in the matrix's order
    prompt: str
    params: tuple[tuple[str, str], ...]
    main: Panel
    final: Panel | None = None
    inputs: tuple[Input, ...] = ()

    @property
    def panels(self) -> tuple[Panel, ...]:
        return (self.main,) if self.final is None else (self.main, self.final)

    @property
    def statuses(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.status for p in self.panels))


@dataclass(frozen=True)
class Group:
    """The variants of one job name; they share their matrix axes."""

    name: str
    axes: tuple[str, ...]
    values: tuple[tuple[str, tuple[str, ...]], ...]  # axis -> values, first seen first
    cards: tuple[Card, ...]


@dataclass(frozen=True)
class Report:
    title: str
    spec_path: str
    lock_path: str
    groups: tuple[Group, ...]
    counts: tuple[tuple[str, int], ...]  # status -> jobs, in STATUS_ORDER
    total_tokens: int


def build(
    spec: Spec,
    lock: Lock,
    *,
    lock_dir: PurePath,
    report_dir: PurePath,
    available: Collection[str] | None = None,
    lock_path: str = "",
    remote: Mapping[str, str] | None = None,
    spec_dir: PurePath | None = None,
) -> Report:
    """The view model of ``spec`` as recorded in ``lock``.

    ``lock_dir`` and ``report_dir`` are absolute. ``available`` holds the
    lock-relative paths of the files that exist; a recorded file missing from it
    falls back to its remote URL. ``None`` means every recorded file exists.
    ``spec_dir`` (absolute, default ``lock_dir``) is where a spec's local media
    paths are relative to.
    """
    links = _Links(lock_dir, report_dir, available, remote or {})
    media_dir = spec_dir if spec_dir is not None else lock_dir
    # Local images (issue 14) stand in bodies as seedrun://file/<sha256><ext>; the
    # spec maps each stand-in to the file (`written` as in the spec, `path` on disk).
    local_files: Mapping[str, Any] = getattr(spec, "files", None) or {}
    jobs = spec.by_id()
    finals = {j.id for j in spec.jobs if j.kind == "final"}
    groups: dict[str, list[Card]] = {}
    for job in spec.jobs:
        if job.id in finals and job.id.removesuffix(FINAL_SUFFIX) in jobs:
            continue  # shown beside its draft
        final_job = jobs.get(job.id + FINAL_SUFFIX) if job.kind == "draft" else None
        card = Card(
            id=job.id,
            name=job.name,
            axes=tuple((axis, show(value)) for axis, value in job.matrix),
            prompt=job.prompt,
            params=tuple((k, show(v)) for k, v in job.params.items() if not _empty(v)),
            main=_panel(job, lock.jobs.get(job.id), links),
            final=_panel(final_job, lock.jobs.get(final_job.id), links) if final_job else None,
            inputs=_inputs(job, lock, links, media_dir, local_files),
        )
        groups.setdefault(job.name, []).append(card)
    orphans = [
        _orphan(job_id, lock.jobs[job_id], links)
        for job_id in sorted(lock.jobs)
        if job_id not in jobs
    ]
    built = [_group(name, cards) for name, cards in groups.items()]
    if orphans:
        built.append(Group(NOT_IN_SPEC, (), (), tuple(orphans)))
    statuses = [p.status for g in built for c in g.cards for p in c.panels]
    tokens = [p.tokens or 0 for g in built for c in g.cards for p in c.panels]
    return Report(
        title=PurePosixPath(spec.path.replace("\\", "/")).name or spec.path,
        spec_path=spec.path,
        lock_path=lock_path,
        groups=tuple(built),
        counts=tuple((s, statuses.count(s)) for s in _ordered(statuses)),
        total_tokens=sum(tokens),
    )


def show(value: Any) -> str:
    """A parameter or matrix value as the spec author wrote it: ``true``, ``5``, ``16:9``."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _empty(value: Any) -> bool:
    """Nothing worth a line on a card: ``None``, ``{}``, ``[]``, ``""``."""
    return value is None or (isinstance(value, str | dict | list | tuple) and not value)


def href(lock_dir: PurePath, report_dir: PurePath, path: str) -> str:
    """URL of the lock-relative ``path``, relative to the report's folder."""
    flavour = ntpath if isinstance(lock_dir, PureWindowsPath) else posixpath
    target = flavour.normpath(flavour.join(str(lock_dir), path))
    try:
        rel = flavour.relpath(target, str(report_dir))
    except ValueError:  # another drive: only an absolute URL reaches it
        return type(lock_dir)(target).as_uri()
    parts = rel.replace("\\", "/").split("/")
    # Quote each segment: file names hold `[`, `#`, `?`, `%` or spaces; `=` and `,` are fine.
    return "/".join(quote(p, safe="=,") for p in parts)


# ---------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Links:
    lock_dir: PurePath
    report_dir: PurePath
    available: Collection[str] | None
    remote: Mapping[str, str]  # outputs kept in a bucket: their URLs

    def file(self, ref: FileRef | None) -> str | None:
        if ref is not None and ref.path in self.remote:
            return self.remote[ref.path]
        if ref is None or (self.available is not None and ref.path not in self.available):
            return None
        return href(self.lock_dir, self.report_dir, ref.path)


def _panel(job: Job, entry: LockEntry | None, links: _Links) -> Panel:
    if entry is None:
        return Panel(id=job.id, kind=job.kind, status=PENDING)
    return _entry_panel(job.id, job.kind, entry, links, stale=entry.key != job.key)


def _orphan(job_id: str, entry: LockEntry, links: _Links) -> Card:
    return Card(
        id=job_id,
        name=NOT_IN_SPEC,
        axes=(),
        prompt=_request_prompt(entry.request),
        params=(),
        main=_entry_panel(job_id, entry.kind, entry, links, stale=False),
    )


def _entry_panel(job_id: str, kind: str, entry: LockEntry, links: _Links, *, stale: bool) -> Panel:
    local = links.file(entry.output)
    video = local or _remote(entry.video_url)
    error = blocked = None
    if entry.error:
        message = entry.error.get("message") or entry.error.get("code") or ""
        if entry.status == "blocked":
            blocked = message
        elif entry.status != "succeeded":
            code = entry.error.get("code")
            error = f"{code}: {message}" if code and code != message else message
    return Panel(
        id=job_id,
        kind=kind,
        status=entry.status,
        video=video,
        video_remote=video is not None and local is None,
        poster=links.file(entry.last_frame) or _remote(entry.last_frame_url),
        error=error,
        blocked=blocked,
        stale=stale,
        task_id=entry.task_id,
        seed=entry.seed,
        tokens=(entry.usage or {}).get("total_tokens"),
        revised_prompt=entry.revised_prompt,
        previous=_previous(getattr(entry, "previous", None), links),
    )


def _previous(prev: Any, links: _Links) -> Previous | None:
    """The replaced result a lock entry keeps (a mapping or a record), if any."""
    if prev is None:
        return None

    def get(name: str) -> Any:
        return prev.get(name) if isinstance(prev, Mapping) else getattr(prev, name, None)

    output = get("output")
    if isinstance(output, Mapping) and isinstance(output.get("path"), str):
        output = FileRef(str(output["path"]), str(output.get("sha256", "")), 0)
    local = links.file(output) if isinstance(output, FileRef) else None
    video = local or _remote(get("video_url"))
    task = get("task_id")
    if video is None and not task:
        return None
    return Previous(video, video is not None and local is None, str(task) if task else None)


_MEDIA_FIELDS = {"image_url": "image", "video_url": "video", "audio_url": "audio"}


def _inputs(
    job: Job,
    lock: Lock,
    links: _Links,
    media_dir: PurePath,
    local_files: Mapping[str, Any],
) -> tuple[Input, ...]:
    """The media a job sends, in body order: official ``content``, unified
    ``images`` or ``metadata.content``. A chained frame names its source job."""
    body = job.body
    if not body:
        return ()
    frames = {_at(body, s.path): s.ref for s in job.slots if s.kind == "last_frame"}
    items: list[tuple[str, Any, str | None]] = []
    content = body.get("content")
    if not isinstance(content, list):
        content = (body.get("metadata") or {}).get("content")
    for item in content if isinstance(content, list) else ():
        kind = _MEDIA_FIELDS.get(str(item.get("type"))) if isinstance(item, Mapping) else None
        if kind is not None:
            items.append((kind, (item.get(item["type"]) or {}).get("url"), item.get("role")))
    items += [("image", url, None) for url in body.get("images") or ()]
    out = []
    for kind, url, role in items:
        if not isinstance(url, str):
            continue
        source = frames.get(url)
        local = local_files.get(url)
        if local is not None:
            written = str(getattr(local, "written", "") or url)
            where = str(getattr(local, "path", "") or written)
            out.append(Input(kind, role, written, href(media_dir, links.report_dir, where)))
        elif source is not None:
            entry = lock.jobs.get(source)
            frame = None if entry is None else links.file(entry.last_frame)
            thumb = frame or (None if entry is None else _remote(entry.last_frame_url))
            out.append(Input(kind, role, f"last frame of {source}", thumb, source))
        else:
            out.append(Input(kind, role, url, _media_href(url, links, media_dir)))
    return tuple(out)


def _at(body: Mapping[str, Any], path: tuple[str | int, ...]) -> Any:
    value: Any = body
    for part in path:
        value = value[part]
    return value


def _media_href(url: str, links: _Links, media_dir: PurePath) -> str | None:
    """A thumbnail href for a media URL: web URLs as they are, local files relative
    to the page; ``asset://`` ids and other schemes have none."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme in ("http", "https"):
        return url
    if scheme == "file":
        return url
    if scheme and len(scheme) > 1:  # asset://, seedrun://, ...; a one-letter one is a drive
        return None
    return href(media_dir, links.report_dir, url)


def _remote(url: str | None) -> str | None:
    """Only web URLs become links: a ``javascript:`` URL from a server never does."""
    if url and url.split(":", 1)[0].lower() in ("http", "https"):
        return url
    return None


def _request_prompt(request: Mapping[str, Any] | None) -> str:
    """The prompt a recorded request sent (official: a text item; unified: ``prompt``)."""
    if not request:
        return ""
    if isinstance(request.get("prompt"), str):
        return str(request["prompt"])
    for item in request.get("content") or ():
        if isinstance(item, Mapping) and item.get("type") == "text":
            return str(item.get("text", ""))
    return ""


def _group(name: str, cards: list[Card]) -> Group:
    values: dict[str, list[str]] = {}
    for card in cards:
        for axis, value in card.axes:
            seen = values.setdefault(axis, [])
            if value not in seen:
                seen.append(value)
    return Group(
        name=name,
        axes=tuple(values),
        values=tuple((axis, tuple(v)) for axis, v in values.items()),
        cards=tuple(cards),
    )


def _ordered(statuses: list[str]) -> list[str]:
    known = [s for s in STATUS_ORDER if s in statuses]
    return known + sorted(set(statuses) - set(known))
