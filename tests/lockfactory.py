"""Builders for lockfiles and throwaway git repositories (diff, merge, status, prune tests)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

from seedrun import cli
from seedrun.lockfile import FileRef, Lock, LockEntry, dumps

MODEL = "doubao-seedance-2.0"


def key(name: str) -> str:
    """A valid 64-hex content key, distinct per name."""
    return hashlib.sha256(name.encode()).hexdigest()


def official(prompt: str, *media: str, **params: Any) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
    content += [
        {"type": "image_url", "image_url": {"url": u}, "role": "reference_image"} for u in media
    ]
    return {"model": MODEL, "content": content, **params}


def unified(prompt: str, seconds: int = 5, **metadata: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL, "prompt": prompt, "seconds": str(seconds)}
    if metadata:
        body["metadata"] = metadata
    return body


def file_ref(path: str, content: bytes) -> FileRef:
    return FileRef(path, hashlib.sha256(content).hexdigest(), len(content))


def entry(name: str, status: str = "succeeded", **fields: Any) -> LockEntry:
    """An entry for job ``name``: key from ``name`` unless given, task ``t-<name>``."""
    fields.setdefault("key", key(name))
    if status not in ("blocked", "unknown"):
        fields.setdefault("task_id", f"t-{name}")
    return LockEntry(status=status, **fields)


def write(path: Path, lock: Lock) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(lock), encoding="utf-8")
    return path


def seedrun(*argv: str | Path) -> int:
    """``seedrun ARGV`` in this process, as the console script runs it."""
    return cli.main([str(a) for a in argv])


# ---------------------------------------------------------------- git


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
    }
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Seedrun Test")
    git(path, "config", "user.email", "test@seedrun.invalid")
    git(path, "config", "commit.gpgsign", "false")
    return path


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()
