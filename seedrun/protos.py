"""A job between rendering and its record, and the media it holds meanwhile. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from seedrun.requests import MediaItem
from seedrun.yamlload import Path


class Chain(NamedTuple):
    """A media item that is another job's last frame, known once that job ran."""

    source: str  # the source job's id
    role: str | None
    path: Path


Media = MediaItem | Chain


@dataclass(slots=True)
class Proto:
    """A job after rendering, before its body and key exist."""

    id: str
    name: str
    index: int
    api: str
    params: dict[str, Any]
    prompt: str
    media: list[Media]
    matrix: tuple[tuple[str, Any], ...]
    path: Path
    line: int
    deps: tuple[str, ...] = ()
    fixed: bool = False  # media is the job's shared list of plain items
