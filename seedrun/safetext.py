"""Text from a spec, a lockfile or a server, made safe to print to a terminal or CI log.

Such text is untrusted: a matrix value holding ``"\\n::error file=x::boom"``
would start a GitHub Actions workflow command once printed, and ``"\\x1b[2J"``
would clear the reader's terminal. Two functions, both pure:

- ``clean(text)`` for one value inside a line: every control character (C0,
  DEL, C1), line and paragraph separator and bidirectional override is
  written as a visible escape (``\\n``, ``\\x1b``, ``\\u202e``), so the value
  stays on its line and looks like what it is;
- ``guard(text)`` for whole output that seedrun laid out itself: newlines and
  tabs stay, every other such character is escaped, and a line that would
  start with ``::`` gets a backslash first, so no line is a workflow command.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, U+2028/2029 (line breaks to JavaScript and some logs),
# bidi embeddings, overrides and isolates (text that displays in another order),
# and the byte-order mark.
_UNSAFE = "\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff"
_UNSAFE_RE = re.compile(f"[{_UNSAFE}]")
# The same, less the newline and tab that seedrun's own output is laid out with.
_UNSAFE_IN_OUTPUT = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_COMMAND_LINE = re.compile(r"^([ \t]*):(?=:)", re.M)


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def unsafe_char(text: str) -> str | None:
    """The first character ``clean`` would escape, or None."""
    m = _UNSAFE_RE.search(text)
    return m.group() if m else None


def clean(text: str) -> str:
    """``text`` on one line, with every unsafe character escaped visibly."""
    return _UNSAFE_RE.sub(_escape, text)


def guard(text: str) -> str:
    """Output text with its own newlines and tabs kept and nothing else unsafe.

    A line starting with ``::`` (after blanks) gets a backslash before it.
    """
    return _COMMAND_LINE.sub(r"\1\\:", _UNSAFE_IN_OUTPUT.sub(_escape, text))


def json_text(text: str) -> str:
    """JSON written with ``ensure_ascii=False``, with the unsafe characters JSON leaves raw
    (DEL, C1, U+2028/2029, bidi controls) as ``\\uXXXX`` escapes: the same JSON value."""
    return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# JSON escapes C0 controls inside strings itself; raw ones are its own layout.
_RAW_IN_JSON = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
