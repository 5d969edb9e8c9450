"""``seedrun prune``: drop lockfile entries (and their files) of jobs no longer in the spec.

A dry run unless ``--yes``. Files are deleted only inside the lockfile's
folder: a path that leads out of it (``..``, an absolute path, a symlink to
elsewhere) is listed and left alone, and so is a file another entry still uses.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from seedrun.bucket_outputs import is_bucket_url
from seedrun.errors import EXIT_OK, ConfigError
from seedrun.files import default_lock_path, read_spec
from seedrun.lockfile import Lock, fold, loads
from seedrun.spec import Spec
from seedrun.store import RunLock, journal_path, read_journal, recover, write_lock

HELP = "remove lockfile entries and output files of jobs no longer in the spec (dry run)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec")
    p.add_argument("--lock", help="lockfile (default: the spec's name with .lock)")
    p.add_argument("--yes", action="store_true", help="really remove them (default: dry run)")


@dataclass
class Pruning:
    orphans: list[str]
    delete: list[Path] = field(default_factory=list)  # existing files, safe to delete
    outside: list[str] = field(default_factory=list)  # paths leading out of the folder
    shared: list[str] = field(default_factory=list)  # still used by a kept entry
    gone: list[str] = field(default_factory=list)  # already missing


def run(args: argparse.Namespace) -> int:
    spec_path = Path(args.spec)
    spec = read_spec(spec_path)
    lock_path = Path(args.lock) if args.lock else default_lock_path(spec_path)
    if not lock_path.is_file():
        raise ConfigError(f"{lock_path}: lockfile not found")
    if not args.yes:
        text = lock_path.read_text(encoding="utf-8")
        lock = fold(loads(text, str(lock_path)), read_journal(journal_path(lock_path)))
        todo = find_prunable(lock, spec, lock_path.parent)
        _show(todo, lock, lock_path, spec_path)
        if todo.orphans:
            print(
                f"dry run: nothing changed; run again with --yes to remove "
                f"{_n(len(todo.orphans), 'entry')} and {_n(len(todo.delete), 'file')}"
            )
        return EXIT_OK
    with RunLock(lock_path).held():
        lock = recover(lock_path)
        todo = find_prunable(lock, spec, lock_path.parent)
        _show(todo, lock, lock_path, spec_path)
        if not todo.orphans:
            return EXIT_OK
        kept = {j: e for j, e in lock.jobs.items() if j not in set(todo.orphans)}
        # The lockfile first: a crash after it leaves stray files, never dangling entries.
        write_lock(lock_path, Lock(lock.assets, kept))
        for path in todo.delete:
            path.unlink(missing_ok=True)
    print(
        f"removed {_n(len(todo.orphans), 'entry')} from {lock_path} "
        f"and deleted {_n(len(todo.delete), 'file')}"
    )
    return EXIT_OK


def find_prunable(lock: Lock, spec: Spec, folder: Path) -> Pruning:
    ids = spec.by_id()
    todo = Pruning(sorted(j for j in lock.jobs if j not in ids))
    root = folder.resolve()
    keep = {
        (root / ref.path).resolve()
        for jid, e in lock.jobs.items()
        if jid in ids
        for ref in (e.output, e.last_frame)
        if ref is not None
    }
    for jid in todo.orphans:
        e = lock.jobs[jid]
        for ref in (e.output, e.last_frame):
            if ref is None:
                continue
            # A bucket object is never deleted by prune: it is outside the folder.
            target = None if is_bucket_url(ref.path) else _inside(folder, ref.path)
            if target is None:
                todo.outside.append(ref.path)
            elif not target.is_file():
                todo.gone.append(ref.path)
            elif target.resolve() in keep:
                todo.shared.append(ref.path)
            else:
                todo.delete.append(target)
    return todo


def _inside(folder: Path, rel: str) -> Path | None:
    """``folder/rel`` when it stays inside ``folder`` after resolving links, else None."""
    if PurePosixPath(rel).is_absolute() or Path(rel).is_absolute():
        return None
    target = folder / rel
    if not target.resolve().is_relative_to(folder.resolve()):
        return None
    return target


def _show(todo: Pruning, lock: Lock, lock_path: Path, spec_path: Path) -> None:
    if not todo.orphans:
        print(f"nothing to prune: every entry of {lock_path} is a job of {spec_path}")
        return
    print(f"orphaned entries (in {lock_path}, not in {spec_path}):")
    width = max(len(j) for j in todo.orphans)
    for jid in todo.orphans:
        e = lock.jobs[jid]
        print(f"  {jid:<{width}}  {e.status}")
    folder = lock_path.parent
    if todo.delete:
        print(f"files to delete (paths relative to {folder}):")
        for path in todo.delete:
            print(f"  {path.relative_to(folder).as_posix()}")
    notes = (
        (todo.outside, "outside the lockfile's folder"),
        (todo.shared, "still used by a job of the spec"),
        (todo.gone, "already missing"),
    )
    if any(paths for paths, _ in notes):
        print("files left alone:")
    for paths, why in notes:
        for p in paths:
            print(f"  {p}: {why}")


def _n(count: int, word: str) -> str:
    many = word[:-1] + "ies" if word.endswith("y") else word + "s"
    return f"{count} {word if count == 1 else many}"
