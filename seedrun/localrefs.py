"""Local files as the pure core sees them: facts, stand-in references, the lookup seam. Pure.

A spec may name local files: images (``file:`` in an asset or a media item) and
catalogs (``matrix: {rows: products.csv}``). The core never opens them. The shell
that loads the spec (``seedrun.files``) hands ``load_spec`` a ``FileLookup``, which
reads, checks and hashes each file on demand (``seedrun.localfiles``); the core
only sees the answers, as records.

An image's identity is its content: in a request body it is the stand-in
``seedrun://file/<sha256><ext>``, so the job key changes when the bytes change
and not when the file is renamed or moved. At run time the stand-in is replaced
by the uploaded object's public URL (``seedrun.uploads``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

FILE_SCHEME = "seedrun://file/"


@dataclass(frozen=True)
class LocalFile:
    """A checked local image: where it is, what it holds."""

    written: str  # as the spec wrote it (relative to the spec's folder)
    path: str  # absolute path on disk
    sha256: str
    ext: str  # the canonical extension of its format: ".png", ".jpg", ...
    bytes: int
    width: int
    height: int

    @property
    def ref(self) -> str:
        return file_ref(self.sha256, self.ext)

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(self.ext, "application/octet-stream")


@dataclass(frozen=True)
class Table:
    """A catalog file's text, read by the shell; ``seedrun.catalog`` parses it."""

    written: str
    text: str


CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".tiff": "image/tiff",
    ".gif": "image/gif",
    ".heic": "image/heic",
    ".heif": "image/heif",
}


def file_ref(sha256: str, ext: str) -> str:
    return f"{FILE_SCHEME}{sha256}{ext}"


def is_file_ref(url: str) -> bool:
    return url.startswith(FILE_SCHEME)


class FileLookup(Protocol):
    """What the core asks of the disk. A ``str`` answer is the problem, in words."""

    def image(self, written: str) -> LocalFile | str: ...

    def table(self, written: str) -> Table | str: ...


class NoFiles:
    """The lookup of a spec that was not read from disk (text given directly)."""

    def image(self, written: str) -> LocalFile | str:
        return "local files need the spec to be read from a file"

    def table(self, written: str) -> Table | str:
        return "local files need the spec to be read from a file"


def refs_in(value: object, approved: dict[str, str]) -> set[str]:
    """Stand-ins in a recorded request; an ``asset://`` URL counts as the image it approved."""
    found: set[str] = set()
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if is_file_ref(v):
                found.add(v)
            elif v in approved:
                found.add(approved[v])
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return found


def image_change(old: set[str], new: set[str], names: dict[str, str]) -> str | None:
    """Why a job's key changed, when its local images did: ``image a.png changed (...)``."""
    gone, added = sorted(old - new), sorted(new - old)
    if not added:
        return None
    shown = ", ".join(names.get(r, r) for r in added)
    if len(gone) == len(added) == 1:
        return f"image {shown} changed ({_short(gone[0])} -> {_short(added[0])})"
    return f"image{'s' if len(added) > 1 else ''} {shown} changed"


def _short(ref: str) -> str:
    return ref[len(FILE_SCHEME) :][:12]
