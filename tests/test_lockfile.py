"""The lockfile: canonical text, round trips, located errors, and journal folding."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from seedrun.errors import LockError
from seedrun.lockfile import (
    END,
    HEADER,
    OLD_HEADER,
    AssetEntry,
    FileRef,
    Lock,
    LockEntry,
    _plainly_valid,
    asset_event,
    dumps,
    fold,
    job_event,
    loads,
    lock_schema,
    to_data,
)

A, B, C = "a" * 64, "b" * 64, "c" * 64

LOCK = Lock(
    {
        "https://e.com/b.png": AssetEntry(True, "asset://a1"),
        "https://e.com/a.png": AssetEntry(False, reason="real person"),
    },
    {
        "spin[look=b]": LockEntry(
            B,
            "succeeded",
            kind="draft",
            request={"z": 1, "content": [{"type": "text", "text": "hé"}], "a": True},
            task_id="t2",
            video_url="https://v/2.mp4",
            output=FileRef("outputs/spin.mp4", C, 1234),
            usage={"total_tokens": 5, "completion_tokens": 5},
            seed=7,
            created_at=1,
            updated_at=2,
        ),
        "spin[look=a]": LockEntry(
            A,
            "failed",
            api="unified",
            task_id="t1",
            error={"message": "policy", "code": "task_failed"},
        ),
    },
)

TEXT = f"""\
# seedrun lockfile: written by `seedrun apply`. Commit it next to the spec. \
Its last line is `# end of lockfile`.
version: 1
assets:
  "https://e.com/a.png":
    passed: false
    reason: "real person"
  "https://e.com/b.png":
    passed: true
    asset_url: "asset://a1"
jobs:
  "spin[look=a]":
    key: {A}
    status: failed
    api: unified
    task_id: t1
    error:
      code: task_failed
      message: policy
  "spin[look=b]":
    key: {B}
    status: succeeded
    api: official
    kind: draft
    task_id: t2
    video_url: "https://v/2.mp4"
    output:
      path: outputs/spin.mp4
      sha256: {C}
      bytes: 1234
    seed: 7
    usage:
      completion_tokens: 5
      total_tokens: 5
    created_at: 1
    updated_at: 2
    request: {{"a": true, "content": [{{"text": "hé", "type": "text"}}], "z": 1}}
# end of lockfile
"""


def test_dumps_is_canonical_text() -> None:
    assert dumps(LOCK) == TEXT


def test_dumps_does_not_depend_on_insertion_order() -> None:
    reordered = Lock(
        dict(reversed(list(LOCK.assets.items()))), dict(reversed(list(LOCK.jobs.items())))
    )
    assert dumps(reordered) == TEXT


def test_empty_lock() -> None:
    assert dumps(Lock()) == HEADER + "version: 1\njobs: {}\n# end of lockfile\n"
    assert loads(dumps(Lock()), "x.lock") == Lock()
    assert loads("", "x.lock") == Lock()


def test_round_trip() -> None:
    assert loads(TEXT, "x.lock") == LOCK
    assert dumps(loads(TEXT, "x.lock")) == TEXT


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
_entries = st.builds(
    LockEntry,
    key=st.sampled_from([A, B, C]),
    status=st.sampled_from(["queued", "running", "succeeded", "failed", "blocked", "unknown"]),
    api=st.sampled_from(["official", "unified"]),
    kind=st.sampled_from(["video", "draft", "final"]),
    # Integers past 64 bits are refused on reading (seedrun.limits): specs cannot make them.
    request=st.none()
    | st.dictionaries(_text, st.integers(-(2**63), 2**63 - 1) | _text | st.booleans()),
    task_id=st.none() | _text,
    output=st.none() | st.builds(FileRef, _text, st.just(C), st.integers(0, 2**40)),
    error=st.none() | st.fixed_dictionaries({"code": _text}, optional={"message": _text}),
    usage=st.none() | st.dictionaries(_text, st.integers(0, 10**9)),
    seed=st.none() | st.integers(-1, 2**32),
    updated_at=st.none() | st.integers(0, 2**40),
    submitted_at=st.none() | st.floats(0, 4e9),
    run_seconds=st.none() | st.floats(0, 1e6) | st.sampled_from([1e-05, 0.0, 5e-324]),
)
_assets = st.builds(
    AssetEntry, st.booleans(), st.none() | _text.filter(bool), st.none() | _text.filter(bool)
)


_locks = st.builds(Lock, st.dictionaries(_text, _assets), st.dictionaries(_text, _entries))


@settings(max_examples=100, deadline=None)
@given(_locks)
def test_loads_dumps_round_trip(lock: Lock) -> None:
    assert loads(dumps(lock), "x.lock") == lock


@settings(max_examples=100, deadline=None)
@given(_locks)
def test_the_text_is_yaml_with_the_same_data(lock: Lock) -> None:
    """Any YAML parser reads the text as the same data."""
    assert yaml.safe_load(dumps(lock)) == to_data(lock)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_field = st.sampled_from(
    ["key", "status", "api", "kind", "request", "task_id", "output", "error", "usage", "seed",
     "run_seconds", "submitted_at", "x"]
)


@settings(max_examples=300, deadline=None)
@given(
    _locks.map(to_data),
    st.lists(
        st.tuples(_field, st.one_of(_json, st.sampled_from([A, "failed", "draft"]))), max_size=3
    ),
)
def test_fast_validation_never_accepts_what_the_schema_refuses(
    data: dict[str, Any], edits: list[tuple[str, Any]]
) -> None:
    for job in list(data["jobs"].values())[:1]:
        for name, value in edits:
            job[name] = value
    validator = jsonschema.Draft202012Validator(lock_schema())
    if _plainly_valid(data):
        assert not list(validator.iter_errors(data))


@settings(max_examples=50, deadline=None)
@given(_locks)
def test_what_dumps_writes_takes_the_fast_path(lock: Lock) -> None:
    assert _plainly_valid(yaml.safe_load(dumps(lock)))


def test_hand_edited_yaml_still_loads() -> None:
    text = f"""\
version: 1
jobs:
  spin[look=b]:   # block style, bare keys and flow mappings: not what dumps writes
    key: {B}
    status: succeeded
    output: {{path: outputs/spin.mp4, sha256: {C}, bytes: 1234}}
"""
    assert loads(text, "x.lock") == Lock(
        {}, {"spin[look=b]": LockEntry(B, "succeeded", output=FileRef("outputs/spin.mp4", C, 1234))}
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "version: 1\njobs: [\n",
            "x.lock:2:7: not a valid lockfile: YAML syntax error: the '[' opened here is never "
            "closed (expected the node content, but found '<stream end>')",
        ),
        ("- 1\n", "x.lock:1: (top level): not a valid lockfile: [1] is not of type 'object'"),
        (
            "version: 2\njobs: {}\n",
            "x.lock:1: version: lockfile version 2 is not supported; this seedrun reads version 1",
        ),
        (
            f"version: 1\njobs:\n  a:\n    key: {A}\n    status: done\n",
            "x.lock:5: jobs.a.status: not a valid lockfile: 'done' is not one of "
            "['queued', 'running', 'succeeded', 'failed', 'blocked', 'unknown', 'cancelled']",
        ),
        (
            "version: 1\njobs:\n  a:\n    key: abc\n    status: failed\n",
            "x.lock:4: jobs.a.key: not a valid lockfile: 'abc' does not match '^[0-9a-f]{64}$'",
        ),
        (
            f"version: 1\njobs:\n  a:\n    key: {A}\n    status: failed\n    colour: red\n",
            "x.lock:6: jobs.a: not a valid lockfile: "
            "Additional properties are not allowed ('colour' was unexpected)",
        ),
        (
            f"version: 1\njobs:\n  a:\n    key: {A}\n    status: succeeded\n"
            "    run_seconds: -1\n",
            "x.lock:6: jobs.a.run_seconds: not a valid lockfile: -1 is less than the minimum of 0",
        ),
        (
            f"version: 1\njobs:\n  a:\n    key: {A}\n    status: succeeded\n"
            "    run_seconds: .nan\n",
            "x.lock:6: jobs.a: not a valid lockfile: not a number (NaN)",
        ),
        (
            f"version: 1\njobs:\n  a:\n    key: {A}\n    status: succeeded\n"
            '    submitted_at: "1770000000.5"\n',
            "x.lock:6: jobs.a.submitted_at: not a valid lockfile: "
            "'1770000000.5' is not of type 'number'",
        ),
    ],
)
def test_invalid_lockfile(text: str, message: str) -> None:
    with pytest.raises(LockError) as info:
        loads(text, "x.lock")
    assert str(info.value) == message


def test_fold_applies_journal_events_in_order() -> None:
    start = Lock({}, {"a": LockEntry(A, "queued", task_id="t1")})
    events = [
        job_event("a", LockEntry(A, "running", task_id="t1")),
        asset_event("https://e.com/p.png", AssetEntry(True, "asset://p")),
        job_event("b", LockEntry(B, "unknown")),
        job_event("a", LockEntry(A, "succeeded", task_id="t1", output=FileRef("o/a.mp4", C, 3))),
    ]
    assert fold(start, events) == Lock(
        {"https://e.com/p.png": AssetEntry(True, "asset://p")},
        {
            "a": LockEntry(A, "succeeded", task_id="t1", output=FileRef("o/a.mp4", C, 3)),
            "b": LockEntry(B, "unknown"),
        },
    )
    assert start.jobs["a"].status == "queued"  # folding never changes its input


def test_events_are_plain_data() -> None:
    assert job_event("a", LockEntry(A, "failed", kind="final", error={"code": "x"})) == {
        "job": "a",
        "entry": {
            "key": A,
            "status": "failed",
            "api": "official",
            "kind": "final",
            "error": {"code": "x"},
        },
    }
    assert asset_event("u", AssetEntry(False, reason="no")) == {
        "asset": "u",
        "entry": {"passed": False, "reason": "no"},
    }


# ---------------------------------------------------------------- damaged and hostile files


def test_a_lockfile_cut_at_any_line_boundary_is_refused() -> None:
    lines = TEXT.splitlines(keepends=True)
    assert lines[-1] == "# end of lockfile\n"
    for n in range(1, len(lines)):  # every proper prefix, from the header line on
        with pytest.raises(LockError) as info:
            loads("".join(lines[:n]), "jobs.lock")
        assert str(info.value) == (
            f"jobs.lock: truncated: the file ends at line {n} without its last line "
            "`# end of lockfile`; restore it from git (`git checkout -- jobs.lock`) or a backup"
        )
    assert loads(TEXT.rstrip("\n"), "jobs.lock") == LOCK  # only the final newline lost


def test_lockfiles_written_before_the_end_line_still_load() -> None:
    old = TEXT.replace(HEADER, OLD_HEADER).removesuffix(END)
    assert old.startswith("# seedrun lockfile: written by `seedrun apply`. Commit it next to")
    assert loads(old, "jobs.lock") == LOCK
    assert loads(old.removeprefix(OLD_HEADER), "jobs.lock") == LOCK  # and without any header


def test_conflict_markers_are_named_with_the_way_out() -> None:
    text = TEXT.replace("    status: failed\n", "<<<<<<< HEAD\n    status: failed\n=======\n"
                        "    status: running\n>>>>>>> other\n")
    with pytest.raises(LockError) as info:
        loads(text, "jobs.lock")
    assert str(info.value) == (
        "jobs.lock:13: the lockfile has unresolved git conflict markers (<<<<<<<); merge both "
        "sides with `seedrun lock merge --base :1:./jobs.lock :2:./jobs.lock :3:./jobs.lock "
        '-o jobs.lock`, and set up the merge driver (README, "Lockfiles and git") so that git '
        "merges lockfiles itself"
    )


def test_an_alias_bomb_in_a_request_is_refused() -> None:
    bomb = ["version: 1", "jobs:", "  a:", f"    key: {A}", "    status: succeeded",
            "    request:", "      l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    bomb += [f"      l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(LockError) as info:
        loads("\n".join(bomb) + "\n", "jobs.lock")
    assert str(info.value) == (
        "jobs.lock:8: not a valid lockfile: YAML aliases (*l0) are not allowed in a lockfile"
    )


@pytest.mark.parametrize("deep", [100, 200_000])
def test_a_request_nested_deep_is_refused(deep: int) -> None:
    request = "[" * deep + "]" * deep
    text = f"version: 1\njobs:\n  a:\n    key: {A}\n    status: queued\n    request: {request}\n"
    with pytest.raises(LockError) as info:
        loads(text, "jobs.lock")
    assert str(info.value) in (
        "jobs.lock:4: jobs.a: not a valid lockfile: nesting is deeper than 64 levels "
        "(see docs/limits.md)",
        # past libyaml's own limit of 1000, its own error is reworded
        "jobs.lock: not a valid lockfile: nesting is deeper than 64 levels (see docs/limits.md)",
    )


def test_a_huge_bad_value_is_quoted_short() -> None:
    with pytest.raises(LockError) as info:
        loads("9" * 4000 + "[" * 10 + "\n", "jobs.lock")
    assert str(info.value) == (
        "jobs.lock:1: (top level): not a valid lockfile: '" + "9" * 147 + " … "
        + "9" * 113 + "[[[[[[[[[[' is not of type 'object'"
    )
