"""Specs and lockfiles built to exhaust seedrun: each ends at a documented limit, fast.

Every case here used to end in a MemoryError, a RecursionError, or minutes of
CPU. Each now ends with one located diagnostic (see seedrun/limits.py and
docs/limits.md). The time bounds are hang bounds, not performance goals.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from seedrun import limits
from seedrun.cli import main
from seedrun.errors import SpecError
from seedrun.lockfile import Lock, LockEntry, dumps
from seedrun.spec import load_spec


def spec_errors(text: str) -> list[str]:
    started = time.monotonic()
    with pytest.raises(SpecError) as info:
        load_spec(textwrap.dedent(text), "spec.yaml")
    assert time.monotonic() - started < 5
    return [str(d) for d in info.value.diagnostics]


def axes(n: int, size: int) -> str:
    return "".join(f"      a{i}: [{', '.join(str(v) for v in range(size))}]\n" for i in range(n))


def test_a_matrix_of_ten_million_combinations_is_refused_at_its_line() -> None:
    # 375 bytes: 7 axes of 10 values. It used to die of MemoryError after 65 s.
    text = "version: 1\njobs:\n  - name: bomb\n    prompt: x\n    matrix:\n" + axes(7, 10)
    assert spec_errors(text) == [
        "spec.yaml:5:5: jobs[0].matrix: the matrix makes 10,000,000 combinations; "
        "at most 100,000 are allowed per job (see docs/limits.md)"
    ]


def test_the_limit_counts_includes_and_is_inclusive() -> None:
    ok = "version: 1\njobs:\n  - name: big\n    prompt: x\n    matrix:\n" + axes(5, 10)
    assert len(load_spec(ok, "spec.yaml").jobs) == 100_000
    over = ok + "      include: [{a0: x}]\n"
    assert spec_errors(over) == [
        "spec.yaml:5:5: jobs[0].matrix: the matrix makes 100,001 combinations; "
        "at most 100,000 are allowed per job (see docs/limits.md)"
    ]


def test_the_jobs_of_a_spec_together_are_limited_too() -> None:
    job = "  - name: j{n}\n    prompt: x\n    matrix:\n" + axes(4, 10)
    text = "version: 1\njobs:\n" + "".join(job.format(n=n) for n in range(11))
    assert spec_errors(text) == [
        "spec.yaml:75:5: jobs[10].matrix: with this matrix the spec makes 110,000 jobs; "
        "at most 100,000 are allowed in all (see docs/limits.md)"
    ]


def test_excludes_times_combinations_are_limited() -> None:
    excludes = "".join(f"        - {{a0: {i}, a1: {i}}}\n" for i in range(200))
    text = (
        "version: 1\njobs:\n  - name: slow\n    prompt: x\n    matrix:\n"
        + axes(5, 10)
        + "      exclude:\n"
        + excludes
    )
    assert spec_errors(text) == [
        "spec.yaml:5:5: jobs[0].matrix: the matrix needs 20,000,000 comparisons of a "
        "combination with an include or exclude entry; at most 10,000,000 are allowed "
        "(see docs/limits.md)"
    ]


def test_a_hostile_template_is_one_diagnostic_naming_the_job_and_line() -> None:
    text = """\
    version: 1
    jobs:
      - name: spin
        prompt: "{{ 'a' | center(1000000000) }}"
        matrix: {look: [dark, light]}
    """
    assert spec_errors(text) == [
        "spec.yaml:4:13: jobs[0].prompt: job spin[look=dark]: template exceeds a limit: "
        "a center width 1,000,000,000 is larger than 100,000 (see docs/limits.md)"
    ]


# ---------------------------------------------------------------- files, through the CLI


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_a_spec_larger_than_the_limit_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(limits, "MAX_SPEC_BYTES", 1_000)
    Path("big.yaml").write_text("version: 1\njobs: []\n" + "#" * 1_000 + "\n")
    assert cli(capsys, "validate", "big.yaml") == (
        2,
        "",
        "seedrun: big.yaml: the spec is 1,021 bytes; at most 1,000 are read (see docs/limits.md)\n",
    )


def test_a_lockfile_larger_than_the_limit_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(limits, "MAX_LOCK_BYTES", 100)
    Path("a.lock").write_text(dumps(Lock()) + "#" * 100 + "\n")
    code, out, err = cli(capsys, "diff", "a.lock", "a.lock")
    assert (code, out) == (2, "")
    assert err == (
        "seedrun: a.lock: the lockfile is 253 bytes; at most 100 are read (see docs/limits.md)\n"
    )


# ---------------------------------------------------------------- text safe to print


def test_control_characters_are_refused_in_names_and_ids() -> None:
    text = (
        'version: 1\nassets: {"b\\x1b[2J": {url: "https://e.com/a.png"}}\njobs:\n'
        '  - name: "nl\\n"\n    prompt: x\n'
        '  - name: ok\n    prompt: x\n'
        '    matrix: {look: ["dark", "\\n::error file=x::boom"], "a\\u2028": [1]}\n'
    )
    # Every message is one line, its spec text escaped (the path too).
    assert spec_errors(text) == [
        "spec.yaml:2:10: assets.b\\x1b[2J: invalid name 'b\\x1b[2J'; use a name of letters, "
        "digits, '_', '.' or '-'",
        "spec.yaml:4:11: jobs[0].name: the job name 'nl\\n' contains a control character (\\n); "
        "names and matrix values are printed to terminals and CI logs",
        "spec.yaml:8:29: jobs[1].matrix.look[1]: the matrix value '\\n::error file=x::boom' "
        "contains a control character (\\n); names and matrix values are printed to terminals "
        "and CI logs",
        "spec.yaml:8:56: jobs[1].matrix.a\\u2028: invalid name 'a\\u2028'; use a template "
        "variable name: letters, digits and '_', not starting with a digit",
    ]


def test_a_hostile_lockfile_cannot_print_a_workflow_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    evil = "x\n::error file=x::boom\x1b[2J"
    entry = LockEntry("a" * 64, "failed", error={"code": "E", "message": evil})
    Path("old.lock").write_text(dumps(Lock({}, {evil: entry})))
    Path("new.lock").write_text(dumps(Lock()))
    Path("jobs.yaml").write_text("version: 1\njobs:\n  - name: x\n    prompt: p\n")
    Path("jobs.lock").write_text(dumps(Lock({}, {"x": entry})))
    for argv in (["diff", "old.lock", "new.lock"], ["diff", "old.lock", "new.lock", "--format",
                 "markdown"], ["plan", "jobs.yaml"], ["plan", "jobs.yaml", "--format", "markdown"]):
        code, out, err = cli(capsys, *argv)
        assert code in (0, 1), (argv, err)
        assert "\x1b" not in out + err
        lines = (out + err).splitlines()
        assert not [ln for ln in lines if ln.lstrip().startswith("::")], argv
