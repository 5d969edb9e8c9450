"""``seedrun apply`` as a user runs it: a real process, killed, interrupted, raced.

The simulator runs in the test's own trio loop, so the test can read every task
the server created (with its body) while the CLI talks to it over loopback.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import (
    CANARY_KEY,
    Ran,
    SimStarter,
    apply_in_process,
    cli_env,
    journal_events,
    last_entries,
    run_cli,
    seedrun_argv,
    sha256_of,
    tasks_per_prompt,
    write_spec,
)

from seedrun.cli import main
from seedrun.files import read_lock, read_spec
from seedrun.lockfile import LockEntry, job_event
from seedrun.sim import media
from seedrun.store import journal_path

POLL = ("--poll-floor", "0.05")


def _spec(folder: Path, n: int, *, max_in_flight: int = 3) -> Path:
    jobs = "".join(
        f"""
  - name: shot{i}
    api: {"official" if i % 2 == 0 else "unified"}
    prompt: "Take {i} of a paper boat"
"""
        for i in range(n)
    )
    return write_spec(
        folder,
        f"version: 1\nsettings:\n  requests_per_second: 200\n"
        f"  max_in_flight: {max_in_flight}\njobs:{jobs}",
    )


def _prompt(job_id: str) -> str:
    return f"Take {job_id.removeprefix('shot')} of a paper boat"


class Cli:
    """A running ``seedrun`` process whose output goes to files in its folder."""

    def __init__(self, proc: trio.Process, out: Path, err: Path) -> None:
        self.proc = proc
        self.out = out
        self.err = err

    @classmethod
    async def start(cls, *args: str, env: dict[str, str], cwd: Path, name: str) -> Cli:
        out, err = cwd / f"{name}.stdout", cwd / f"{name}.stderr"
        with out.open("wb") as o, err.open("wb") as e:
            proc = await trio.lowlevel.open_process(
                seedrun_argv(*args), env=env, cwd=cwd, stdout=o, stderr=e
            )
        return cls(proc, out, err)

    async def wait(self) -> Ran:
        code = await self.proc.wait()
        return Ran(code, self.out.read_text(), self.err.read_text())

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        while not condition():
            if self.proc.poll() is not None:
                ran = await self.wait()
                raise AssertionError(f"the run ended ({ran.code}) before {what}:\n{ran.output}")
            await trio.sleep(0.005)


def _entries(lock_path: Path) -> dict[str, dict[str, Any]]:
    return last_entries(journal_events(lock_path))


def _check_no_key(folder: Path, *texts: str) -> None:
    for text in texts:
        assert CANARY_KEY not in text
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix != ".mp4":
            assert CANARY_KEY.encode() not in path.read_bytes(), path


def _assert_files(folder: Path, lock_path: Path) -> None:
    for entry in read_lock(lock_path).jobs.values():
        assert entry.status == "succeeded" and entry.output is not None and entry.task_id
        assert entry.output.sha256 == sha256_of(folder / entry.output.path)
        assert (folder / entry.output.path).read_bytes() == media.video_bytes(entry.task_id)


def _plan(folder: Path) -> dict[str, str]:
    """``seedrun plan --json`` in process (it never touches the network)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["plan", str(folder / "spec.yaml"), "--json"])
    assert code == 0
    return {j["id"]: j["action"] for j in json.loads(out.getvalue())["jobs"]}


async def test_kill_9_mid_run_then_resume(tmp_path: Path, start_sim: SimStarter) -> None:
    n = 6
    _spec(tmp_path, n, max_in_flight=4)
    lock_path = tmp_path / "spec.lock"
    with trio.fail_after(40):
        # Latency keeps each create in flight long enough to kill the run inside one.
        async with start_sim(latency=0.2, task_seconds=(0.3, 0.5)) as sim:
            env = cli_env(sim)
            run = await Cli.start("apply", "spec.yaml", *POLL, env=env, cwd=tmp_path, name="run1")

            def known_and_in_flight() -> bool:
                entries = _entries(lock_path).values()
                return any(e.get("task_id") for e in entries) and any(
                    e["status"] == "unknown" for e in entries
                )

            await run.until(known_and_in_flight, "a create was in flight")
            run.proc.kill()
            killed = await run.wait()
            assert killed.code == -signal.SIGKILL
            journal_text = journal_path(lock_path).read_text()
            at_kill = _entries(lock_path)
            in_flight = {j for j, e in at_kill.items() if e["status"] == "unknown"}
            known = {j: e["task_id"] for j, e in at_kill.items() if e.get("task_id")}
            assert in_flight and known and not in_flight & known.keys()
            await trio.sleep(0.25)  # let the server finish what it was handed

            # Resume without --resubmit-unknown: polls known ids, creates the rest, exit 1.
            creates_before = sim.state.creates
            seen_before = len(sim.state.requests)
            resumed = await run_cli("apply", "spec.yaml", *POLL, env=env, cwd=tmp_path)
            assert resumed.code == 1, resumed.output
            assert "--resubmit-unknown" in resumed.output
            for job_id in in_flight:
                assert f"unknown  {job_id}" in resumed.stdout
            lock = read_lock(lock_path)
            not_started = set(lock.jobs) - in_flight - known.keys()
            assert sim.state.creates - creates_before == len(not_started)
            asked = " ".join(
                r["path"] + "?" + r["query"]
                for r in sim.state.requests[seen_before:]
                if r["method"] == "GET" and r["origin"] == "api"
            )
            for job_id, task_id in known.items():
                entry = lock.jobs[job_id]
                assert entry.task_id == task_id  # followed, not submitted again
                assert entry.status == "succeeded" and entry.output is not None
                if at_kill[job_id]["status"] != "succeeded":
                    assert task_id in asked  # polled by id (GET or list filter)
            for job_id in in_flight:
                assert lock.jobs[job_id].status == "unknown"
                assert lock.jobs[job_id].task_id is None
            planned = _plan(tmp_path)
            assert {j for j, a in planned.items() if a == "unknown"} == in_flight
            assert all(planned[j] == "unchanged" for j in planned if j not in in_flight)

            final = await apply_in_process(sim, tmp_path / "spec.yaml", resubmit_unknown=True)
            assert set(final.outcome.status.values()) == {"succeeded"}
            assert final.stats.creates == len(in_flight)

    per_job = tasks_per_prompt(sim)
    for i in range(n):
        job_id = f"shot{i}"
        count = per_job.get(_prompt(job_id), 0)
        if job_id in in_flight:
            assert 1 <= count <= 2  # the ambiguous window: at most the killed one and one more
        else:
            assert count == 1, (job_id, count)
    _assert_files(tmp_path, lock_path)
    _check_no_key(tmp_path, killed.output, journal_text, resumed.output)


async def test_ctrl_c_records_in_flight_creates_then_resume(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    n = 6
    _spec(tmp_path, n)
    lock_path = tmp_path / "spec.lock"
    with trio.fail_after(30):
        async with start_sim(latency=0.2, task_seconds=(0.3, 0.5)) as sim:
            env = cli_env(sim)
            run = await Cli.start("apply", "spec.yaml", *POLL, env=env, cwd=tmp_path, name="run1")
            await run.until(
                lambda: any(e["status"] == "unknown" for e in _entries(lock_path).values()),
                "a create was in flight",
            )
            in_flight = {j for j, e in _entries(lock_path).items() if e["status"] == "unknown"}
            run.proc.send_signal(signal.SIGINT)
            stopped = await run.wait()
            assert stopped.code == 130, stopped.output
            assert "interrupted; resume with: seedrun apply spec.yaml" in stopped.stdout
            assert lock_path.exists() and not journal_path(lock_path).exists()
            lock = read_lock(lock_path)
            # The creates in flight at Ctrl-C finished and their task ids were recorded.
            for job_id in in_flight:
                assert lock.jobs[job_id].task_id, lock.jobs[job_id]
            assert all(e.status != "unknown" for e in lock.jobs.values()), lock.jobs
            created = sim.state.creates

            again = await apply_in_process(sim, tmp_path / "spec.yaml")
    assert set(again.outcome.status.values()) == {"succeeded"}
    assert sim.state.creates - created == n - len(lock.jobs)
    assert tasks_per_prompt(sim) == {_prompt(f"shot{i}"): 1 for i in range(n)}
    _assert_files(tmp_path, lock_path)
    _check_no_key(tmp_path, stopped.output)


async def test_second_concurrent_apply_on_the_same_lockfile_exits_2(
    tmp_path: Path, start_sim: SimStarter, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 3
    spec = _spec(tmp_path, n)
    lock_path = tmp_path / "spec.lock"
    with trio.fail_after(30):
        async with start_sim(latency=0.2) as sim:
            env = cli_env(sim)
            first = await Cli.start("apply", "spec.yaml", *POLL, env=env, cwd=tmp_path, name="one")
            await first.until(lambda: journal_path(lock_path).exists(), "the run started")
            # The second apply, in this process: it must stop at the run lock, before
            # any network (it could not start a trio run in here anyway).
            for name in ("SEEDRUN_API_KEY", "SEEDRUN_BASE_URL"):
                monkeypatch.setenv(name, env[name])
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                code = main(["apply", str(spec), *POLL])
            done = await first.wait()
    assert code == 2
    assert "spec.lock is in use by another seedrun run" in err.getvalue()
    assert f"pid {first.proc.pid}" in err.getvalue()
    assert done.code == 0, done.output
    assert tasks_per_prompt(sim) == {_prompt(f"shot{i}"): 1 for i in range(n)}
    _check_no_key(tmp_path, err.getvalue(), done.output)


async def test_wrong_key_stops_the_run_and_never_shows_either_key(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    _spec(tmp_path, 2)
    wrong = CANARY_KEY[::-1]
    with trio.fail_after(20):
        async with start_sim() as sim:
            ran = await run_cli(
                "apply", "spec.yaml", *POLL, env=cli_env(sim, api_key=wrong), cwd=tmp_path
            )
    assert ran.code == 2, ran.output
    assert "HTTP 401" in ran.output and "invalid API key" in ran.output
    assert sim.state.tasks == {}
    assert wrong not in ran.output
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert wrong.encode() not in path.read_bytes()
    _check_no_key(tmp_path, ran.output)


def test_plan_after_a_crash_shows_the_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path, 3)
    lock_path = tmp_path / "spec.lock"
    jobs = {j.id: j for j in read_spec(spec).jobs}
    # What kill -9 leaves: no lockfile, a journal with one task and one create in flight.
    events = [
        job_event("shot0", LockEntry(jobs["shot0"].key, "running", task_id="task_1")),
        job_event("shot1", LockEntry(jobs["shot1"].key, "unknown", api="unified")),
    ]
    journal_path(lock_path).write_text("".join(json.dumps(e) + "\n" for e in events))
    ran = _main(capsys, "plan", str(spec), "--json")
    assert ran.code == 0
    actions = {j["id"]: j["action"] for j in json.loads(ran.stdout)["jobs"]}
    assert actions == {"shot0": "resume", "shot1": "unknown", "shot2": "create"}


# ---------------------------------------------------------------- exit codes, in process


def _main(capsys: pytest.CaptureFixture[str], *argv: str) -> Ran:
    code = main(list(argv))
    out = capsys.readouterr()
    return Ran(code, out.out, out.err)


def test_missing_key_exits_2_naming_the_variable_and_sim(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: None
) -> None:
    spec = _spec(tmp_path, 1)
    ran = _main(capsys, "apply", str(spec))
    assert ran.code == 2
    assert "SEEDRUN_API_KEY" in ran.stderr and "--sim" in ran.stderr
    assert not (tmp_path / "spec.lock").exists()


def test_exit_0_when_every_job_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: None
) -> None:
    spec = _spec(tmp_path, 2)
    ran = _main(capsys, "apply", str(spec), "--sim", "--sim-task-seconds", "0.1,0.2", *POLL)
    assert ran.code == 0, ran.output
    assert "2 jobs: 2 succeeded" in ran.stdout
    assert {e.status for e in read_lock(tmp_path / "spec.lock").jobs.values()} == {"succeeded"}


def test_exit_1_when_a_job_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: None
) -> None:
    spec = write_spec(
        tmp_path,
        """
        version: 1
        jobs:
          - name: fine
            prompt: A quiet meadow
          - name: refused
            prompt: "A quiet meadow [policy-fail]"
        """,
    )
    ran = _main(capsys, "apply", str(spec), "--sim", "--sim-task-seconds", "0.1,0.2", *POLL)
    assert ran.code == 1
    assert "failed   refused: The request failed because" in ran.stdout
    assert read_lock(tmp_path / "spec.lock").jobs["fine"].status == "succeeded"


@pytest.mark.parametrize(
    ("spec_text", "argv", "message"),
    [
        ("version: 1\njobs:\n  - name: a\n    promt: x\n", (), "unknown key 'promt'"),
        ("version: 1\njobs:\n  - name: a\n    prompt: x\n", ("--max-in-flight", "0"),
         "--max-in-flight must be at least 1"),
        ("version: 1\njobs:\n  - name: a\n    prompt: x\n", ("--select", "nope*"),
         "nope*"),
    ],
    ids=["bad-spec", "bad-flag-value", "select-matches-nothing"],
)
def test_exit_2_on_bad_spec_or_usage(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
    spec_text: str,
    argv: tuple[str, ...],
    message: str,
) -> None:
    spec = write_spec(tmp_path, spec_text)
    ran = _main(capsys, "apply", str(spec), "--sim", *argv)
    assert ran.code == 2
    assert message in ran.stderr
    assert not (tmp_path / "spec.lock").exists()


def test_bad_base_url_exits_2_and_leaves_no_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec(tmp_path, 1)
    monkeypatch.setenv("SEEDRUN_API_KEY", CANARY_KEY)
    monkeypatch.setenv("SEEDRUN_BASE_URL", "ftp://files.example.com")
    ran = _main(capsys, "apply", str(spec))
    assert ran.code == 2
    assert "base URL must be http(s)://host[:port], got 'ftp://files.example.com'" in ran.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]  # no journal, no lock
    assert CANARY_KEY not in ran.output


def test_exit_2_on_unknown_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["apply", "spec.yaml", "--no-such-flag"])
    assert exc.value.code == 2
    assert "--no-such-flag" in capsys.readouterr().err
