"""Ask before spending: apply on a terminal shows what it will create and asks.

Run under a pseudo-terminal (pexpect) against a simulator in its own process,
as a real run: the prompt is never shown with --sim, with --yes, or without a
terminal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")

SPEC = """\
version: 1
defaults: {duration: 5, resolution: 720p}
jobs:
  - name: spin
    prompt: "A bottle on {{ backdrop }}"
    matrix: {backdrop: [marble, moss, velvet]}
settings:
  price_per_million_tokens: 2.0
"""
QUESTION = "Create them? Only 'yes' goes on [y/N]: "


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A simulator serving on loopback, and its request log."""
    log = tmp_path_factory.mktemp("sim") / "requests.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "seedrun", "sim", "--port", "0", "--task-seconds", "0.1,0.2",
         "--request-log", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split("listening on ", 1)[1].split(" ", 1)[0]
        assert url.startswith("http://127.0.0.1:"), line
        yield url, log
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _creates(log: Path) -> int:
    if not log.exists():
        return 0
    lines = [json.loads(ln) for ln in log.read_text(encoding="utf-8").splitlines() if ln]
    return sum(1 for r in lines if r.get("method") == "POST" and "generations" in r.get("path", ""))


def _spawn(args: list[str], url: str, cwd: Path) -> pexpect.spawn:
    env = {**os.environ, "SEEDRUN_API_KEY": "sim-key", "SEEDRUN_BASE_URL": url}
    env.pop("CI", None)
    return pexpect.spawn(
        sys.executable, ["-m", "seedrun", "apply", *args], cwd=str(cwd), env=env,
        encoding="utf-8", timeout=60, dimensions=(40, 200),
    )  # fmt: skip


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "jobs.yaml").write_text(SPEC, encoding="utf-8")
    return tmp_path


def test_a_no_sends_nothing(sim: tuple[str, Path], folder: Path) -> None:
    url, log = sim
    before = _creates(log)
    child = _spawn(["jobs.yaml"], url, folder)
    child.expect_exact("apply will create 3 paid tasks: 3 create")
    child.expect_exact(
        "Estimate: 308,880 tokens for 3 new task(s) (3 from the formula), 0.62 at 2.0/M tokens"
    )
    child.expect_exact("create  spin[backdrop=marble]")
    child.expect_exact(QUESTION)
    child.sendline("n")
    child.expect_exact("seedrun: nothing created")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert _creates(log) == before
    assert not (folder / "jobs.lock").exists()


def test_end_of_input_is_a_no(sim: tuple[str, Path], folder: Path) -> None:
    url, log = sim
    before = _creates(log)
    child = _spawn(["jobs.yaml"], url, folder)
    child.expect_exact(QUESTION)
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1 and _creates(log) == before


def test_a_yes_runs_and_a_second_apply_does_not_ask(sim: tuple[str, Path], folder: Path) -> None:
    url, log = sim
    before = _creates(log)
    child = _spawn(["jobs.yaml"], url, folder)
    child.expect_exact(QUESTION)
    child.sendline("yes")
    child.expect_exact("3 jobs: 3 succeeded")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert _creates(log) == before + 3
    # Nothing left to pay for: no question.
    again = _spawn(["jobs.yaml"], url, folder)
    index = again.expect_exact([QUESTION, "3 jobs: 3 succeeded"])
    again.expect(pexpect.EOF)
    again.close()
    assert index == 1 and again.exitstatus == 0
    assert _creates(log) == before + 3


def test_yes_flag_skips_the_question(sim: tuple[str, Path], folder: Path) -> None:
    url, _ = sim
    child = _spawn(["jobs.yaml", "--yes", "--select", "spin[backdrop=moss]"], url, folder)
    index = child.expect_exact([QUESTION, "1 jobs: 1 succeeded"])
    child.expect(pexpect.EOF)
    child.close()
    assert index == 1 and child.exitstatus == 0


def test_without_a_terminal_nothing_changes(sim: tuple[str, Path], folder: Path) -> None:
    url, _ = sim
    env = {**os.environ, "SEEDRUN_API_KEY": "sim-key", "SEEDRUN_BASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "seedrun", "apply", "jobs.yaml", "--quiet"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Create them?" not in done.stdout + done.stderr
    assert "3 jobs: 3 succeeded" in done.stdout


def test_sim_runs_are_free_and_not_asked(folder: Path) -> None:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "seedrun", "apply", "jobs.yaml", "--sim", "--sim-task-seconds", "0.1,0.2"],
        cwd=str(folder), encoding="utf-8", timeout=60,
    )  # fmt: skip
    index = child.expect_exact([QUESTION, "3 jobs: 3 succeeded"])
    child.expect(pexpect.EOF)
    child.close()
    assert index == 1 and child.exitstatus == 0


def test_summary_lists_ten_jobs_then_counts_the_rest(tmp_path: Path) -> None:
    import io

    import seedrun
    from seedrun.prompt import confirm, summary

    spec = tmp_path / "many.yaml"
    values = ", ".join(str(i) for i in range(12))
    head = "version: 1\njobs:\n  - name: a\n    prompt: p {{ n }}\n"
    spec.write_text(head + f"    matrix: {{n: [{values}]}}\n", encoding="utf-8")
    campaign = seedrun.load(spec)
    lines = summary(campaign.spec, campaign.plan())
    assert lines[0] == "apply will create 12 paid tasks: 12 create"
    assert lines[1] == "Estimate: 1,235,520 tokens for 12 new task(s) (12 from the formula)"
    assert lines[2:4] == ["  create  a[n=0]", "  create  a[n=1]"]
    assert lines[-1] == "  … and 2 more (seedrun plan lists them all)"
    assert len(lines) == 2 + 10 + 1

    for answer, expected in (("y", True), ("YES\n", True), ("", False), ("no", False)):
        assert confirm(["x"], ask=lambda _, a=answer: a, out=io.StringIO()) is expected

    def eof(_: str) -> str:
        raise EOFError

    assert confirm(["x"], ask=eof, out=io.StringIO()) is False
