"""Sandboxed jinja2 rendering: escapes refused, undefined names named, output exact."""

from __future__ import annotations

from typing import Any

import jinja2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedrun.render import RenderError, render

CTX: dict[str, Any] = {"brand": "Lumen", "n": 3, "job": {"name": "spin", "index": 0, "id": "spin"}}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("plain text", "plain text"),
        ("The {{ brand }} bottle", "The Lumen bottle"),
        ("{{ brand | lower }}-{{ n + 1 }}", "lumen-4"),
        ("{{ job.id }}/{{ job['index'] }}", "spin/0"),
        ("{% for i in range(n) %}{{ i }}{% endfor %}", "012"),
        ("a {{- brand -}} b", "aLumenb"),
        ("ends with a newline {{ n }}\n", "ends with a newline 3\n"),
        ("{{ n }}\n\n", "3\n\n"),
        ("{# a comment #}x", "x"),
    ],
)
def test_renders(source: str, expected: str) -> None:
    assert render(source, CTX) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "{{ ''.__class__.__mro__ }}",
            "template refused by the sandbox: "
            "access to attribute '__class__' of 'str' object is unsafe.",
        ),
        (
            "{{ brand.__class__.__base__.__subclasses__() }}",
            "template refused by the sandbox: "
            "access to attribute '__class__' of 'str' object is unsafe.",
        ),
        (
            "{{ job.__init__.__globals__ }}",
            "template refused by the sandbox: "
            "access to attribute '__init__' of 'dict' object is unsafe.",
        ),
        (
            "{{ cycler.__init__.__globals__.os }}",
            "template refused by the sandbox: "
            "access to attribute '__init__' of 'type' object is unsafe.",
        ),
        ("{{ 'x' * 1000000 }}", "template refused by the sandbox: result too large"),
        ("{{ 2 ** 100000 }}", "template refused by the sandbox: exponent too large"),
        (
            "{{ range(10**9) | list }}",
            "template error: OverflowError: Range too big. "
            "The sandbox blocks ranges larger than MAX_RANGE (100000).",
        ),
    ],
)
def test_sandbox_escapes_are_refused(source: str, message: str) -> None:
    with pytest.raises(RenderError) as info:
        render(source, CTX)
    assert str(info.value) == message


def test_undefined_variable_is_named_with_the_defined_ones() -> None:
    with pytest.raises(RenderError) as info:
        render("on a {{ backdrop }} backdrop", CTX)
    assert str(info.value) == "undefined template variable 'backdrop'; defined: brand, job, n"


def test_undefined_variable_in_a_full_template_is_named_too() -> None:
    with pytest.raises(RenderError) as info:
        render("{{ backdrop | upper }}", CTX)
    assert str(info.value) == "undefined template variable 'backdrop'; defined: brand, job, n"


def test_undefined_attribute() -> None:
    with pytest.raises(RenderError) as info:
        render("{{ job.nope }}", CTX)
    assert str(info.value) == "undefined template value: 'dict object' has no attribute 'nope'"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ [1, 2] | random }}", "template syntax error: No filter named 'random'."),
        ("{{ lipsum() }}", "undefined template variable 'lipsum'; defined: brand, job, n"),
        ("{{ brand }", "template syntax error: unexpected '}'"),
        ("{{ 1 / 0 }}", "template error: ZeroDivisionError: division by zero"),
        (
            '{% include "x.txt" %}',
            "template error: TypeError: no loader for this environment specified",
        ),
        (
            "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
            "template error: recursion too deep",
        ),
    ],
)
def test_nondeterminism_and_failures_are_errors(source: str, message: str) -> None:
    with pytest.raises(RenderError) as info:
        render(source, CTX)
    assert str(info.value) == message


_names = st.sampled_from(["brand", "n", "flag", "none", "ratio"])
_text = st.text(alphabet="ab {}%#-\n", max_size=6).filter(
    lambda t: "{{" not in t and "{%" not in t and "{#" not in t and not t.endswith("{")
)


@given(st.lists(st.one_of(_text, _names.map(lambda n: "{{ " + n + " }}")), max_size=6))
def test_fast_path_renders_exactly_like_jinja2(pieces: list[str]) -> None:
    """Text with plain ``{{ name }}`` skips jinja2's machinery; the output must not differ."""
    source = "".join(pieces)
    ctx = {"brand": "Lumen", "n": 3, "flag": True, "none": None, "ratio": 1.5}
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    try:
        expected = env.from_string(source).render(ctx)
    except jinja2.TemplateSyntaxError:
        return
    assert render(source, ctx) == expected
