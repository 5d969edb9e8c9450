"""Sharding: a stable partition of the jobs, chains kept whole."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest

from seedrun.errors import ConfigError
from seedrun.shard import chain_roots, in_shard, parse_shard, shard_index, shard_of


@dataclass(frozen=True)
class J:
    id: str
    deps: tuple[str, ...] = ()


IDS = [f"spin-{i:03d}" for i in range(300)]


def test_shard_index_is_sha256_of_the_id() -> None:
    digest = hashlib.sha256(b"city").digest()
    assert shard_index("city", 7) == int.from_bytes(digest[:8], "big") % 7
    assert {shard_index(i, 1) for i in IDS} == {0}


def test_shard_index_literal_values_never_change() -> None:
    # Literal: a change of hash would move every job of every sharded campaign.
    assert [shard_index(f"job-{k}", 3) for k in range(8)] == [0, 1, 2, 1, 0, 2, 1, 0]
    assert [shard_index(x, 2) for x in ("city", "spin-marble")] == [1, 1]


def test_shards_partition_the_jobs() -> None:
    jobs = [J(i) for i in IDS]
    parts = [in_shard(jobs, jobs, i, 4) for i in range(1, 5)]
    ids = [j.id for part in parts for j in part]
    assert sorted(ids) == sorted(IDS)  # every job once: disjoint and complete
    assert all(len(p) > 40 for p in parts)  # roughly even (expected 75 each)


def test_shards_are_stable_and_adding_a_job_moves_no_other() -> None:
    before = shard_of([J(i) for i in IDS], 5)
    assert before == shard_of([J(i) for i in reversed(IDS)], 5)
    after = shard_of([J(i) for i in [*IDS, "brand-new", "another"]], 5)
    assert {k: after[k] for k in before} == before
    removed = shard_of([J(i) for i in IDS[1:]], 5)
    assert {k: before[k] for k in removed} == removed


def test_a_chain_goes_to_its_roots_shard() -> None:
    jobs = [
        J("a"),
        J("a-next", ("a",)),
        J("a-next-next", ("a-next",)),
        J("draft"),
        J("draft#final", ("draft",)),
        J("x"),
        J("y"),
        J("xy", ("x", "y")),  # two sources: x and y go together, named by the smaller root
    ]
    assert chain_roots(jobs) == {
        "a": "a",
        "a-next": "a",
        "a-next-next": "a",
        "draft": "draft",
        "draft#final": "draft",
        "x": "x",
        "y": "x",
        "xy": "x",
    }
    shards = shard_of(jobs, 3)
    assert shards["a-next-next"] == shards["a-next"] == shards["a"] == shard_index("a", 3)
    assert shards["draft#final"] == shard_index("draft", 3)
    assert shards["y"] == shards["xy"] == shard_index("x", 3)


def test_in_shard_keeps_order_and_adds_dependencies() -> None:
    jobs = [J("a"), J("b"), J("a-next", ("a",)), J("c")]
    where = shard_of(jobs, 2)
    for i in (1, 2):
        part = in_shard(jobs, jobs, i, 2)
        assert [j.id for j in part] == [j.id for j in jobs if where[j.id] == i - 1]
    # A selection of one dependent brings its source along, in its shard only.
    chosen = [j for j in jobs if j.id == "a-next"]
    mine = where["a"] + 1
    assert [j.id for j in in_shard(jobs, chosen, mine, 2)] == ["a", "a-next"]
    assert in_shard(jobs, chosen, 3 - mine, 2) == []


@pytest.mark.parametrize(("text", "want"), [("1/1", (1, 1)), ("2/4", (2, 4)), (" 3 / 3 ", (3, 3))])
def test_parse_shard(text: str, want: tuple[int, int]) -> None:
    assert parse_shard(text) == want


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0/4", "--shard wants I/N with 1 <= I <= N, got '0/4'"),
        ("5/4", "--shard wants I/N with 1 <= I <= N, got '5/4'"),
        ("1/0", "--shard wants I/N with 1 <= I <= N, got '1/0'"),
        ("2", "--shard wants I/N (for example 1/4), got '2'"),
        ("a/b", "--shard wants I/N (for example 1/4), got 'a/b'"),
        ("-1/4", "--shard wants I/N (for example 1/4), got '-1/4'"),
    ],
)
def test_parse_shard_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_shard(text)
    assert str(exc.value) == message


def test_shard_index_refuses_zero_shards() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        shard_index("a", 0)
