"""The Python API: typed results, from plain code, from inside asyncio (Jupyter), from trio."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import trio

import seedrun
from seedrun.api import ApplyResult, PlanResult, Validation
from seedrun.cost import Estimate
from seedrun.errors import ConfigError, SpecError
from seedrun.lockfile import Lock, LockEntry, dumps

SPEC = """\
version: 1
defaults: {duration: 5, ratio: "16:9"}
jobs:
  - name: spin
    prompt: "A bottle on {{ backdrop }}"
    matrix: {backdrop: [marble, moss]}
  - name: next
    prompt: "Continue from image 1"
    media: [{from: "spin[backdrop=marble]", frame: last, role: first_frame}]
settings:
  price_per_million_tokens: 2.0
"""
FAST = {"sim": True, "sim_task_seconds": (0.1, 0.2)}


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return path


def test_public_names() -> None:
    assert set(seedrun.__all__) >= {"load", "Campaign", "PlanResult", "ApplyResult", "SpecError"}
    assert all(hasattr(seedrun, name) for name in seedrun.__all__)
    assert (Path(seedrun.__file__).parent / "py.typed").exists()


def test_load_validate_and_plan_are_typed(spec: Path) -> None:
    campaign = seedrun.load(spec)
    assert campaign.lock_path == spec.with_suffix(".lock")
    assert campaign.validate() == Validation(str(spec), 3, 0)
    plan = campaign.plan()
    assert isinstance(plan, PlanResult)
    assert [(i.id, i.action) for i in plan.items] == [
        ("spin[backdrop=marble]", "create"),
        ("spin[backdrop=moss]", "create"),
        ("next", "create"),
    ]
    assert plan.counts == {"create": 3}
    assert plan.has_changes and len(plan.creates) == 3
    formula = 1248 * 704 * 24 * 5 // 1024
    assert plan.estimates["next"] == Estimate(formula, "formula")
    assert plan.tokens == 3 * formula
    assert plan.cost == pytest.approx(3 * formula * 2.0 / 1e6)
    assert plan._repr_markdown_().startswith("<!-- seedrun-plan -->")


def test_load_errors_are_seedrun_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\njobs:\n  - {name: a, promt: hi}\n", encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        seedrun.load(bad)
    assert str(caught.value.diagnostics[0]).startswith(f"{bad}:3:")
    with pytest.raises(ConfigError, match="spec not found"):
        seedrun.load(tmp_path / "missing.yaml")


def test_apply_needs_a_key_or_the_simulator(spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEEDRUN_API_KEY", raising=False)
    with pytest.raises(ConfigError) as caught:
        seedrun.load(spec).apply()
    assert str(caught.value) == (
        "no API key: set SEEDRUN_API_KEY (export SEEDRUN_API_KEY=...), or run against the "
        "built-in simulator with --sim"
    )


def _check_applied(result: ApplyResult, spec: Path) -> None:
    assert result.ok and result.exit_code == 0
    assert result.status == {
        "spin[backdrop=marble]": "succeeded",
        "spin[backdrop=moss]": "succeeded",
        "next": "succeeded",
    }
    assert result.report_path == spec.parent / "jobs.report.html"
    campaign = seedrun.load(spec)
    assert campaign.status().counts == {"succeeded": 3}
    assert not campaign.plan().has_changes
    assert campaign.plan().counts == {"unchanged": 3}


def test_apply_from_plain_code(spec: Path) -> None:
    _check_applied(seedrun.load(spec).apply(**FAST), spec)


def test_apply_from_inside_a_running_asyncio_loop(spec: Path) -> None:
    """A Jupyter cell runs in a thread whose asyncio loop is running."""

    from seedrun.runner import Reporter

    threads: set[str] = set()

    class Seen(Reporter):
        def job(self, job_id: str, status: str, detail: str = "") -> None:
            threads.add(threading.current_thread().name)

    async def cell() -> ApplyResult:
        asyncio.get_running_loop()  # a loop runs here, as in Jupyter
        campaign = seedrun.load(spec)
        campaign.validate()
        campaign.plan()
        return campaign.apply(**FAST, reporter=Seen())

    _check_applied(asyncio.run(cell()), spec)
    # trio ran in a worker: it never touched the loop thread's signal wakeup fd
    assert threads and threading.main_thread().name not in threads


async def test_apply_async_from_trio(spec: Path) -> None:
    with trio.fail_after(60):
        result = await seedrun.load(spec).apply_async(**FAST)
    _check_applied(result, spec)


async def test_sync_apply_inside_trio_runs_in_a_thread(spec: Path) -> None:
    with trio.fail_after(60):
        result = await trio.to_thread.run_sync(lambda: seedrun.load(spec).apply(**FAST))
    _check_applied(result, spec)


def test_ctrl_c_in_a_notebook_stops_the_run_and_keeps_the_lock(spec: Path) -> None:
    """Ctrl-C in Jupyter is a KeyboardInterrupt in the cell's thread, while the run is in
    a worker: the run stops as the CLI's does, and what was created is recorded."""
    main = threading.get_ident()

    journal = spec.parent / "jobs.lock.journal"

    def interrupt_once_a_task_exists() -> None:
        # Ctrl-C once the first create has been answered (its task id journaled).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if journal.exists() and '"task_id"' in journal.read_text(encoding="utf-8"):
                break
            time.sleep(0.02)
        signal.pthread_kill(main, signal.SIGINT)

    async def cell() -> ApplyResult:
        threading.Thread(target=interrupt_once_a_task_exists, daemon=True).start()
        return seedrun.load(spec).apply(sim=True, sim_task_seconds=(5.0, 5.0), report=False)

    loop = asyncio.new_event_loop()  # no SIGINT handler of asyncio's: as ipykernel
    try:
        result = loop.run_until_complete(cell())
    finally:
        loop.close()
    assert result.interrupted and result.exit_code == 130
    lock = seedrun.load(spec).lock()
    assert {e.status for e in lock.jobs.values()} <= {"queued", "running", "unknown"}
    assert any(e.task_id for e in lock.jobs.values())  # what was created is recorded
    assert not (spec.parent / "jobs.lock.journal").exists()


def test_diff_against_a_path_or_a_lock(spec: Path, tmp_path: Path) -> None:
    campaign = seedrun.load(spec)
    old = Lock(jobs={"gone": LockEntry("a" * 64, "succeeded")})
    (tmp_path / "old.lock").write_text(dumps(old), encoding="utf-8")
    assert [(c.id, c.change) for c in campaign.diff(old).changes] == [("gone", "removed")]
    assert campaign.diff(tmp_path / "old.lock").counts["removed"] == 1
    assert campaign.diff(old, old).changes == ()


def test_a_second_apply_on_the_same_lock_is_refused(spec: Path) -> None:
    from seedrun.errors import LockError
    from seedrun.store import RunLock

    with RunLock(spec.with_suffix(".lock")).held(), pytest.raises(LockError) as caught:
        seedrun.load(spec).apply(**FAST)
    assert str(caught.value).startswith("jobs.lock is in use by another seedrun run (")
    assert os.listdir(spec.parent) == ["jobs.yaml"]  # no lockfile, no journal: nothing ran


def test_plan_detailed_exitcode(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from seedrun.cli import main

    assert main(["plan", str(spec)]) == 0
    assert main(["plan", str(spec), "--detailed-exitcode"]) == 3  # work to do: not 1, not 2
    assert main(["plan", str(spec), "--detailed-exitcode", "--format", "markdown"]) == 3
    seedrun.load(spec).apply(**FAST)
    assert main(["plan", str(spec), "--detailed-exitcode", "--json"]) == 0  # nothing to do
    capsys.readouterr()
    bad = spec.with_name("bad.yaml")
    bad.write_text("version: 1\njobs: []\n", encoding="utf-8")
    assert main(["plan", str(bad), "--detailed-exitcode"]) == 2  # errors keep their code


def test_diff_defaults_to_the_last_commit(spec: Path) -> None:
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=spec.parent, check=True, capture_output=True)

    campaign = seedrun.load(spec)
    lock = spec.with_suffix(".lock")
    lock.write_text(dumps(Lock(jobs={"gone": LockEntry("a" * 64, "succeeded")})), "utf-8")
    git("init", "-q")
    git("add", "jobs.lock")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "lock")
    lock.write_text(dumps(Lock(jobs={"new": LockEntry("b" * 64, "queued")})), "utf-8")
    assert [(c.id, c.change) for c in campaign.diff().changes] == [
        ("gone", "removed"),
        ("new", "added"),
    ]
