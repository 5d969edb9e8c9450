"""Durable files: atomic replace, the append-only journal, the run lock.

Every state change of a run is appended to ``<lock>.journal`` and fsynced
before the next dependent step; the journal is folded into the lockfile at
the end of the run, or at the start of the next one after a crash. An append
costs the same at 10 jobs or 10,000: the lockfile is not rewritten per event.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import trio

from seedrun.errors import LockError
from seedrun.files import read_lock
from seedrun.lockfile import Lock, dumps, event_problem, fold


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temp file beside ``path``, fsync, rename, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable; a filesystem that cannot is left as it is."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def journal_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".journal")


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Events in order. A torn last line (kill -9 mid-write) is dropped."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    events: list[dict[str, Any]] = []
    lines = raw.split(b"\n")
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            if n == len(lines):  # only the unterminated last line can be torn
                break
            raise LockError(
                f"{path}:{n}: journal line is not JSON; move the file away to "
                "discard it, or restore it"
            ) from None
        problem = event_problem(event)
        if problem is not None:
            raise LockError(
                f"{path}:{n}: not a valid journal line: {problem}; move the file "
                "away to discard it, or restore it"
            )
        events.append(event)
    return events


def recover(lock_path: Path) -> Lock:
    """The lockfile with any leftover journal folded in and written back."""
    lock = read_lock(lock_path)
    jpath = journal_path(lock_path)
    events = read_journal(jpath)
    if events or jpath.exists():
        lock = fold(lock, events)
        write_lock(lock_path, lock)
        jpath.unlink(missing_ok=True)
    return lock


def write_lock(lock_path: Path, lock: Lock) -> bool:
    """Write the canonical text; returns False when the file already had it."""
    text = dumps(lock)
    try:
        if lock_path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    atomic_write_text(lock_path, text)
    return True


class Journal:
    """Append-only, fsynced JSON lines with group commit.

    Concurrent ``append`` calls that arrive while a write is in progress are
    written and fsynced together, so many tasks finishing at once cost one
    fsync, not one each. ``append`` returns only once its event is durable.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = open(path, "ab")  # noqa: SIM115 - closed in close()
        self._pending: list[bytes] = []
        self._flushed = trio.Event()
        self._writing = False
        self._durable = 0
        self._failed: str | None = None
        self.events = 0
        self.fsyncs = 0

    async def append(self, event: Mapping[str, Any]) -> None:
        line = json.dumps(event, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        self._pending.append(line.encode() + b"\n")
        self.events += 1
        mine = self.events
        # Shielded: the line is queued, so it will reach the file. A Cancelled raised
        # here would tell the caller "not recorded" about a recorded event (a create
        # journaled as in flight, then never sent), or strand the line unwritten.
        with trio.CancelScope(shield=True):
            await self._until_durable(mine)

    async def _until_durable(self, mine: int) -> None:
        while self._durable < mine:
            if self._failed is not None:
                raise LockError(f"{self.path}: cannot write the journal: {self._failed}")
            if self._writing:
                await self._flushed.wait()
                continue
            self._writing = True
            batch, upto = b"".join(self._pending), self.events
            self._pending = []
            try:
                await trio.to_thread.run_sync(self._write, batch)
                self._durable = upto
            except OSError as exc:
                self._failed = exc.strerror or str(exc)
            finally:
                self._writing = False
                self._flushed, finished = trio.Event(), self._flushed
                finished.set()

    def _write(self, data: bytes) -> None:
        self._fh.write(data)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.fsyncs += 1

    def close(self) -> None:
        self._fh.close()


class RunLock:
    """An exclusive, non-blocking flock on ``<lock>.lck`` for the length of a run."""

    def __init__(self, lock_path: Path) -> None:
        self.path = lock_path.with_name(lock_path.name + ".lck")
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    lockfile = self.path.name.removesuffix(".lck")
                    raise LockError(
                        f"{lockfile} is in use by another seedrun run ({self._holder()}); wait "
                        "for it to finish, or use another --lock"
                    ) from None
                raise
            # The file may have been unlinked by the previous holder between our
            # open and flock; then we hold a lock nobody else can see. Retry.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self._fd = fd
                return
            os.close(fd)

    def _holder(self) -> str:
        try:
            pid = self.path.read_text().strip()
        except OSError:
            pid = ""
        return f"pid {pid}" if pid else "pid unknown"

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None

    @contextlib.contextmanager
    def held(self) -> Iterator[RunLock]:
        self.acquire()
        try:
            yield self
        finally:
            self.release()
