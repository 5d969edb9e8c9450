"""Property-based fuzzing of hostile specs and lockfiles through the real CLI entry.

Random YAML, mutated and truncated examples, deep nesting, huge numbers and
control characters go to ``validate``, ``plan``, ``diff`` and ``status``. Each
run must end with exit 0, 1 or 2, no traceback, one-line messages, within a
time bound (a hang bound) and without a large allocation peak.
"""

from __future__ import annotations

import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seedrun.cli import main
from seedrun.lockfile import Lock, LockEntry, dumps

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.yaml"))
SAMPLE_LOCK = dumps(
    Lock({}, {"spin": LockEntry("a" * 64, "succeeded", task_id="t1", request={"a": [1]})})
)

_atoms = st.sampled_from(
    [
        "version: 1\n", "jobs:\n", "  - name: a\n", "    prompt: x\n", "    matrix:\n",
        "      k: [1, 2, 3]\n", "[" * 300, "{" * 50, "]", "}", "&a [x, x]", "*a", "<<: *a\n",
        "'{{ 'a' | center(1000000000) }}'", "\"\\n::error file=x::boom\"", "\x1b[2J",
        "9" * 5000, "0x" + "f" * 400, "<<<<<<< HEAD\n", "=======\n", ">>>>>>> b\n", "\t",
        ": ", "- ", "\n", "#", "!!python/object:os.system x", "\u2028", "\x00",
    ]
)
_hostile = st.lists(st.one_of(_atoms, st.text(max_size=20)), max_size=25).map("".join)


@st.composite
def _mutated(draw: st.DrawFn, base: str) -> str:
    text = base
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 20))
        text = text[:at] + draw(_hostile) + text[at + cut :]
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]  # truncated anywhere
    return text


_spec_texts = st.one_of(
    _hostile, st.sampled_from([p.read_text() for p in EXAMPLES]).flatmap(_mutated)
)
_lock_texts = st.one_of(_hostile, _mutated(SAMPLE_LOCK))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> None:
    tracemalloc.start()
    started = time.monotonic()
    try:
        code = main(list(argv))
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in out + err, err
    assert elapsed < 10, argv  # a hang bound: each input here is small
    assert peak < 200_000_000, argv
    for line in err.splitlines():
        assert len(line) < 5_000, line[:200]


# SEEDRUN_FUZZ_EXAMPLES=2000 for a longer hunt; the suite's default keeps it to seconds.
_SETTINGS = settings(
    max_examples=int(os.environ.get("SEEDRUN_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_SETTINGS
@given(spec=_spec_texts, lock=_lock_texts)
def test_hostile_specs_and_lockfiles_end_cleanly(
    capsys: pytest.CaptureFixture[str], spec: str, lock: str
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        old = os.getcwd()
        os.chdir(folder)
        try:
            Path("jobs.yaml").write_text(spec, encoding="utf-8", errors="surrogatepass")
            Path("jobs.lock").write_text(lock, encoding="utf-8", errors="surrogatepass")
            Path("other.lock").write_text(SAMPLE_LOCK, encoding="utf-8")
            _run(capsys, "validate", "jobs.yaml")
            _run(capsys, "plan", "jobs.yaml")
            _run(capsys, "diff", "other.lock", "jobs.lock")
            _run(capsys, "status", "--lock", "jobs.lock")
        finally:
            os.chdir(old)
