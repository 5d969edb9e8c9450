"""Token estimates from recorded usage, and plan's estimate line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from seedrun.cli import main
from seedrun.cost import (
    Estimate,
    FormulaCheck,
    estimate,
    estimate_tokens,
    formula_check,
    formula_tokens,
    spent_tokens,
    usage_table,
)
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
    assert by_id["a[n=3]"]["estimate_source"] == "history of 2 tasks"
    # No task of that shape was billed yet: 720p 9:16 is 704 x 1248, 5 s at 24 fps.
    assert by_id["tall"]["estimate_tokens"] == 704 * 1248 * 24 * 5 // 1024 == 102_960
    assert by_id["tall"]["estimate_source"] == "formula"
    assert doc["estimate"] == {
        "jobs": 5,
        "known": 5,
        "tokens": 902_960,
        "sources": {"history of 2 tasks": 4, "formula": 1},
        "cost": 1.8059,
    }
    assert main(["plan", "s.yaml", "--usage-from", "other.lock"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == (
        "Estimate: 902,960 tokens for 5 new task(s) (4 from the history of 2 tasks, "
        "1 from the formula), 1.81 at 2.0/M tokens"
    )


@pytest.mark.parametrize(
    ("shape", "tokens"),
    [
        # width x height x 24 fps x seconds / 1024
        (("m", "1080p", "16:9", 5, False), 1920 * 1088 * 24 * 5 // 1024),
        (("m", "480p", "21:9", 10, False), 960 * 416 * 24 * 10 // 1024),
        (("m", "720p", "1:1", 2, False), 960 * 960 * 24 * 2 // 1024),
        (("m", "720p", "adaptive", 5, False), 1248 * 704 * 24 * 5 // 1024),  # as 16:9
        (("m", None, None, None, False), 1248 * 704 * 24 * 5 // 1024),  # 720p, 16:9, 5 s
        (("m", "1080p", "9:16", 5, True), 480 * 864 * 24 * 5 // 1024),  # a draft renders 480p
        (("m", "4k", "16:9", 5, False), None),  # a size the formula does not know
    ],
)
def test_the_output_token_formula(shape: tuple[object, ...], tokens: int | None) -> None:
    assert formula_tokens(shape) == tokens


def test_an_estimate_says_where_it_comes_from() -> None:
    spec = load_spec(SPEC, "s.yaml")
    lock = Lock({}, dict([_done("a[n=1]", 100), _done("a[n=2]", 300)]))
    table = usage_table([lock])
    assert estimate(spec.job("a[n=3]"), table) == Estimate(200, "history of 2 tasks")
    assert estimate(spec.job("tall"), table) == Estimate(102_960, "formula")
    one = usage_table([Lock({}, dict([_done("a[n=1]", 100)]))])
    assert estimate(spec.job("a[n=3]"), one) == Estimate(100, "history of 1 task")


def test_formula_check_compares_the_formula_with_the_bill() -> None:
    assert formula_check(Lock()) is None
    billed = 102_960 - 10_296  # 10 % under what the formula says
    lock = Lock({}, dict([_done("a[n=1]", billed), _done("a[n=2]", billed)]))
    check = formula_check(lock)
    assert check == FormulaCheck(tasks=2, formula=2 * 102_960, billed=2 * billed)
    assert round(check.deviation, 4) == 0.1111


def test_status_shows_how_far_the_formula_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    lock = Lock({}, dict([_done("a[n=1]", 92_664), _done("a[n=2]", 92_664)]))
    (tmp_path / "s.lock").write_text(dumps(lock))
    assert main(["status", "s.yaml"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "formula vs bill: 205,920 tokens estimated by the formula, 185,328 billed, "
        "over 2 tasks (+11.1%)"
    )
