"""Sandboxed jinja2 rendering: escapes refused, undefined names named, output exact."""

from __future__ import annotations

import time
from typing import Any

import jinja2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedrun import limits
from seedrun.render import RenderError, SpecBudget, render

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
        (
            "{{ 'x' * 1000000 }}",
            "template exceeds a limit: repeating a value would make more than 100,000 "
            "characters or items (see docs/limits.md)",
        ),
        (
            "{{ 2 ** 100000 }}",
            "template exceeds a limit: an integer of more than 100,000 bits (see docs/limits.md)",
        ),
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


_WIDTH = "a format width 1,000,000,000 is larger than 100,000"
_WORK = "more than 250,000 units of work"
_VALUE = "a value of more than 100,000 characters or items"
_OUTPUT = "output of more than 100,000 characters"
_MACRO = "{% macro m() %}{% for i in range(2000) %}" + "A" * 60 + "{% endfor %}{% endmacro %}"


@pytest.mark.parametrize(
    ("source", "limit"),
    [
        # Widths: each of these used to take gigabytes.
        ("{{ 'a' | center(1000000000) }}", "a center width 1,000,000,000 is larger than 100,000"),
        ("{{ '%1000000000d' % 1 }}", _WIDTH),
        ("{{ '{:>1000000000}'.format('a') }}", _WIDTH),
        ("{{ '{:{}}'.format('a', 10**9) }}", _WIDTH),
        ("{{ '{x:{w}}'.format_map({'x': 1, 'w': 10**9}) }}", _WIDTH),
        ("{{ '%*d' % (10**9, 1) }}", _WIDTH),
        ("{{ '%1000000000s' | format('a') }}", _WIDTH),
        ("{{ '{0:.1000000f}'.format(1.5) }}", "a format width 1,000,000 is larger than 100,000"),
        ("{{ 'a' | indent(10**9) }}", "an indent width 1,000,000,000 is larger than 100,000"),
        (
            "{{ 'a b' | wordwrap(1, wrapstring='x' * 50000) }}",
            "wordwrap would make more than 100,000 characters or items",
        ),
        ("{{ 'a'.ljust(10**9) }}", "a ljust width 1,000,000,000 is larger than 100,000"),
        ("{{ 'a'.zfill(10**9) }}", "a zfill width 1,000,000,000 is larger than 100,000"),
        (
            "{{ 'a\tb'.expandtabs(10**9) }}",
            "expandtabs would make more than 100,000 characters or items",
        ),
        (
            "{{ 'ab'.replace('', 'x' * 100000) }}",
            "replace would make more than 100,000 characters or items",
        ),
        (
            "{{ 'ab' | replace('', 'x' * 100000) }}",
            "replace would make more than 100,000 characters or items",
        ),
        (
            "{{ 'aaa'.translate({97: 'x' * 90000}) }}",
            "translate would make more than 100,000 characters or items",
        ),
        ("{{ (1).to_bytes(10**9, 'big') }}", "a byte length 1,000,000,000 is larger than 100,000"),
        ("{{ [1] | batch(10**9, 0) | list }}", "a batch size 1,000,000,000 is larger than 100,000"),
        ("{{ [1] | slice(10**9) | list }}", "a slice count 1,000,000,000 is larger than 100,000"),
        ("{{ 5 | round(-10**9, 'ceil') }}", "a round precision past 100"),
        ("{{ [1] | tojson(indent=10**9) }}", "a tojson indent past 100"),
        ("{{ ([[1] * 100] * 100) | sum(start=[]) }}", "sum with a start that is not a number"),
        # Arithmetic that spun the CPU.
        ("{{ ((10**1000)**1000)**1000 }}", "an integer of more than 100,000 bits"),
        ("{{ (2**99999) * (2**99999) }}", "an integer of more than 100,000 bits"),
        # Loops and recursion that never end in practice.
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            _WORK,
        ),
        (
            "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}"
            "{{ f(40) }}",
            _WORK,
        ),
        (
            "{% set big = range(100000) | list %}"
            "{% for i in range(100000) %}{% if 99999 in big %}{% endif %}{% endfor %}",
            _VALUE,
        ),
        # Values that share parts: tiny to build, huge to print or compare.
        ("{{ (['a' * 100000] * 1) * 100000 }}", _VALUE),
        ("{{ (['a' * 100000] * 100000) | join }}", _VALUE),
        (
            "{% set a = ['x' * 50000] %}{% set b = [a, a] %}{% set c = [b, b] %}{{ c }}",
            _VALUE,
        ),
        (
            "{% set a = ['x' * 50000] %}{% set b = [a, a] %}{% set c = [b, b] %}{{ c == c }}",
            _VALUE,
        ),
        # Output: directly, through `~`, inside a macro, inside a set block.
        ("{% for i in range(100000) %}" + "A" * 60 + "{% endfor %}", _OUTPUT),
        ("{{ 'x' * 100000 ~ 'y' * 100000 }}", _OUTPUT),
        (
            "{% set ns = namespace(x='a' * 1000) %}{% for i in range(40) %}"
            "{% set ns.x = ns.x ~ ns.x %}{% endfor %}{{ ns.x | length }}",
            _OUTPUT,
        ),
        (_MACRO + "{{ m() | length }}", _OUTPUT),
        (
            "{% set s %}{% for i in range(99999) %}AAAA{% endfor %}{% endset %}{{ s | length }}",
            _OUTPUT,
        ),
    ],
)
def test_hostile_templates_end_at_a_limit_within_a_second(source: str, limit: str) -> None:
    started = time.monotonic()
    with pytest.raises(RenderError) as info:
        render(source, CTX)
    # A hang bound, not a performance goal: each of these ran for minutes or ran out of memory.
    assert time.monotonic() - started < 5
    assert str(info.value) == f"template exceeds a limit: {limit} (see docs/limits.md)"


def test_the_spec_budget_is_shared_by_every_rendering() -> None:
    budget = SpecBudget(work=1_000)
    source = "{% for i in range(100) %}{{ i }}{% endfor %}"
    rendered = 0
    with pytest.raises(RenderError) as info:
        for _ in range(10):
            render(source, CTX, budget)
            rendered += 1
    assert rendered == 9  # 101 units each (the range call, 100 iterations): the tenth runs out
    assert str(info.value) == (
        "template exceeds a limit: the templates of this spec need more than 1,000 "
        "units of work in all (see docs/limits.md)"
    )


def test_the_clock_backs_up_the_units(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_RENDER_SECONDS", 0.0)
    assert render("{% for i in range(500) %}{% endfor %}ok", CTX) == "ok"  # read every 1,000
    with pytest.raises(RenderError) as info:
        render("{% for i in range(5000) %}{% endfor %}", CTX)
    assert str(info.value) == (
        "template exceeds a limit: rendering took too long (see docs/limits.md)"
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ 'ab' | center(6) }}|{{ 'x' | indent(2, first=True) }}", "  ab  |  x"),
        ("{{ '%05.1f' % 2.25 }} {{ '{:>4}'.format(7) }}", "002.2    7"),
        ("{{ [1, 2, 3] | join(',') }} {{ ['a', 'b'] | batch(1) | list | length }}", "1,2,3 2"),
        ("{{ 'a-b'.replace('-', '+') }} {{ 2 ** 10 }} {{ [1] * 3 }}", "a+b 1024 [1, 1, 1]"),
        ("{% for i in range(3) if i != 1 %}{{ loop.index }}{{ i }}{% endfor %}", "1022"),
        ("{{ 1 < n < 5 }} {{ 'b' in brand }} {{ n == 3 }} {{ [1] ~ 'x' }}", "True False True [1]x"),
        ("{{ ('x' * 100000) | length }}", "100000"),
    ],
)
def test_honest_templates_keep_rendering_under_the_limits(source: str, expected: str) -> None:
    assert render(source, CTX) == expected


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
