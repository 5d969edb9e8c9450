"""A fast, canonical YAML codec for lockfiles. Pure.

PyYAML takes seconds per 10,000 lock entries in either direction, which a
campaign pays on every plan and apply. The lockfile is therefore written in a
strict subset of YAML that a line scanner reads back at JSON speed:

- block mappings two spaces deep, one ``key: value`` per line;
- keys bare when plain (see below), else JSON-quoted strings;
- every leaf value, and the request body, is JSON on one line (JSON scalars,
  arrays and objects are valid YAML flow nodes), except that a string made
  only of letters, digits and ``_ . / -``, starting with a letter, is written
  plain (``status: succeeded``), as YAML reads it back the same.

``loads`` returns None for text outside the subset (a hand-edited file), and
the caller falls back to a full YAML parser, so any valid YAML still loads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*\Z")
_JSON_START = frozenset('"{[-0123456789')
# Bare words YAML 1.1 would read as something other than a string.
_RESERVED = frozenset(
    [
        "y",
        "n",
        "yes",
        "no",
        "on",
        "off",
        "true",
        "false",
        "null",
        "Y",
        "N",
        "Yes",
        "No",
        "On",
        "Off",
        "True",
        "False",
        "Null",
        "YES",
        "NO",
        "ON",
        "OFF",
        "TRUE",
        "FALSE",
        "NULL",
    ]
)
# Characters YAML does not allow raw (and U+2028/2029, which it treats as line breaks).
_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")
_DECODER = json.JSONDecoder()


def _value(value: Any) -> str:
    if isinstance(value, str) and _PLAIN.match(value) and value not in _RESERVED:
        return value
    if type(value) is float:
        # YAML 1.1 (PyYAML) reads 1e-05 as a string: its floats need a dot.
        text = json.dumps(value)
        if "e" in text and "." not in text:
            mantissa, exponent = text.split("e")  # json always signs it: 1e-05, 1e+16
            text = f"{mantissa}.0e{exponent}"
        return text
    return _json(value)


def _json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _key(key: str) -> str:
    return key if _PLAIN.match(key) and key not in _RESERVED else _json(key)


def dumps(data: Mapping[str, Any], *, flow: frozenset[str] = frozenset()) -> str:
    """Block mappings for nested dicts, except keys in ``flow`` (one JSON line)."""
    lines: list[str] = []
    _emit(data, 0, flow, lines)
    return "\n".join(lines) + "\n"


def _emit(data: Mapping[str, Any], depth: int, flow: frozenset[str], out: list[str]) -> None:
    pad = "  " * depth
    for key, value in data.items():
        if isinstance(value, Mapping) and value and key not in flow:
            out.append(f"{pad}{_key(key)}:")
            _emit(value, depth + 1, flow, out)
        else:
            out.append(f"{pad}{_key(key)}: {_value(value)}")


def loads(text: str) -> dict[str, Any] | None:
    """Parse text written by ``dumps``; None when the text is outside the subset."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(-1, root)]
    pending: tuple[int, dict[str, Any], str] | None = None  # a key waiting for children
    try:
        for line in text.split("\n"):
            stripped = line.lstrip(" ")
            if not stripped or stripped.startswith("#"):
                continue
            indent = len(line) - len(stripped)
            if pending is not None:
                p_indent, p_parent, p_key = pending
                if indent <= p_indent:
                    return None  # `key:` with nothing under it is null in YAML; not ours
                child: dict[str, Any] = {}
                p_parent[p_key] = child
                stack.append((indent, child))
                pending = None
            while stack and indent < stack[-1][0]:
                stack.pop()
            if not stack or (indent != stack[-1][0] and stack[-1][0] != -1):
                return None
            if stack[-1][0] == -1:
                if indent != 0:
                    return None
                stack[-1] = (0, root)
            parent = stack[-1][1]
            if stripped.startswith('"'):
                key, end = _DECODER.raw_decode(stripped)
                if not isinstance(key, str):
                    return None
                rest = stripped[end:]
            else:
                name, colon, after = stripped.partition(":")
                if not colon or not _PLAIN.match(name) or name in _RESERVED:
                    return None
                key, rest = name, ":" + after
            if key in parent:
                return None
            if rest == ":":
                pending = (indent, parent, key)
            elif rest.startswith(": "):
                value = rest[2:]
                if value[:1] in _JSON_START or value in ("true", "false", "null"):
                    parent[key] = json.loads(value)
                elif _PLAIN.match(value) and value not in _RESERVED:
                    parent[key] = value
                else:
                    return None
            else:
                return None
    except ValueError:
        return None
    if pending is not None or not root:
        return None  # nothing of ours here: let the YAML parser decide
    return root
