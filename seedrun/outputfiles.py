"""The files a campaign owns on disk: where they go by default, which recorded
ones are missing or changed, and which paths other campaigns in the folder own.

Each spec gets its own outputs folder by default (``outputs/<name>/`` beside
``<name>.yaml``; every shard of a campaign shares it) and each lockfile its own
report (``<name>.report.html`` beside ``<name>.lock``), so two specs in one
folder never write the same file. A lockfile that recorded files elsewhere keeps
working: recorded paths are read as recorded.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from seedrun.errors import ConfigError, SeedrunError
from seedrun.files import read_lock
from seedrun.localfiles import repository_root
from seedrun.lockfile import Lock

HASH_CHUNK = 1 << 20


def campaign_name(lock_path: Path) -> str:
    """``jobs.lock`` -> ``jobs``: the name a campaign's default files carry."""
    return lock_path.name.removesuffix(".lock") or lock_path.name


def default_outputs_dir(spec_path: Path) -> Path:
    stem = spec_path.stem if spec_path.suffix in (".yaml", ".yml") else spec_path.name
    return spec_path.parent / "outputs" / stem


def outputs_dir(spec_dir: str | None, spec_path: Path, *, allow_outside: bool = False) -> Path:
    """Where the spec's videos go. A spec comes from pull requests, so its
    ``outputs.dir`` must stay inside the spec's repository (its git top, else
    its folder) unless the person running apply says otherwise."""
    if spec_dir is None or spec_dir.startswith("s3://"):
        # A bucket (seedrun.bucket_outputs) keeps the videos; the folder only names them.
        return default_outputs_dir(spec_path)
    target = spec_path.parent / spec_dir
    if allow_outside:
        return target
    root = repository_root(spec_path.parent)
    if Path(spec_dir).is_absolute() or not target.resolve().is_relative_to(root):
        raise ConfigError(
            f"{spec_path}: outputs.dir {spec_dir!r} leads out of the spec's repository "
            f"({root}); use a relative folder inside it, or pass --allow-outputs-outside"
        )
    return target


def default_report_path(lock_path: Path) -> Path:
    return lock_path.with_name(campaign_name(lock_path) + ".report.html")


def missing_outputs(lock: Lock, lock_path: Path) -> dict[str, str]:
    """Job id -> why its recorded video is not on disk as recorded.

    A file's size is always compared; its sha256 only when the file changed
    after the lockfile was written (its mtime is newer), so a plan of ten
    thousand videos does not read them all.
    """
    folder = lock_path.parent
    try:
        written = lock_path.stat().st_mtime
    except OSError:
        written = 0.0
    out: dict[str, str] = {}
    for job_id, entry in lock.jobs.items():
        ref = entry.output
        if entry.status != "succeeded" or ref is None or ref.path.startswith("s3://"):
            continue  # a bucket object is checked by `status --verify`, not here
        path = folder / ref.path
        try:
            st = path.stat()
        except OSError:
            out[job_id] = f"{ref.path} is missing; download it again"
            continue
        if st.st_size != ref.bytes:
            out[job_id] = f"{ref.path} has {st.st_size} bytes, not {ref.bytes}; download it again"
        elif st.st_mtime > written and _sha256(path) != ref.sha256:
            out[job_id] = f"{ref.path} was changed (sha256 differs); download it again"
    return out


def foreign_outputs(lock_path: Path, own: Lock) -> dict[Path, str]:
    """Files that the folder's other lockfiles record, resolved -> that lockfile's name.
    ``own`` is this campaign's lock, as the run read it."""
    owned: dict[Path, str] = {}
    me = lock_path.resolve()
    # A path this campaign records too is its own (a backup copy of the lockfile
    # records the same files): only the others' paths are off limits.
    mine = _recorded(own, lock_path.parent)
    for other in sorted(lock_path.parent.glob("*.lock")):
        if other.resolve() == me:
            continue
        try:
            lock = read_lock(other)
        except SeedrunError:
            continue  # not ours to judge here; its own commands report it
        for path in _recorded(lock, other.parent) - mine:
            owned[path] = other.name
    return owned


def _recorded(lock: Lock, folder: Path) -> set[Path]:
    return {
        (folder / ref.path).resolve()
        for entry in lock.jobs.values()
        for ref in (entry.output, entry.last_frame)
        if ref is not None and not ref.path.startswith("s3://")
    }


def clashes(planned: Mapping[str, Path], owned: Mapping[Path, str]) -> list[str]:
    """Messages for the planned destinations another lockfile records."""
    return [
        f"{os.path.relpath(p)} is recorded by {owned[p.resolve()]}: job {jid} would write "
        "over another campaign's video; give this spec its own outputs.dir"
        for jid, p in sorted(planned.items())
        if p.resolve() in owned
    ]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()
