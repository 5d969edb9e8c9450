"""Where a run's videos go, and fetching them: file names from job ids, never a
paid file written over, a fresh URL when the recorded one no longer works, and
a bucket instead of a folder when ``outputs.dir`` is ``s3://``."""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from seedrun import plan as planner
from seedrun.bucket_outputs import BucketOutputs
from seedrun.client import SeedanceClient
from seedrun.entries import merge
from seedrun.errors import DownloadError
from seedrun.lockfile import FileRef, LockEntry
from seedrun.spec import Job


def safe_name(job_id: str) -> str:
    """A file name readable from the job id, safe on every OS, no traversal."""
    name = re.sub(r"[^A-Za-z0-9._=,+-]+", "_", job_id.replace("[", "__").replace("]", ""))
    name = name.strip("._") or "job"
    if len(name) > 120:
        name = name[:100] + "-" + hashlib.sha256(job_id.encode()).hexdigest()[:12]
    return name


def output_names(jobs: Iterable[Job]) -> dict[str, str]:
    """``safe_name`` of each job id; a name two ids share (``..`` and ``.``, ``a/b``
    and ``a_b``, or ``A`` and ``a`` on a case-insensitive disk) gets a hash of the
    id, so no two jobs ever write the same file."""
    names = {j.id: safe_name(j.id) for j in jobs}
    uses = Counter(n.lower() for n in names.values())
    return {
        jid: n if uses[n.lower()] == 1 else f"{n}-{hashlib.sha256(jid.encode()).hexdigest()[:12]}"
        for jid, n in names.items()
    }


class Downloads:
    def __init__(
        self,
        client: SeedanceClient,
        jobs: Iterable[Job],
        *,
        outputs_dir: Path,
        lock_dir: Path,
        bucket: BucketOutputs | None = None,
    ) -> None:
        """``jobs``: all the spec's jobs (file names are unique over all of them)."""
        self.client = client
        self.outputs_dir = outputs_dir
        self.lock_dir = lock_dir
        self.bucket = bucket
        self._names = output_names(jobs)
        # Files other lockfiles in the folder record: never a destination here.
        self.foreign: frozenset[Path] = frozenset()

    def planned(self, items: Iterable[planner.PlanItem]) -> dict[str, Path]:
        """Job id -> the file its video goes to, for the jobs a run may download."""
        wanted = (*planner.CREATES, "resume", "download")
        return {
            i.id: self.outputs_dir / ((self._names.get(i.id) or safe_name(i.id)) + ".mp4")
            for i in items
            if i.action in wanted
        }

    def dest(self, job: Job, entry: LockEntry, what: str, suffix: str) -> Path:
        """Where a download goes: the job's own name, or, when a file is already
        there (a replaced job's previous video, another campaign's), a name with
        the task id. A paid file is never written over."""
        stem = self._names.get(job.id) or safe_name(job.id)
        tail = ("" if what == "video" else ".last") + suffix
        dest = self.outputs_dir / (stem + tail)
        if dest.exists() or dest.resolve() in self.foreign:
            dest = self.outputs_dir / f"{stem}.{safe_name(entry.task_id or 'task')[:40]}{tail}"
        return dest

    async def fetch(
        self, job: Job, entry: LockEntry, what: str, suffix: str
    ) -> tuple[FileRef, LockEntry]:
        """Download the job's video (or last frame); the entry may have learned a
        fresh URL on the way."""
        url = entry.video_url if what == "video" else entry.last_frame_url
        dest = self.dest(job, entry, what, suffix)
        for attempt in range(2):
            if not url or attempt == 1:
                # No URL, or an expired one: ask the task for a fresh URL, once.
                if not entry.task_id:
                    raise DownloadError(f"no {what} URL and no task id for {job.id}")
                state = await self.client.get(entry.api, entry.task_id)
                entry = merge(entry, state)
                url = state.video_url if what == "video" else state.last_frame_url
                if not url:
                    raise DownloadError(f"task {entry.task_id} gives no {what} URL")
            try:
                if self.bucket is not None:  # kept in a bucket, not on this machine
                    ref = await self.bucket.save(
                        self.client, url, dest.name, task_id=entry.task_id
                    )
                    return ref, entry
                got = await self.client.download(url, dest)
                break
            except DownloadError:
                # Expired, or a host that is gone (a recorded URL outlives its server):
                # the task gives a fresh URL, once.
                if attempt == 1 or not entry.task_id:
                    raise
        rel = Path(os.path.relpath(Path(got.path).resolve(), self.lock_dir.resolve()))
        return FileRef(rel.as_posix(), got.sha256, got.bytes), entry
