"""The diagnostics found while expanding a spec, collected in one place. Pure."""

from __future__ import annotations

from seedrun.errors import Diagnostic
from seedrun.yamlload import Marks, Path


class Problems:
    """Every diagnostic of one spec, in the order found, each reported once.

    A matrix repeats one mistake in many combinations; ``once`` names the mistake
    so that it is reported at its path only the first time.
    """

    def __init__(self, marks: Marks, found: list[Diagnostic]) -> None:
        self.marks = marks
        self.found = found
        self._seen: set[tuple[Path, str]] = set()

    def add(self, path: Path, message: str, *, key: bool = False, once: str = "") -> None:
        """Record a diagnostic. ``once`` dedups an error repeated across matrix combinations."""
        tag = (path, once or message)
        if tag in self._seen:
            return
        self._seen.add(tag)
        self.found.append(self.marks.diag(path, message, key=key))


def a_or_an(word: str | None) -> str:
    """``word`` with its indefinite article: "an image", "a video"."""
    word = word or "unknown"
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"
