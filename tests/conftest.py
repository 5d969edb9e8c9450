"""Shared fixtures for the apply tests: a fast simulator on real loopback sockets,
an in-process apply driver, and a driver for the ``seedrun`` CLI in a subprocess.

Everything here uses the real clock with short task times; each test bounds
itself with ``trio.fail_after``. MockClock is only used in tests that never
open a socket (see tests/test_tracker.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio

from seedrun.client import ClientStats, SeedanceClient
from seedrun.lockfile import Lock
from seedrun.pacer import Pacer
from seedrun.runner import Outcome, Reporter, Runner, RunOptions
from seedrun.sim import SimConfig, SimHandle, running_sim
from seedrun.spec import Spec, load_spec
from seedrun.store import Journal, journal_path, recover, write_lock

# Distinctive, so a leak into any output or file is unmistakable.
CANARY_KEY = "sk-canary-Zq7Xw3Pv9Lm2Rt8Ny"
FAST = (0.2, 0.4)
# Tasks take a fraction of a second: poll at that scale, not at the 1 s default.
POLL_FLOOR = 0.05
REPO = Path(__file__).resolve().parent.parent

SimStarter = Callable[..., AbstractAsyncContextManager[SimHandle]]


# ---------------------------------------------------------------- simulator


@asynccontextmanager
async def _start_sim(**overrides: Any) -> AsyncIterator[SimHandle]:
    settings: dict[str, Any] = {"task_seconds": FAST, "api_key": CANARY_KEY, **overrides}
    async with running_sim(SimConfig(**settings)) as sim:
        yield sim


@pytest.fixture
def start_sim() -> SimStarter:
    """``async with start_sim(rate_limit_rps=2) as sim:`` -- any SimConfig field."""
    return _start_sim


def sent_bodies(sim: SimHandle) -> list[dict[str, Any]]:
    """The body of every task the simulator created, in creation order."""
    return [t.body for t in sorted(sim.state.tasks.values(), key=lambda t: t.seq)]


def prompt_of(body: dict[str, Any]) -> str:
    if "prompt" in body:
        return str(body["prompt"])
    return str(body["content"][0]["text"])


def tasks_per_prompt(sim: SimHandle) -> dict[str, int]:
    counts: dict[str, int] = {}
    for body in sent_bodies(sim):
        counts[prompt_of(body)] = counts.get(prompt_of(body), 0) + 1
    return counts


def create_posts(sim: SimHandle) -> int:
    """Create requests the simulator answered (any status), from its request log."""
    return sum(
        1
        for r in sim.state.requests
        if r["method"] == "POST" and r["path"].endswith(("/tasks", "/generations"))
    )


# ---------------------------------------------------------------- specs and files


def write_spec(folder: Path, text: str, name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def journal_events(lock_path: Path) -> list[dict[str, Any]]:
    """Complete journal lines (a torn last line is skipped, as recovery does)."""
    try:
        raw = journal_path(lock_path).read_bytes()
    except FileNotFoundError:
        return []
    out = []
    for line in raw.split(b"\n"):
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def last_entries(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last journaled entry of every job."""
    return {e["job"]: e["entry"] for e in events if "job" in e}


# ---------------------------------------------------------------- in-process apply


class RecordingReporter(Reporter):
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.notes: list[str] = []

    def job(self, job_id: str, status: str, detail: str = "") -> None:
        self.events.append((job_id, status, detail))

    def note(self, message: str) -> None:
        self.notes.append(message)


@dataclass
class Applied:
    outcome: Outcome
    lock: Lock
    lock_path: Path
    spec: Spec
    stats: ClientStats
    reporter: RecordingReporter
    runner: Runner = field(repr=False)

    @property
    def lock_text(self) -> str:
        return self.lock_path.read_text(encoding="utf-8")


async def apply_in_process(
    sim: SimHandle,
    spec_path: Path,
    *,
    lock_path: Path | None = None,
    api_key: str | None = None,
    missing_outputs: dict[str, str] | None = None,
    **options: Any,
) -> Applied:
    """What ``seedrun apply`` does, in this trio run: recover the lockfile, run the
    Runner against ``sim`` with a journal, fold the result into the lockfile."""
    spec = load_spec(spec_path.read_text(encoding="utf-8"), str(spec_path))
    lock_path = lock_path or spec_path.with_suffix(".lock")
    lock = recover(lock_path)
    run_options = RunOptions(**{"poll_floor": POLL_FLOOR, **options})
    journal = Journal(journal_path(lock_path))
    reporter = RecordingReporter()
    # As apply does: one adaptive pacer at the spec's requests_per_second.
    pacer = Pacer(spec.settings.requests_per_second)
    async with SeedanceClient(
        base_url=sim.base_url, api_key=api_key or sim.api_key, pacer=pacer, backoff_base=0.05
    ) as client:
        runner = Runner(
            spec,
            list(spec.jobs),
            lock,
            lock_dir=lock_path.parent.resolve(),
            outputs_dir=spec_path.parent / (spec.outputs_dir or "outputs"),
            client=client,
            journal=journal,
            options=run_options,
            reporter=reporter,
            missing_outputs=missing_outputs,
        )
        try:
            outcome = await runner.run()
        finally:
            journal.close()
            jpath = journal_path(lock_path)
            journal_text = jpath.read_bytes() if jpath.exists() else b""
            write_lock(lock_path, runner.lock)
            journal_path(lock_path).unlink(missing_ok=True)
    # The key never reaches the journal, the lockfile or anything shown to the user.
    key = (api_key or sim.api_key).encode()
    assert key not in journal_text and key not in lock_path.read_bytes()
    assert key.decode() not in repr(reporter.events) + repr(reporter.notes)
    return Applied(outcome, runner.lock, lock_path, spec, client.stats, reporter, runner)


# ---------------------------------------------------------------- the CLI in a subprocess


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def seedrun_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "seedrun", *args]


def cli_env(sim: SimHandle | None = None, *, api_key: str | None = None) -> dict[str, str]:
    """The environment for a CLI subprocess: no inherited SEEDRUN_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEEDRUN_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    if sim is not None:
        env["SEEDRUN_BASE_URL"] = sim.base_url
        env["SEEDRUN_API_KEY"] = api_key or sim.api_key
    elif api_key is not None:
        env["SEEDRUN_API_KEY"] = api_key
    return env


async def run_cli(*args: str, env: dict[str, str], cwd: Path) -> Ran:
    proc = await trio.run_process(
        seedrun_argv(*args),
        env=env,
        cwd=cwd,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    return Ran(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No SEEDRUN_* variables from the developer's shell leak into a test."""
    for name in list(os.environ):
        if name.startswith("SEEDRUN_"):
            monkeypatch.delenv(name)
    yield


# ---------------------------------------------------------------- a real S3 API


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto server (real S3 HTTP API on loopback) for the session."""
    from s3server import moto_server

    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh bucket on the moto server, with its fake credentials in the environment."""
    from s3server import new_bucket

    bucket = new_bucket(moto_endpoint)
    for name, value in bucket.env().items():
        monkeypatch.setenv(name, value)
    return bucket
