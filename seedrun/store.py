"""Durable files: atomic replace, the append-only journal, the run lock.

Every state change of a run is appended to ``<lock>.journal`` and fsynced
before the next dependent step; the journal is folded into the lockfile at
the end of the run, or at the start of the next one after a crash. An append
costs the same at 10 jobs or 10,000: the lockfile is not rewritten per event.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import trio

from seedrun.errors import LockError
from seedrun.files import read_lock, read_text
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


def current_lock(lock_path: Path) -> Lock:
    """The lockfile as a running or crashed apply left it, its journal folded in,
    without writing anything. Every read-only command (plan, status, report, diff,
    lock merge) reads a lockfile through this, so all of them see paid task ids
    that only the journal holds."""
    return read_current(lock_path)[0]


def read_current(lock_path: Path, *, required: bool = False) -> tuple[Lock, int]:
    """``current_lock`` and how many journal events it folded in. ``required``: a
    lockfile that is missing, with no journal either, is an error ("not found")."""
    events = read_journal(journal_path(lock_path))
    if required and not events and not lock_path.exists():
        read_text(lock_path, "lockfile")  # raises "lockfile not found", with the path
    return fold(read_lock(lock_path), events), len(events)


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


# Bytes kept free beside the journal for the answers of creates already sent: when
# the disk fills, this file is deleted, so every answer still fits.
RESERVE_BYTES = 1 << 20
_NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


class Journal:
    """Append-only, fsynced JSON lines with group commit.

    Concurrent ``append`` calls that arrive while a write is in progress are
    written and fsynced together, so many tasks finishing at once cost one
    fsync, not one each. ``append`` returns only once its event is durable.

    Two faults are watched for, because each would lose paid task ids:
    - a full disk: a reserve file is given up so the write goes through, and
      ``trouble`` says why the run must stop creating;
    - the journal deleted or replaced under the run (appends would go to a
      file nobody will read): every later append fails with ``LockError``.
    ``space`` is a byte quota for rehearsing a full disk (``apply --sim-disk-space``).
    """

    def __init__(self, path: Path, *, space: int | None = None) -> None:
        self.path = path
        self._fh = open(path, "ab")  # noqa: SIM115 - closed in close()
        self._identity = _identity(os.fstat(self._fh.fileno()))
        self._space = space
        self.reserve = path.with_name(path.name + ".reserve")
        self._pending: list[bytes] = []
        self._flushed = trio.Event()
        self._writing = False
        self._durable = 0
        self._failed: str | None = None
        self.trouble: str | None = None
        self.events = 0
        self.fsyncs = 0
        self._make_reserve()

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
                raise LockError(self._failed)
            if self._writing:
                await self._flushed.wait()
                continue
            self._writing = True
            batch, upto = b"".join(self._pending), self.events
            self._pending = []
            try:
                await trio.to_thread.run_sync(self._write_safely, batch)
                self._durable = upto
            except OSError as exc:
                self._failed = f"{self.path}: cannot write the journal: {exc.strerror or exc}"
            except LockError as exc:
                self._failed = str(exc)
            finally:
                self._writing = False
                self._flushed, finished = trio.Event(), self._flushed
                finished.set()

    def _write_safely(self, data: bytes) -> None:
        self._check_identity()
        try:
            self._write(data)
        except OSError as exc:
            if exc.errno not in _NO_SPACE or not self._release_reserve():
                raise
            self.trouble = (
                f"the disk holding {self.path.name} is full; stopped creating (the "
                "answers of creates already sent still fit in the space kept for them)"
            )
            self._write(data)

    def _check_identity(self) -> None:
        try:
            now = _identity(os.stat(self.path))
        except FileNotFoundError:
            now = None
        if now != self._identity:
            what = "deleted" if now is None else "replaced"
            raise LockError(
                f"{self.path}: the journal was {what} during the run; stopped so no "
                "task is created twice (the lockfile is written from memory at exit)"
            )

    def _write(self, data: bytes) -> None:
        if self._space is not None:
            if len(data) > self._space:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self._space -= len(data)
        self._fh.write(data)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.fsyncs += 1

    def _make_reserve(self) -> None:
        with contextlib.suppress(OSError):
            if self._space is not None:
                if self._space < RESERVE_BYTES:
                    return
                self._space -= RESERVE_BYTES
            with open(self.reserve, "wb") as fh:
                fh.write(bytes(RESERVE_BYTES))
                fh.flush()
                os.fsync(fh.fileno())

    def _release_reserve(self) -> bool:
        try:
            self.reserve.unlink()
        except OSError:
            return False
        if self._space is not None:
            self._space += RESERVE_BYTES
        return True

    def close(self) -> None:
        self._fh.close()
        with contextlib.suppress(OSError):
            self.reserve.unlink()


def _identity(st: os.stat_result) -> tuple[int, int]:
    return (st.st_dev, st.st_ino)


class RunLock:
    """An exclusive, non-blocking lock on ``<lock>.lck`` for the length of a run.

    filelock gives the same lock on POSIX (flock) and Windows (msvcrt) and is
    imported only when a run starts. The holder's pid sits in ``<lock>.lck.pid``
    for the message a second run gets.
    """

    def __init__(self, lock_path: Path) -> None:
        self.path = lock_path.with_name(lock_path.name + ".lck")
        self._pid_path = self.path.with_name(self.path.name + ".pid")
        self._lock: Any = None

    def acquire(self) -> None:
        import filelock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(self.path, timeout=0, thread_local=False)
        try:
            lock.acquire()
        except filelock.Timeout:
            lockfile = self.path.name.removesuffix(".lck")
            raise LockError(
                f"{lockfile} is in use by another seedrun run ({self._holder()}); wait "
                "for it to finish, or use another --lock"
            ) from None
        self._lock = lock
        self._pid_path.write_text(f"{os.getpid()}\n")

    def _holder(self) -> str:
        try:
            pid = self._pid_path.read_text().strip()
        except OSError:
            pid = ""
        return f"pid {pid}" if pid else "pid unknown"

    def release(self) -> None:
        if self._lock is None:
            return
        with contextlib.suppress(OSError):
            self._pid_path.unlink()
        self._lock.release()
        self._lock = None
        # Safe to unlink: filelock (4+) notices when the file it has just locked was
        # unlinked by the previous holder, and locks the new one instead.
        with contextlib.suppress(OSError):
            self.path.unlink()

    @contextlib.contextmanager
    def held(self) -> Iterator[RunLock]:
        self.acquire()
        try:
            yield self
        finally:
            self.release()
