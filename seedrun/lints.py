"""Lints of an expanded spec: mistakes the schema cannot see. Pure.

Reserved names, ``extra`` fields that shadow modelled ones, matrix keys that
look like typos, prompts that refer to missing media or name asset IDs, and
media roles that do not fit their items.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from seedrun.errors import Diagnostic
from seedrun.matrix import ROWS, axes_of, matrix_keys
from seedrun.problems import Problems, a_or_an
from seedrun.protos import Chain, Media
from seedrun.render import is_template
from seedrun.requests import MODELLED_FIELDS, PARAMS
from seedrun.safetext import clean, unsafe_char
from seedrun.yamlload import Marks, Path

RESERVED_VAR = "job"
# The media type each role needs.
ROLE_TYPES = {
    "reference_image": "image",
    "first_frame": "image",
    "last_frame": "image",
    "reference_video": "video",
    "reference_audio": "audio",
}
PARAM_SET = frozenset(PARAMS)
# Scanned over the lower-cased prompt: several times faster than re.IGNORECASE.
_PROMPT_SCAN = re.compile(r"\b(image|video|audio)\s+(\d+)\b|asset://")


class Lints:
    """Reports into ``problems``; checks each job's media roles once per shape."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self._shapes: dict[tuple[Path, tuple[tuple[str, str | None], ...]], dict[str, int]] = {}
        self._checked: set[tuple[str, Path, frozenset[str], int, int, int]] = set()

    def reserved(self, path: Path) -> None:
        """The name at ``path`` is ``job``, which templates already use."""
        self.problems.add(
            path,
            f"{RESERVED_VAR!r} is reserved: templates see the job as "
            "job.name, job.index and job.id; pick another name",
            key=True,
        )

    def extra(self, extra: Mapping[str, Any] | None, path: Path) -> None:
        for key in extra or {}:
            if key in MODELLED_FIELDS:
                self.problems.add(
                    (*path, key),
                    f"extra field {key!r} shadows a modelled field; set {key} directly",
                    key=True,
                )

    def matrix(self, matrix: Mapping[str, Any], path: Path, raw: Mapping[str, Any]) -> None:
        """Axis names that look like typos, exclude keys that are no axis, reserved names."""
        axes = axes_of(matrix)
        for k in axes:
            if k == ROWS:
                continue
            near = difflib.get_close_matches(k, ["include", "exclude"], n=1, cutoff=0.75)
            close = difflib.get_close_matches(k, PARAMS, n=1, cutoff=0.8)
            if k == RESERVED_VAR:
                self.reserved((*path, k))
            elif near:
                self.problems.add(
                    (*path, k), f"unknown key {k!r}; did you mean {near[0]!r}?", key=True
                )
            elif k not in PARAM_SET and close and not _used_in_templates(k, raw):
                self.problems.add(
                    (*path, k),
                    f"unknown key {k!r}; did you mean {close[0]!r}? (a matrix key that is "
                    f"not a request parameter is a template variable, and no template uses {k})",
                    key=True,
                )
        for i, e in enumerate(matrix.get("extra") or ()):
            self.extra(e, (*path, "extra", i))
        keys = matrix_keys(matrix)  # a catalog's columns count as axes
        for i, entry in enumerate(matrix.get("exclude") or []):
            for k in entry:
                if k not in keys:
                    self.problems.add(
                        (*path, "exclude", i, k),
                        f"exclude names {k!r}, which is not a matrix axis; "
                        f"axes: {', '.join(keys) or '(none)'}",
                        key=True,
                    )
        for i, entry in enumerate(matrix.get("include") or []):
            if RESERVED_VAR in entry:
                self.reserved((*path, "include", i, RESERVED_VAR))
            self.extra(entry.get("extra"), (*path, "include", i, "extra"))

    def prompt(
        self, jid: str, prompt: str, counts: dict[str, int], ids: frozenset[str], path: Path
    ) -> None:
        """References to media the job lacks ("image 3" of two), and asset IDs in the text."""
        # Every problem found here is reported once per path and mistake, so a prompt
        # checked before with the same media needs no second look.
        seen = (prompt, path, ids, counts["image"], counts["video"], counts["audio"])
        if seen in self._checked:
            return
        self._checked.add(seen)
        for match in _PROMPT_SCAN.finditer(prompt.lower()):
            if match.group(1) is None:  # asset://
                self._asset_id_in_prompt(jid, path)
                continue
            kind, n = match.group(1), int(match.group(2))
            if n < 1 or n > counts[kind]:
                have = counts[kind]
                self.problems.add(
                    path,
                    f"job {jid}: the prompt refers to {kind} {n}, but the job has "
                    f"{have} {kind} item{'s' if have != 1 else ''}",
                    once=f"ref{kind}{n}",
                )
        if ids and any(_mentions(prompt, i) for i in ids):
            self._asset_id_in_prompt(jid, path)

    def _asset_id_in_prompt(self, jid: str, path: Path) -> None:
        self.problems.add(
            path,
            f"job {jid}: the prompt contains an asset ID; refer to media as "
            '"image 1", "video 1" or "audio 1" instead',
            once="assetid",
        )

    def media_counts(self, jid: str, media: list[Media], base: Path) -> dict[str, int]:
        """Items of each media type; checks the roles the first time a job shows a shape."""
        shape = tuple(("image" if isinstance(m, Chain) else m.type, m.role) for m in media)
        counts = self._shapes.get((base, shape))
        if counts is None:
            counts = {"image": 0, "video": 0, "audio": 0}
            for kind, _ in shape:
                counts[kind] += 1
            self._shapes[(base, shape)] = counts
            self._roles(jid, shape, base)
        return counts

    def _roles(self, jid: str, shape: tuple[tuple[str, str | None], ...], base: Path) -> None:
        roles = [r for _, r in shape]
        for i, (kind, role) in enumerate(shape):
            if role is None:
                continue
            path: Path = (*base, "media", i, "role")
            need = ROLE_TYPES[role]
            if kind != need:
                self.problems.add(
                    path,
                    f"job {jid}: role {role} is for {need} items, but this item is {a_or_an(kind)}",
                    once="type",
                )
            earlier = roles[:i]
            if role == "first_frame" and "first_frame" in earlier:
                self.problems.add(
                    path, f"job {jid}: two first_frame items; a job has at most one", once="2"
                )
            elif role == "last_frame" and "last_frame" in earlier:
                self.problems.add(
                    path, f"job {jid}: two last_frame items; a job has at most one", once="2"
                )
            elif role == "last_frame" and "first_frame" not in roles:
                self.problems.add(
                    path, f"job {jid}: last_frame needs a first_frame item too", once="lf"
                )


def _used_in_templates(name: str, raw: Mapping[str, Any]) -> bool:
    strings = [raw["prompt"]]
    for item in raw.get("media") or ():
        strings.extend(str(item[k]) for k in ("url", "from") if k in item)
    word = re.compile(rf"\b{re.escape(name)}\b")
    return any(is_template(s) and word.search(s) for s in strings)


@lru_cache(maxsize=1024)
def _mention_regex(asset_id: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(asset_id)}(?![\w-])")


def _mentions(prompt: str, asset_id: str) -> bool:
    return asset_id in prompt and _mention_regex(asset_id).search(prompt) is not None


def unprintable(data: Mapping[str, Any], marks: Marks) -> list[tuple[Path, Diagnostic]]:
    """Names, axis names and matrix values holding a control character, each located.

    They become job ids and file names, printed to terminals and CI logs, where
    a newline or an escape sequence could forge a line (see ``safetext``).
    """
    found: list[tuple[Path, Diagnostic]] = []

    def check(path: Path, text: Any, what: str, *, key: bool = False) -> None:
        if not isinstance(text, str):
            return
        ch = unsafe_char(text)
        if ch is not None:
            message = (
                f"{what} '{clean(text)}' contains a control character ({clean(ch)}); "
                "names and matrix values are printed to terminals and CI logs"
            )
            found.append((path, marks.diag(path, message, key=key)))

    for table, what in (("assets", "the asset name"), ("vars", "the variable name")):
        names = data.get(table)
        for name in names if isinstance(names, dict) else ():
            check((table, name), name, what, key=True)
    jobs = data.get("jobs")
    for j, job in enumerate(jobs if isinstance(jobs, list) else []):
        if not isinstance(job, dict):
            continue
        check(("jobs", j, "name"), job.get("name"), "the job name")
        matrix = job.get("matrix")
        if not isinstance(matrix, dict):
            continue
        base: Path = ("jobs", j, "matrix")
        for axis, values in matrix.items():
            check((*base, axis), axis, "the axis name", key=True)
            if axis not in ("include", "exclude") and isinstance(values, list):
                for i, v in enumerate(values):
                    check((*base, axis, i), v, "the matrix value")
        for i, entry in enumerate(matrix.get("include") or []):
            if isinstance(entry, dict):
                for k, v in entry.items():
                    check((*base, "include", i, k), k, "the axis name", key=True)
                    check((*base, "include", i, k), v, "the matrix value")
    return found
