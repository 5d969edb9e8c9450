"""Issue 12: nothing paid twice, no paid video lost or overwritten, under everyday faults.

Each test makes the fault first (a paced run stopped by Ctrl-C or kill -9, an
expired key, a full disk, a deleted journal, two specs in one folder, deleted
outputs) and checks the money rules against what the simulator really created.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import (
    POLL_FLOOR,
    RecordingReporter,
    SimStarter,
    apply_in_process,
    cli_env,
    journal_events,
    last_entries,
    sha256_of,
    tasks_per_prompt,
    write_spec,
)
from test_apply_process import Cli

from seedrun import store
from seedrun.cli import main
from seedrun.client import SeedanceClient
from seedrun.commands.apply import resume_command
from seedrun.files import read_lock
from seedrun.lockfile import Lock, LockEntry, dumps
from seedrun.outputfiles import missing_outputs
from seedrun.runner import Runner, RunOptions
from seedrun.spec import load_spec
from seedrun.store import Journal, current_lock, journal_path, recover, write_lock


def _jobs(n: int, *, rps: float = 200, max_in_flight: int = 20, extra: str = "") -> str:
    jobs = "".join(f'\n  - name: shot{i}\n    prompt: "Take {i} of a paper boat"' for i in range(n))
    return (
        f"version: 1\nsettings:\n  requests_per_second: {rps}\n"
        f"  max_in_flight: {max_in_flight}\n{extra}jobs:{jobs}\n"
    )


def _plan(spec: Path) -> dict[str, tuple[str, str]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["plan", str(spec), "--json"]) == 0
    return {j["id"]: (j["action"], j.get("reason", "")) for j in json.loads(out.getvalue())["jobs"]}


# ---------------------------------------------------------------- only bytes on the wire


async def test_ctrl_c_stops_creates_waiting_for_the_rate_limiter(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    """20 jobs at 2 requests/s: Ctrl-C after the first answer. The creates waiting
    for their turn are dropped at once, and none of them is journaled."""
    spec = write_spec(tmp_path, _jobs(20, rps=2))
    lock_path = spec.with_suffix(".lock")
    with trio.fail_after(40):
        async with start_sim() as sim:
            run = await Cli.start(
                "apply", spec.name, "--poll-floor", "0.05",
                env=cli_env(sim), cwd=tmp_path, name="paced",
            )
            await run.until(lambda: sim.state.creates >= 1, "a create was answered")
            run.proc.send_signal(signal.SIGINT)
            at_sigint = sim.state.creates
            sent = trio.current_time()
            stopped = await run.wait()
            took = trio.current_time() - sent
            assert stopped.code == 130, stopped.output
            # At most the one create that was on the wire when the signal came.
            assert sim.state.creates <= at_sigint + 1
            assert took < 5, f"Ctrl-C took {took:.1f} s"
            lock = read_lock(lock_path)
            created = {t.body["content"][0]["text"] for t in sim.state.tasks.values()}
            for job_id, entry in lock.jobs.items():
                # Every recorded job was really sent, and has its task id.
                assert entry.task_id, (job_id, entry)
            assert len(lock.jobs) == len(created) == sim.state.creates
            assert "--sim" not in stopped.stdout  # it ran against --base-url via env

            again = await apply_in_process(sim, spec)
    assert set(again.outcome.status.values()) == {"succeeded"}
    assert tasks_per_prompt(sim) == {f"Take {i} of a paper boat": 1 for i in range(20)}


async def test_kill_9_while_paced_leaves_no_unknown_for_unsent_jobs(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec = write_spec(tmp_path, _jobs(12, rps=3))
    lock_path = spec.with_suffix(".lock")
    with trio.fail_after(40):
        async with start_sim(latency=0.05) as sim:
            run = await Cli.start(
                "apply", spec.name, "--poll-floor", "0.05",
                env=cli_env(sim), cwd=tmp_path, name="killed",
            )
            await run.until(lambda: sim.state.creates >= 2, "two creates were answered")
            run.proc.kill()
            await run.wait()
            entries = last_entries(journal_events(lock_path))
            unknown = [j for j, e in entries.items() if e["status"] == "unknown"]
            # Only a create actually sent can be unknown: the server saw every one of
            # them (its request log), bar at most one whose bytes were going out.
            posts = sum(1 for r in sim.state.requests if r["method"] == "POST")
            assert len(entries) <= posts + 1
            assert len(unknown) <= 1, unknown
            assert len(entries) < 12
            again = await apply_in_process(sim, spec, resubmit_unknown=False)
    assert sum(1 for s in again.outcome.status.values() if s == "succeeded") >= 11
    assert all(n == 1 for n in tasks_per_prompt(sim).values())


# ---------------------------------------------------------------- replacements keep the old result


async def test_a_failed_replacement_keeps_the_paid_video(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec = write_spec(tmp_path, _jobs(3))
    with trio.fail_after(30):
        async with start_sim() as sim:
            first = await apply_in_process(sim, spec)
            old = {j: e for j, e in first.lock.jobs.items()}
            assert all(e.output for e in old.values())
            spec.write_text(spec.read_text().replace("paper boat", "paper plane"))
            # An expired key: the 401 certainly created nothing.
            expired = await apply_in_process(sim, spec, api_key="sk-expired-key-000000")
            assert expired.outcome.fatal and "401" in expired.outcome.fatal
            kept = read_lock(spec.with_suffix(".lock"))
            for job_id, entry in old.items():
                now = kept.jobs[job_id]
                assert now.output == entry.output and now.task_id == entry.task_id, now
                assert (tmp_path / entry.output.path).exists()  # type: ignore[union-attr]
            assert sim.state.creates == 3

            good = await apply_in_process(sim, spec)
    assert set(good.outcome.status.values()) == {"succeeded"}
    for job_id, entry in old.items():
        new = good.lock.jobs[job_id]
        assert entry.output is not None and new.output is not None
        # A new file beside the old one; the old one untouched and still recorded.
        assert new.output.path != entry.output.path
        assert sha256_of(tmp_path / entry.output.path) == entry.output.sha256
        assert new.previous is not None
        assert new.previous["task_id"] == entry.task_id
        assert new.previous["output"]["path"] == entry.output.path


async def test_a_replacement_that_fails_at_the_provider_keeps_previous(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec = write_spec(tmp_path, _jobs(1))
    with trio.fail_after(30):
        async with start_sim() as sim:
            first = await apply_in_process(sim, spec)
            paid = first.lock.jobs["shot0"]
            spec.write_text(spec.read_text().replace("paper boat", "paper boat [policy-fail]"))
            failed = await apply_in_process(sim, spec)
    entry = failed.lock.jobs["shot0"]
    assert entry.status == "failed"
    assert entry.previous is not None
    assert entry.previous["output"]["path"] == paid.output.path  # type: ignore[union-attr]
    assert entry.previous["task_id"] == paid.task_id
    assert "previous:" in dumps(failed.lock)


# ---------------------------------------------------------------- the journal


async def test_a_full_disk_stops_creating_and_keeps_every_task_id(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    """Room for the reserve and a few events: when it fills, the reserve is given
    up, no new create goes out, and every answered task id still reaches the file."""
    spec_path = write_spec(tmp_path, _jobs(30, max_in_flight=30))
    lock_path = spec_path.with_suffix(".lock")
    spec = load_spec(spec_path.read_text(), str(spec_path))
    with trio.fail_after(30):
        async with start_sim(latency=0.05) as sim:
            journal = Journal(journal_path(lock_path), space=store.RESERVE_BYTES + 6000)
            assert journal.reserve.exists()
            async with SeedanceClient(base_url=sim.base_url, api_key=sim.api_key) as client:
                runner = Runner(
                    spec, list(spec.jobs), Lock(), lock_dir=tmp_path,
                    outputs_dir=tmp_path / "out", client=client, journal=journal,
                    options=RunOptions(poll_floor=POLL_FLOOR, max_in_flight=30),
                    reporter=RecordingReporter(),
                )
                outcome = await runner.run()
            journal.close()
            created = set(sim.state.tasks)
    assert outcome.fatal is not None and "is full; stopped creating" in outcome.fatal
    assert not journal.reserve.exists()
    assert len(created) < 30
    on_disk = {e["entry"].get("task_id") for e in journal_events(lock_path) if "job" in e}
    # Every task the server made is in the journal on disk: none only in memory.
    assert created <= on_disk
    assert outcome.undurable == {}


async def test_task_ids_the_journal_cannot_take_are_printed(
    tmp_path: Path, start_sim: SimStarter, capsys: pytest.CaptureFixture[str]
) -> None:
    """No reserve fits (a disk already full): the answers are not durable, so the
    summary prints them before anything else can fail."""
    spec = write_spec(tmp_path, _jobs(4))
    with trio.fail_after(30):
        async with start_sim(latency=0.1) as sim:
            env = cli_env(sim)
            ran = await trio.run_process(
                [sys.executable, "-m", "seedrun", "apply", spec.name, "--sim",
                 "--sim-disk-space", "400", "--poll-floor", "0.05"],
                env=env, cwd=tmp_path, capture_stdout=True, capture_stderr=True, check=False,
            )
    err = ran.stderr.decode()
    assert ran.returncode == 2, err
    assert "Traceback" not in err
    assert "cannot write the journal: No space left on device" in err
    lock = read_lock(spec.with_suffix(".lock"))
    printed = {line.split(" is task ")[1].split(";")[0]
               for line in err.splitlines() if "NOT RECORDED: job" in line}
    recorded = {e.task_id for e in lock.jobs.values() if e.task_id}
    # The lockfile (written at exit, the disk being fake-full only for the journal)
    # and the printed lines both hold each answered id.
    assert printed and printed <= recorded


async def test_deleting_the_journal_mid_run_stops_creating(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec = write_spec(tmp_path, _jobs(20, rps=20, max_in_flight=4))
    lock_path = spec.with_suffix(".lock")
    with trio.fail_after(40):
        async with start_sim(task_seconds=(0.3, 0.5)) as sim:
            async with trio.open_nursery() as nursery:

                async def delete_soon() -> None:
                    while sim.state.creates < 3:
                        await trio.sleep(0.01)
                    journal_path(lock_path).unlink()

                nursery.start_soon(delete_soon)
                first = await apply_in_process(sim, spec)
            assert first.outcome.fatal is not None
            assert "the journal was deleted during the run" in first.outcome.fatal
            made = sim.state.creates
            assert made < 20
            # Everything created is in the lockfile written from memory at exit.
            assert {e.task_id for e in first.lock.jobs.values() if e.task_id} == set(
                sim.state.tasks
            )
            again = await apply_in_process(sim, spec)
    assert set(again.outcome.status.values()) == {"succeeded"}
    assert tasks_per_prompt(sim) == {f"Take {i} of a paper boat": 1 for i in range(20)}


def test_a_replaced_journal_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "x.lock.journal"
    journal = Journal(path)
    path.unlink()
    path.write_bytes(b"")  # another file now has the name

    async def go() -> None:
        await journal.append({"job": "a", "entry": None})

    with pytest.raises(Exception) as exc:
        trio.run(go)
    assert "the journal was replaced during the run" in str(exc.value)
    journal.close()


def test_journal_and_lockfile_are_fsynced_before_they_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spy on the OS calls themselves: the journal's line is fsynced before append
    returns, and a lockfile's temp file is fsynced before it is renamed into place."""
    calls: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        with contextlib.suppress(OSError):
            calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        calls.append(("replace", str(src)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    path = tmp_path / "x.lock.journal"
    journal = Journal(path)
    calls.clear()

    async def go() -> None:
        await journal.append({"job": "a", "entry": None})

    trio.run(go)
    assert ("fsync", str(path)) in calls
    journal.close()

    calls.clear()
    lock_path = tmp_path / "x.lock"
    write_lock(lock_path, Lock(jobs={"a": LockEntry(key="a" * 64, status="queued")}))
    tmp_fsyncs = [i for i, (op, p) in enumerate(calls) if op == "fsync" and ".tmp" in p]
    renames = [i for i, (op, _) in enumerate(calls) if op == "replace"]
    assert tmp_fsyncs and renames and tmp_fsyncs[0] < renames[0], calls


# ---------------------------------------------------------------- one view of the truth


async def test_status_report_and_diff_read_a_crashs_journal(
    tmp_path: Path, start_sim: SimStarter, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, _jobs(3))
    lock_path = spec.with_suffix(".lock")
    with trio.fail_after(30):
        async with start_sim() as sim:
            await apply_in_process(sim, spec)
    # As kill -9 before the first fold leaves it: no lockfile, only the journal.
    done = read_lock(lock_path)
    lock_path.unlink()
    lines = [json.dumps({"job": j, "entry": {"key": e.key, "status": "running",
                                             "task_id": e.task_id}}) for j, e in done.jobs.items()]
    journal_path(lock_path).write_text("\n".join(lines) + "\n")
    before = journal_path(lock_path).read_bytes()
    capsys.readouterr()

    assert main(["status", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "lockfile not found" not in out and "running" in out
    assert "3 journal events not yet folded in" in out

    assert main(["report", str(spec)]) == 0
    html = (tmp_path / "spec.report.html").read_text()
    assert all(e.task_id in html for e in done.jobs.values() if e.task_id)

    empty = tmp_path / "empty.lock"
    write_lock(empty, Lock())
    capsys.readouterr()
    main(["diff", str(empty), str(lock_path), "--format", "json"])
    changes = json.loads(capsys.readouterr().out)["changes"]
    assert sorted(c["id"] for c in changes) == sorted(done.jobs)
    assert current_lock(lock_path).jobs.keys() == done.jobs.keys()
    # Read only: nothing was folded or written.
    assert not lock_path.exists()
    assert journal_path(lock_path).read_bytes() == before


# ---------------------------------------------------------------- missing files come back


async def test_deleted_outputs_are_downloaded_again(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec = write_spec(tmp_path, _jobs(3))
    with trio.fail_after(30):
        async with start_sim() as sim:
            first = await apply_in_process(sim, spec)
            gone = first.lock.jobs["shot0"].output
            changed = first.lock.jobs["shot1"].output
            assert gone is not None and changed is not None
            (tmp_path / gone.path).unlink()
            data = bytearray((tmp_path / changed.path).read_bytes())
            data[100] ^= 0xFF  # same size, other bytes
            time.sleep(0.01)
            (tmp_path / changed.path).write_bytes(bytes(data))
            plan = _plan(spec)
            assert plan["shot0"] == ("download", f"{gone.path} is missing; download it again")
            assert plan["shot1"] == (
                "download", f"{changed.path} was changed (sha256 differs); download it again")
            assert plan["shot2"][0] == "unchanged"
            creates = sim.state.creates
            lock_path = spec.with_suffix(".lock")
            missing = missing_outputs(read_lock(lock_path), lock_path)  # as apply finds them
            assert sorted(missing) == ["shot0", "shot1"]
            again2 = await apply_in_process(sim, spec, missing_outputs=missing)
            assert sim.state.creates == creates
    lock = again2.lock
    assert (tmp_path / lock.jobs["shot0"].output.path).exists()  # type: ignore[union-attr]
    for job_id in ("shot0", "shot1"):
        ref = lock.jobs[job_id].output
        assert ref is not None and sha256_of(tmp_path / ref.path) == ref.sha256
    # The edited file is not written over: the fresh copy has a name of its own.
    assert lock.jobs["shot1"].output.path != changed.path  # type: ignore[union-attr]
    assert _plan(spec)["shot0"][0] == "unchanged"


# ---------------------------------------------------------------- campaigns never share files


def test_two_specs_in_one_folder_keep_their_own_files(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_spec(tmp_path, _jobs(2), name=f"{name}.yaml")
        ran = subprocess.run(
            [sys.executable, "-m", "seedrun", "apply", f"{name}.yaml", "--sim",
             "--sim-task-seconds", "0.1,0.2", "--poll-floor", "0.05"],
            cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=60,
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
    for name in ("a", "b"):
        lock = read_lock(tmp_path / f"{name}.lock")
        for entry in lock.jobs.values():
            assert entry.output is not None
            assert entry.output.path.startswith(f"outputs/{name}/")
            assert sha256_of(tmp_path / entry.output.path) == entry.output.sha256
        assert (tmp_path / f"{name}.report.html").exists()
    assert not (tmp_path / "report.html").exists()


def test_an_output_path_another_lockfile_records_is_refused(tmp_path: Path) -> None:
    shared = "outputs:\n  dir: shared\n"
    for name in ("a", "b"):
        write_spec(tmp_path, _jobs(1).replace("jobs:", shared + "jobs:"), name=f"{name}.yaml")
    args = ["--sim", "--sim-task-seconds", "0.1,0.2", "--poll-floor", "0.05"]
    first = subprocess.run([sys.executable, "-m", "seedrun", "apply", "a.yaml", *args],
                           cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    second = subprocess.run([sys.executable, "-m", "seedrun", "apply", "b.yaml", *args],
                            cwd=tmp_path, env=cli_env(), capture_output=True, text=True,
                            timeout=60)
    assert second.returncode == 2
    assert second.stderr.strip().splitlines() == [
        "seedrun: shared/shot0.mp4 is recorded by a.lock: job shot0 would write over another "
        "campaign's video; give this spec its own outputs.dir"
    ]
    assert not (tmp_path / "b.lock").exists()


def test_outputs_dir_outside_the_repository_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".git").mkdir()
    outside = "outputs:\n  dir: ../../elsewhere\njobs:"
    spec = write_spec(tmp_path, _jobs(1).replace("jobs:", outside))
    assert main(["apply", str(spec), "--sim"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        f"seedrun: {spec}: outputs.dir '../../elsewhere' leads out of the spec's repository "
        f"({tmp_path.resolve()}); use a relative folder inside it, or pass "
        "--allow-outputs-outside"
    )
    assert main(["validate", str(spec)]) == 2
    assert "leads out of the spec's repository" in capsys.readouterr().err


# ---------------------------------------------------------------- portable and exact


def test_the_cli_loads_without_posix_only_modules(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['fcntl'] = None; sys.modules['termios'] = None\n"
        "import seedrun.cli, seedrun.store, seedrun.commands.apply\n"
        "raise SystemExit(seedrun.cli.main(['--help']))"
    )
    ran = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=cli_env(),
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert "apply" in ran.stdout


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["big.yaml", "--sim"], "seedrun apply big.yaml --sim"),
        (["big.yaml", "--sim", "--sim-task-seconds", "1,2"],
         "seedrun apply big.yaml --sim --sim-task-seconds 1,2"),
        (["s.yaml", "--lock", "x.lock", "--select", "hero*", "--select", "b",
          "--shard", "1/3", "--base-url", "https://gw.example"],
         "seedrun apply s.yaml --lock x.lock --base-url https://gw.example --shard 1/3 "
         "--select 'hero*' --select b"),
    ],
)
def test_the_resume_hint_repeats_the_flags_that_matter(argv: list[str], hint: str) -> None:
    import argparse

    from seedrun.commands import apply

    parser = argparse.ArgumentParser()
    apply.add_arguments(parser)
    args = parser.parse_args(argv)
    assert resume_command(Path(args.spec), args) == hint


def test_journal_drop_event_folds_to_no_entry(tmp_path: Path) -> None:
    """A create journaled and then certainly not sent leaves the job as it was."""
    lock_path = tmp_path / "j.lock"
    journal_path(lock_path).write_text(
        json.dumps({"job": "a", "entry": {"key": "a" * 64, "status": "unknown"}}) + "\n"
        + json.dumps({"job": "a", "entry": None}) + "\n"
    )
    assert current_lock(lock_path).jobs == {}
    assert recover(lock_path).jobs == {}
