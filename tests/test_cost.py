"""Token estimates from recorded usage, and plan's estimate line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from seedrun.cli import main
from seedrun.cost import estimate_tokens, spent_tokens, usage_table
from seedrun.lockfile import Lock, LockEntry, dumps
from seedrun.spec import load_spec

SPEC = textwrap.dedent(
    """\
    version: 1
    defaults: {duration: 5, ratio: "16:9", resolution: 720p}
    jobs:
      - name: a
        prompt: "Take {{ n }}"
        matrix: {n: [1, 2, 3, 4]}
      - name: tall
        prompt: A tall one
        ratio: "9:16"
    settings:
      price_per_million_tokens: 2.0
    """
)


def _done(job_id: str, tokens: int) -> tuple[str, LockEntry]:
    spec = load_spec(SPEC, "s.yaml")
    job = spec.job(job_id)
    usage = {"completion_tokens": tokens, "total_tokens": tokens}
    return job_id, LockEntry(job.key, "succeeded", request=job.body, usage=usage, task_id="t")


def test_estimate_is_the_median_of_the_same_shape() -> None:
    spec = load_spec(SPEC, "s.yaml")
    lock = Lock({}, dict([_done("a[n=1]", 100), _done("a[n=2]", 300), _done("a[n=3]", 200)]))
    table = usage_table([lock])
    assert estimate_tokens(spec.job("a[n=4]"), table=table) == 200
    # Another ratio is another shape: no data, so no number is invented.
    assert estimate_tokens(spec.job("tall"), table=table) is None
    assert spent_tokens(lock) == 600


def test_failed_tasks_do_not_teach_estimates() -> None:
    spec = load_spec(SPEC, "s.yaml")
    job_id, entry = _done("a[n=1]", 100)
    lock = Lock({}, {job_id: entry.with_(status="failed")})
    assert estimate_tokens(spec.job("a[n=4]"), table=usage_table([lock])) is None


def test_plan_prints_tokens_and_money(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    other = Lock({}, dict([_done("a[n=1]", 100_000), _done("a[n=2]", 300_000)]))
    (tmp_path / "other.lock").write_text(dumps(other))
    assert main(["plan", "s.yaml", "--usage-from", "other.lock", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    by_id = {j["id"]: j for j in doc["jobs"]}
    assert by_id["a[n=3]"]["estimate_tokens"] == 200_000
    assert by_id["tall"]["estimate_tokens"] is None
    assert doc["estimate"] == {"jobs": 5, "known": 4, "tokens": 800_000, "cost": 1.6}
    assert main(["plan", "s.yaml", "--usage-from", "other.lock"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert (
        last
        == "Estimate: 800,000 tokens for 4 of 5 new task(s), 1.60 at 2.0/M tokens; unknown for 1"
    )
