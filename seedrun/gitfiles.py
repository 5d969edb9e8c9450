"""Lockfiles from disk or from git history (``REV:path`` through ``git show``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from seedrun.errors import ConfigError
from seedrun.files import check_size
from seedrun.lockfile import Lock, loads
from seedrun.store import read_current


def split_rev(arg: str) -> tuple[str, str] | None:
    """``"main:jobs.lock"`` -> ``("main", "jobs.lock")``; None for a plain path.

    An existing file wins, so a file name with a colon still reads as a file.
    """
    if ":" not in arg or Path(arg).exists():
        return None
    rev, _, path = arg.partition(":")
    return rev, path


def git_show(rev: str, path: str, *, cwd: Path | None = None, label: str | None = None) -> str:
    """The text of ``path`` at ``rev``; any failure is a one-line ConfigError.

    As in git, ``path`` is relative to the repository's top, unless it starts
    with ``./`` (then it is relative to ``cwd``). ``label`` names it in errors.
    """
    where = label or f"{rev}:{path}"
    if rev.startswith("-"):
        raise ConfigError(f"{where}: a revision cannot start with '-'")
    try:
        done = subprocess.run(
            ["git", "show", "--end-of-options", f"{rev}:{path}"],
            cwd=cwd,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        raise ConfigError(f"{where}: cannot read from git: git is not installed") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        why = lines[0].removeprefix("fatal: ") if lines else f"git exited {done.returncode}"
        raise ConfigError(f"{where}: cannot read from git: {why}")
    check_size(len(done.stdout), where, "lockfile")
    try:
        return done.stdout.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: not UTF-8 text (byte {exc.start})") from None


def read_lock_arg(arg: str) -> Lock:
    """A lockfile named by a path or ``REV:path``. A missing file is an error here."""
    rev = split_rev(arg)
    if rev:
        return loads(git_show(*rev), arg)
    path = Path(arg)
    # A crashed or running apply's journal holds paid task ids: fold it in (read only).
    return read_current(path, required=True)[0]


def read_lock_at_head(lock_path: Path, rev: str = "HEAD") -> tuple[Lock, str]:
    """The committed version of ``lock_path`` (any path, relative or absolute), and its label."""
    folder = lock_path.parent if str(lock_path.parent) else Path(".")
    label = f"{rev}:{lock_path}"
    if not folder.is_dir():
        raise ConfigError(f"{label}: folder {folder} not found")
    text = git_show(rev, f"./{lock_path.name}", cwd=folder, label=label)
    return loads(text, label), label


def find_lock(explicit: str | None, folder: Path = Path(".")) -> Path:
    """``--lock PATH``, else the only ``*.lock`` in ``folder``."""
    if explicit:
        return Path(explicit)
    found = sorted(p for p in folder.glob("*.lock") if p.is_file())
    if len(found) == 1:
        return found[0]
    if not found:
        raise ConfigError("no lockfile here (no *.lock in this folder); name one with --lock PATH")
    names = ", ".join(p.name for p in found)
    raise ConfigError(f"several lockfiles here ({names}); choose one with --lock PATH")
