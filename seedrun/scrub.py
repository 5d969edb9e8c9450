"""Remove the API key from anything a server says. Pure: no IO, no trio, no httpx.

A hostile or careless gateway may echo the key anywhere: in an error body, a
task's ``error.message``, ``revised_prompt``, a video URL, a ``Location``
header. The client scrubs the raw answer text before it is parsed, and every
string field of the parsed records after (JSON escapes such as ``\\u0073k-``
spell the key only once decoded), so nothing downstream (terminal, journal,
lockfile, report) ever holds it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
# A "key" shorter than this is no secret (a test's "k"); replacing it would garble
# every answer ("task" has a "k" in it), so it is left alone.
MIN_SECRET = 8

T = TypeVar("T")


class Scrubber:
    """Replaces the key, as written and as URL-encoded, with ``[redacted]``."""

    def __init__(self, secret: str) -> None:
        forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}
        if len(secret) < MIN_SECRET:
            forms = set()
        # Longest first, so an encoded form is not half-replaced by a shorter one.
        self._forms = sorted((f for f in forms if f), key=len, reverse=True)

    def __repr__(self) -> str:
        return "Scrubber(<hidden>)"

    def text(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text

    def value(self, value: Any) -> Any:
        """``value`` with every string inside it scrubbed (lists, tuples, dicts, records)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, tuple):
            return tuple(self.value(v) for v in value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self.record(value)
        return value

    def record(self, record: T) -> T:
        """A frozen dataclass with each field scrubbed (the same object if none changed)."""
        assert dataclasses.is_dataclass(record) and not isinstance(record, type)
        changes = {}
        for field in dataclasses.fields(record):
            old = getattr(record, field.name)
            new = self.value(old)
            if new != old:
                changes[field.name] = new
        return dataclasses.replace(record, **changes) if changes else record
