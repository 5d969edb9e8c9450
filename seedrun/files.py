"""Reading specs and lockfiles from disk (the IO side of spec/lockfile)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from seedrun import limits
from seedrun.errors import ConfigError
from seedrun.localfiles import DiskFiles
from seedrun.lockfile import Lock, loads
from seedrun.spec import Spec, load_spec


def size_limit(what: str) -> int:
    """The largest file of this kind seedrun reads (see ``seedrun.limits``)."""
    return limits.MAX_LOCK_BYTES if what == "lockfile" else limits.MAX_SPEC_BYTES


def check_size(size: int, where: str, what: str) -> None:
    limit = size_limit(what)
    if size > limit:
        raise ConfigError(
            f"{where}: the {what} is {size:,} bytes; at most {limit:,} are read "
            "(see docs/limits.md)"
        )


def read_text(path: Path, what: str) -> str:
    try:
        with path.open("rb") as f:
            check_size(os.fstat(f.fileno()).st_size, str(path), what)
            data = f.read()
        check_size(len(data), str(path), what)  # it may have grown while read
        # As text mode reads it: \r\n and \r are \n, so a checkout's line ends change nothing.
        return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: {what} is a directory, not a file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: {what} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror}") from None


STDIN = "-"  # a spec argument that means: read the spec from standard input
STDIN_NAME = "<stdin>"


def read_spec(path: Path) -> Spec:
    # The local files it names are read, checked and hashed here, in the shell.
    if str(path) == STDIN:  # local files are then relative to the working folder
        return load_spec(read_stdin(), STDIN_NAME, DiskFiles(Path(STDIN_NAME)))
    return load_spec(read_text(path, "spec"), str(path), DiskFiles(path))


def read_stdin() -> str:
    try:
        return sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{STDIN_NAME}: spec is not UTF-8 text (byte {exc.start})") from None
    except (AttributeError, OSError, ValueError):  # no standard input at all
        raise ConfigError(f"{STDIN_NAME}: cannot read the spec from standard input") from None


def default_lock_path(spec_path: Path) -> Path:
    """``jobs.yaml`` -> ``jobs.lock`` beside it. A spec read from stdin has no
    place of its own, so its lockfile must be named."""
    if str(spec_path) == STDIN:
        raise ConfigError("a spec read from stdin (-) has no lockfile beside it: give --lock PATH")
    if spec_path.suffix in (".yaml", ".yml"):
        return spec_path.with_suffix(".lock")
    return spec_path.with_name(spec_path.name + ".lock")


def read_lock(path: Path) -> Lock:
    """The lockfile at ``path``; a missing file is an empty lock."""
    if not path.exists():
        return Lock()
    return loads(read_text(path, "lockfile"), str(path))
