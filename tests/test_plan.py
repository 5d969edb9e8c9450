"""Planning: each action, orphans, --replace, --select, and cascading keys."""

from __future__ import annotations

import textwrap

from seedrun.lockfile import AssetEntry, FileRef, Lock, LockEntry
from seedrun.plan import ACTIONS, CREATES, Options, PlanItem, counts, plan
from seedrun.spec import Job, Spec, load_spec

SPEC = """\
version: 1
assets:
  face: {url: "https://example.com/face.png", moderate: true}
jobs:
  - name: shot
    prompt: "A {{ look }} room."
    matrix: {look: [dark, light, dim, warm, cold, grey, blue]}
  - name: hero
    prompt: Use image 1.
    media: [{asset: face, role: reference_image}]
  - name: next
    prompt: Continue from image 1.
    media: [{from: "shot[look=dark]", role: first_frame}]
"""
VIDEO = FileRef("outputs/x.mp4", "0" * 64, 10)


def load(text: str = SPEC) -> Spec:
    return load_spec(textwrap.dedent(text), "spec.yaml")


def done(job: Job, **changes: object) -> LockEntry:
    entry = LockEntry(job.key, "succeeded", task_id=f"t-{job.id}", output=VIDEO)
    return entry.with_(**changes)


def test_every_action() -> None:
    spec = load()
    j = spec.by_id()
    lock = Lock(
        {"https://example.com/face.png": AssetEntry(False, reason="real person")},
        {
            "shot[look=dark]": done(j["shot[look=dark]"]),
            "shot[look=light]": done(j["shot[look=light]"], key="f" * 64),
            "shot[look=dim]": done(j["shot[look=dim]"], status="running"),
            "shot[look=warm]": done(
                j["shot[look=warm]"], status="failed", error={"code": "x", "message": "policy"}
            ),
            "shot[look=cold]": done(j["shot[look=cold]"], status="unknown"),
            "shot[look=grey]": done(j["shot[look=grey]"], output=None),
            "hero": done(j["hero"], status="blocked"),
            "gone": LockEntry("e" * 64, "succeeded"),
        },
    )
    assert plan(spec.jobs, lock) == [
        PlanItem("shot[look=dark]", "unchanged", j["shot[look=dark]"].key),
        PlanItem(
            "shot[look=light]",
            "replace",
            j["shot[look=light]"].key,
            "request changed",
            "f" * 64,
        ),
        PlanItem(
            "shot[look=dim]", "resume", j["shot[look=dim]"].key, "task t-shot[look=dim] is running"
        ),
        PlanItem("shot[look=warm]", "retry", j["shot[look=warm]"].key, "x: policy"),
        PlanItem(
            "shot[look=cold]",
            "unknown",
            j["shot[look=cold]"].key,
            "a create request was in flight when the run stopped",
        ),
        PlanItem(
            "shot[look=grey]", "download", j["shot[look=grey]"].key, "video not downloaded yet"
        ),
        PlanItem("shot[look=blue]", "create", j["shot[look=blue]"].key),
        PlanItem(
            "hero", "blocked", j["hero"].key, "asset https://example.com/face.png failed moderation"
        ),
        PlanItem("next", "create", j["next"].key),
        PlanItem("gone", "orphan", "e" * 64, "no longer in the spec"),
    ]


def test_options_change_failed_unknown_and_download_actions() -> None:
    spec = load()
    j = spec.by_id()
    lock = Lock(
        {},
        {
            "shot[look=warm]": done(j["shot[look=warm]"], status="cancelled"),
            "shot[look=cold]": done(j["shot[look=cold]"], status="unknown"),
            "shot[look=grey]": done(j["shot[look=grey]"], output=None),
            "hero": done(j["hero"], status="blocked"),
        },
    )
    options = Options(retry_failed=False, resubmit_unknown=True, download=False)
    items = {i.id: i for i in plan(spec.jobs, lock, options)}
    assert items["shot[look=warm]"] == PlanItem(
        "shot[look=warm]", "skip", j["shot[look=warm]"].key, "cancelled (--no-retry-failed)"
    )
    assert items["shot[look=cold]"] == PlanItem(
        "shot[look=cold]",
        "create",
        j["shot[look=cold]"].key,
        "--resubmit-unknown: a create request was in flight when the run stopped",
    )
    assert items["shot[look=grey]"] == PlanItem(
        "shot[look=grey]", "unchanged", j["shot[look=grey]"].key
    )
    # No rejection on record any more: a blocked job is tried again.
    assert items["hero"] == PlanItem("hero", "create", j["hero"].key, "was blocked")


def test_replace_forces_new_tasks_except_in_flight() -> None:
    spec = load()
    j = spec.by_id()
    lock = Lock(
        {},
        {
            "shot[look=dark]": done(j["shot[look=dark]"]),
            "shot[look=dim]": done(j["shot[look=dim]"], status="queued"),
            "hero": done(j["hero"]),
        },
    )
    items = plan(spec.jobs, lock, Options(replace=("shot*",)))
    assert [(i.id, i.action, i.reason) for i in items] == [
        ("shot[look=dark]", "replace", "--replace"),
        ("shot[look=light]", "create", ""),
        ("shot[look=dim]", "resume", "task t-shot[look=dim] is queued"),
        ("shot[look=warm]", "create", ""),
        ("shot[look=cold]", "create", ""),
        ("shot[look=grey]", "create", ""),
        ("shot[look=blue]", "create", ""),
        ("hero", "unchanged", ""),
        ("next", "create", ""),
    ]
    assert items[0].old_key == j["shot[look=dark]"].key


def test_select_plans_dependencies_and_lists_no_orphans() -> None:
    spec = load()
    lock = Lock({}, {"gone": LockEntry("e" * 64, "succeeded")})
    items = plan(spec.jobs, lock, Options(select=("next",)))
    assert [(i.id, i.action) for i in items] == [("shot[look=dark]", "create"), ("next", "create")]


CHAIN = """\
version: 1
jobs:
  - name: shot
    prompt: "A {{ look }} room."
    matrix: {look: [dark, light]}
  - name: next
    prompt: Continue from image 1.
    media: [{from: "shot[look=dark]", role: first_frame}]
  - name: last
    prompt: Continue from image 1.
    media: [{from: next, role: first_frame}]
  - name: other
    prompt: Unrelated.
"""


def test_cascade_changes_dependents_and_nothing_else() -> None:
    before = load(CHAIN)
    # Change the request of shot[look=dark] only.
    after = load(
        CHAIN.replace(
            "A {{ look }} room.", "A {{ look }} {{ 'hall' if look == 'dark' else 'room' }}."
        )
    )
    old = {j.id: j.key for j in before.jobs}
    new = {j.id: j.key for j in after.jobs}
    assert old.keys() == new.keys()
    assert sorted(k for k in old if old[k] != new[k]) == ["last", "next", "shot[look=dark]"]
    lock = Lock({}, {j.id: done(j) for j in before.jobs})
    assert [(i.id, i.action) for i in plan(after.jobs, lock)] == [
        ("shot[look=dark]", "replace"),
        ("shot[look=light]", "unchanged"),
        ("next", "replace"),
        ("last", "replace"),
        ("other", "unchanged"),
    ]


def test_counts_follow_the_action_order() -> None:
    items = [
        PlanItem("a", "unchanged", "k"),
        PlanItem("b", "create", "k"),
        PlanItem("c", "orphan", "k"),
        PlanItem("d", "create", "k"),
    ]
    assert counts(items) == {"create": 2, "unchanged": 1, "orphan": 1}
    assert list(counts(items)) == [a for a in ACTIONS if a in ("create", "unchanged", "orphan")]
    assert CREATES == ("create", "replace", "retry")
    assert counts([]) == {}


def test_an_unknown_job_is_never_replaced_without_resubmit_unknown() -> None:
    spec = load()
    j = spec.by_id()
    unknown = LockEntry("f" * 64, "unknown", error={"code": "create_unknown", "message": "m"})
    lock = Lock({}, {"shot[look=dark]": unknown})
    items = {i.id: i for i in plan(spec.jobs, lock, Options(replace=("shot*",)))}
    assert items["shot[look=dark]"] == PlanItem(
        "shot[look=dark]", "unknown", j["shot[look=dark]"].key, "create_unknown: m"
    )
    items = {i.id: i for i in plan(spec.jobs, lock, Options(resubmit_unknown=True))}
    assert items["shot[look=dark]"].action == "replace"


def test_a_task_that_outlived_its_deadline_is_resumed_not_retried() -> None:
    spec = load()
    key = spec.by_id()["hero"].key
    timed_out = LockEntry(key, "unknown", task_id="t-9", error={"code": "timeout", "message": "m"})
    items = {i.id: i for i in plan(spec.jobs, Lock({}, {"hero": timed_out}))}
    assert items["hero"] == PlanItem(
        "hero", "resume", key, "task t-9 outlived its deadline; it may still finish"
    )
    items = {
        i.id: i
        for i in plan(spec.jobs, Lock({}, {"hero": timed_out}), Options(resubmit_unknown=True))
    }
    assert items["hero"].action == "create"
