"""Reading specs and lockfiles from disk (the IO side of spec/lockfile)."""

from __future__ import annotations

from pathlib import Path

from seedrun.errors import ConfigError
from seedrun.localfiles import DiskFiles
from seedrun.lockfile import Lock, loads
from seedrun.spec import Spec, load_spec


def read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: {what} is a directory, not a file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: {what} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror}") from None


def read_spec(path: Path) -> Spec:
    # The local files it names are read, checked and hashed here, in the shell.
    return load_spec(read_text(path, "spec"), str(path), DiskFiles(path))


def default_lock_path(spec_path: Path) -> Path:
    """``jobs.yaml`` -> ``jobs.lock`` beside it."""
    if spec_path.suffix in (".yaml", ".yml"):
        return spec_path.with_suffix(".lock")
    return spec_path.with_name(spec_path.name + ".lock")


def read_lock(path: Path) -> Lock:
    """The lockfile at ``path``; a missing file is an empty lock."""
    if not path.exists():
        return Lock()
    return loads(read_text(path, "lockfile"), str(path))
