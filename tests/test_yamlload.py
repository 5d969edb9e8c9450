"""YAML with marks: plain JSON-like data, node positions, and located errors."""

from __future__ import annotations

import textwrap

import pytest

from seedrun.errors import SpecError
from seedrun.yamlload import Marks, format_path, load_yaml


def errors(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_yaml(textwrap.dedent(text), "s.yaml")
    return [str(d) for d in info.value.diagnostics]


def test_data_and_marks() -> None:
    data, marks = load_yaml("a: 1\nlist:\n  - x: true\n    y: [1, 2]\n", "s.yaml")
    assert data == {"a": 1, "list": [{"x": True, "y": [1, 2]}]}
    assert marks.values[()] == (1, 1)
    assert marks.keys[("list",)] == (2, 1)
    assert marks.values[("list", 0)] == (3, 5)
    assert marks.keys[("list", 0, "y")] == (4, 5)
    assert marks.values[("list", 0, "y", 1)] == (4, 12)


def test_marks_fall_back_to_the_closest_parent() -> None:
    marks = Marks("s.yaml", values={(): (1, 1), ("a",): (2, 3)}, keys={("a",): (2, 1)})
    assert marks.at(("a", "b", 0)) == (2, 3)
    assert marks.at(("a",), key=True) == (2, 1)
    assert marks.at(("a", "missing"), key=True) == (2, 1)
    assert marks.at(("zzz",)) == (1, 1)
    assert str(marks.diag(("a", 0, "b"), "bad")) == "s.yaml:2:3: a[0].b: bad"


def test_format_path() -> None:
    assert format_path(("jobs", 1, "matrix", "ratio")) == "jobs[1].matrix.ratio"
    assert format_path((0, "a")) == "[0].a"
    assert format_path(()) == ""


def test_empty_document() -> None:
    assert load_yaml("", "s.yaml")[0] is None
    assert load_yaml("# only a comment\n", "s.yaml")[0] is None


def test_timestamps_stay_text_and_keys_are_their_text() -> None:
    data, _ = load_yaml("day: 2024-01-02\n1: one\non: yes\nnull: ~\n", "s.yaml")
    assert data == {"day": "2024-01-02", "1": "one", "on": True, "null": None}


def test_base_60_numbers_stay_text() -> None:
    data, _ = load_yaml("ratio: 16:9\nother: 1:30.5\nplain: 1_000\n", "s.yaml")
    assert data == {"ratio": "16:9", "other": "1:30.5", "plain": 1000}


def test_duplicate_keys() -> None:
    assert errors(
        """\
        a: 1
        b:
          c: 1
          c: 2
        a: 3
        """
    ) == [
        "s.yaml:4:3: b.c: duplicate key 'c' (first at line 3)",
        "s.yaml:5:1: a: duplicate key 'a' (first at line 1)",
    ]


def test_merge_keys_may_be_overridden() -> None:
    text = "base: &b {ratio: '16:9', seed: 1}\njob:\n  <<: *b\n  seed: 2\n"
    data, marks = load_yaml(text, "s.yaml")
    assert data["job"] == {"ratio": "16:9", "seed": 2}
    assert marks.keys[("job", "seed")] == (4, 3)


def test_syntax_error_gives_its_line() -> None:
    assert errors("a: [1, 2\nb: 3\n") == [
        "s.yaml:2:2: YAML syntax error: expected ',' or ']', but got ':' "
        "(inside the '[' opened at line 1, column 4)"
    ]
    assert errors("a: 1\n\tb: 2\n") == [
        "s.yaml:2:1: YAML syntax error: found character '\\t' that cannot start any token"
    ]


def test_two_documents() -> None:
    assert errors("a: 1\n---\nb: 2\n") == [
        "s.yaml:2:1: YAML syntax error: "
        "expected a single document in the stream, but found another document"
    ]


def test_python_tags_are_refused() -> None:
    assert errors("a: !!python/object:os.system x\n") == [
        "s.yaml:1:4: YAML syntax error: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object:os.system'"
    ]


def test_values_json_cannot_hold() -> None:
    assert errors("a: .nan\nb: !!binary aGk=\nc: -.inf\n") == [
        "s.yaml:1:4: a: '.nan' is not a finite number",
        "s.yaml:2:4: b: unsupported YAML type 'tag:yaml.org,2002:binary'; use strings and numbers",
        "s.yaml:3:4: c: '-.inf' is not a finite number",
    ]


def test_complex_keys() -> None:
    assert errors("? [a, b]\n: 1\n") == ["s.yaml:1:3: keys must be plain scalars"]


def test_recursive_alias() -> None:
    # An alias is its anchor's node, so the mark is the anchor's.
    assert errors("a: &x\n  b: *x\n") == ["s.yaml:1:4: a.b: recursive YAML alias"]


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    [message] = errors("\n".join(lines) + "\n")
    assert message.endswith(": YAML aliases expand too far")


def test_deep_nesting() -> None:
    # The 65th `[` is at column 68; past libyaml's own limit the mark is where it gave up.
    assert errors("a: " + "[" * 600 + "]" * 600 + "\n") == [
        "s.yaml:1:68: a[0][0]...: nesting is deeper than 64 levels (see docs/limits.md)"
    ]
    assert errors("a: " + "[" * 200_000 + "]" * 200_000 + "\n") == [
        "s.yaml:1:1003: nesting is deeper than 64 levels (see docs/limits.md)"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: {x: 1\n", "s.yaml:1:4: YAML syntax error: the '{' opened here is never closed "
         "(expected ',' or '}', but got '<stream end>')"),
        ("a: [1, 2\n\n\n", "s.yaml:1:4: YAML syntax error: the '[' opened here is never closed "
         "(expected ',' or ']', but got '<stream end>')"),
        ('a: "abc\nb: 1\n', "s.yaml:1:4: YAML syntax error: the quoted string opened here is "
         "never closed (found unexpected end of stream)"),
        ("x: [a, {b: [c]]\n", "s.yaml:1:15: YAML syntax error: expected ',' or '}', but got ']' "
         "(inside the '{' opened at line 1, column 8)"),
    ],
)
def test_an_unclosed_construct_is_named_where_it_opened(text: str, message: str) -> None:
    assert errors(text) == [message]


@pytest.mark.parametrize("number", ["9" * 5000, "0x" + "f" * 5000, "9223372036854775808"])
def test_integers_longer_than_64_bits_are_refused(number: str) -> None:
    assert errors(f"n: {number}\nok: 9223372036854775807\n") == [
        "s.yaml:1:4: n: integer too large (more than 64 bits)"
    ]
