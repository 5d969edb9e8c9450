"""Untrusted text printed to terminals and CI logs: no forged lines, no escape sequences."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from seedrun.safetext import clean, guard, json_text, unsafe_char


def test_clean_escapes_every_control_character_visibly() -> None:
    assert clean("nl\n::error file=x::boom") == "nl\\n::error file=x::boom"
    assert clean("a\rb\tc\x1b[2J\x9b\x7f\u2028\u2029\u202e\ufeff") == (
        "a\\rb\\tc\\x1b[2J\\x9b\\x7f\\u2028\\u2029\\u202e\\ufeff"
    )
    assert clean("plain: héllo, 16:9 [x=1]") == "plain: héllo, 16:9 [x=1]"
    assert unsafe_char("ok\x00") == "\x00"
    assert unsafe_char("ok") is None


def test_guard_keeps_layout_and_breaks_workflow_commands() -> None:
    assert guard("create  a\n::error file=x::boom\n  ::warning::w\ttab\x1b[31m\r") == (
        "create  a\n\\::error file=x::boom\n  \\::warning::w\ttab\\x1b[31m\\r"
    )
    assert guard("a :: b\n") == "a :: b\n"


def test_json_text_is_the_same_json_value() -> None:
    value = {"p": "a\u2028b\x85c\u202e\n"}
    text = json_text(json.dumps(value, ensure_ascii=False))
    assert text == '{"p": "a\\u2028b\\u0085c\\u202e\\n"}'
    assert json.loads(text) == value


@given(st.text())
def test_no_cleaned_or_guarded_text_starts_a_command_or_an_escape(text: str) -> None:
    for line in guard(text).split("\n"):
        assert not line.lstrip(" \t").startswith("::")
    for out in (clean(text), guard(text)):
        assert "\x1b" not in out and "\r" not in out and "\x9b" not in out
    assert "\n" not in clean(text)
