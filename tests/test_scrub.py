"""The key scrubber as a pure function."""

from __future__ import annotations

from seedrun.models import Moderation, TaskState
from seedrun.scrub import Scrubber

KEY = "sk-live/0123+4567 SECRET"


def test_every_spelling_of_the_key_is_replaced() -> None:
    s = Scrubber(KEY)
    text = (
        f"raw {KEY} | quoted sk-live%2F0123%2B4567%20SECRET | path sk-live/0123%2B4567%20SECRET"
        " | form sk-live%2F0123%2B4567+SECRET"
    )
    assert s.text(text) == "raw [redacted] | quoted [redacted] | path [redacted] | form [redacted]"


def test_records_and_nested_values() -> None:
    s = Scrubber(KEY)
    state = TaskState(
        task_id="t",
        status="failed",
        error_message=f"bad {KEY}",
        usage=((KEY, 3),),
    )
    assert s.record(state) == TaskState(
        task_id="t", status="failed", error_message="bad [redacted]", usage=(("[redacted]", 3),)
    )
    clean = Moderation("https://x.example/a.png", False, None, "fine")
    assert s.record(clean) is clean  # nothing to change: the same object
    assert s.value({"a": [KEY, 1, None]}) == {"a": ["[redacted]", 1, None]}


def test_a_key_too_short_to_be_a_secret_is_left_alone() -> None:
    # Replacing "k" would turn every "task" into "tas[redacted]".
    assert Scrubber("k").text("task k") == "task k"
    assert repr(Scrubber(KEY)) == "Scrubber(<hidden>)"
