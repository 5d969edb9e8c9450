"""Spec file -> validated, expanded campaign. Pure: no network, no trio.

Raw YAML becomes typed records exactly once, here. Every problem found is
reported with its file, line and column, and all of them are reported at once:
schema errors first stop only the job they are in, so the lints of the other
jobs are reported alongside them.
"""

from __future__ import annotations

import difflib
import gc
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import PurePosixPath
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import jsonschema

from seedrun import api_facts
from seedrun.errors import Diagnostic, SpecError
from seedrun.matrix import axes_of, canonical_id, excluded, expand, job_id
from seedrun.render import RenderError, is_template, render
from seedrun.requests import (
    MODELLED_FIELDS,
    PARAMS,
    MediaItem,
    Slot,
    build_body,
    build_final_body,
    content_key,
    last_frame_placeholder,
)
from seedrun.yamlload import Marks, Path, load_yaml

FINAL_SUFFIX = "#final"
DEFAULT_MAX_IN_FLIGHT = 10
DEFAULT_RPS = 5.0
INTEGER_PARAMS = ("duration", "seed", "execution_expires_after")
RESERVED_VAR = "job"
# The media type each role needs.
ROLE_TYPES = {
    "reference_image": "image",
    "first_frame": "image",
    "last_frame": "image",
    "reference_video": "video",
    "reference_audio": "audio",
}


@dataclass(frozen=True)
class Asset:
    name: str
    url: str
    type: str
    moderate: bool


@dataclass(frozen=True)
class Settings:
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    requests_per_second: float = DEFAULT_RPS
    base_url: str | None = None
    task_timeout: float | None = None
    poll_min_interval: float = 1.0
    price_per_million_tokens: float | None = None
    budget_tokens: int | None = None


@dataclass(frozen=True, eq=False, slots=True)
class Job:
    """One expanded task. ``body`` holds slot stand-ins; ``key`` hashes it.

    Treat ``body`` and ``params`` as read-only: jobs of one matrix share parts.
    """

    id: str
    name: str
    index: int
    kind: str  # video | draft | final
    api: str
    body: dict[str, Any]
    key: str
    prompt: str
    params: dict[str, Any]
    matrix: tuple[tuple[str, Any], ...] = ()
    slots: tuple[Slot, ...] = ()
    deps: tuple[str, ...] = ()
    line: int = 0

    @property
    def moderated_urls(self) -> tuple[str, ...]:
        return tuple(s.ref for s in self.slots if s.kind == "asset")


@dataclass(frozen=True)
class Spec:
    path: str
    jobs: tuple[Job, ...]  # dependencies before dependents
    assets: dict[str, Asset] = field(default_factory=dict)
    settings: Settings = Settings()
    outputs_dir: str = "outputs"
    promote: tuple[str, ...] = ()

    def job(self, job_id: str) -> Job:
        return self._index[job_id]

    def by_id(self) -> dict[str, Job]:
        """Jobs by id (one shared dict: do not modify it)."""
        return self._index

    @cached_property
    def _index(self) -> dict[str, Job]:
        return {j.id: j for j in self.jobs}


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    text = resources.files("seedrun").joinpath("schemas/seedrun.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


def load_spec(text: str, file: str) -> Spec:
    """Parse, validate and expand a spec. Raises SpecError with every problem."""
    data, marks = load_yaml(text, file)
    if data is None:
        raise SpecError([marks.diag((), "the spec is empty; it needs `version: 1` and `jobs:`")])
    found = _schema_problems(data, marks)
    broken_jobs: set[int] = set()
    for path, _ in found:
        if len(path) >= 2 and path[0] == "jobs" and isinstance(path[1], int):
            broken_jobs.add(path[1])
        else:  # outside any one job: the rest cannot be read safely
            raise SpecError([d for _, d in found])
    _normalize_ints(data, broken_jobs)
    # Expansion makes a few container objects per job and frees none of them, so the
    # cyclic GC would only rescan an ever larger heap: pause it (a 100k matrix: 2x faster).
    paused = gc.isenabled()
    gc.disable()
    try:
        return _Expander(data, marks, [d for _, d in found], broken_jobs).run()
    finally:
        if paused:
            gc.enable()


# ---------------------------------------------------------------- schema

_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _schema_problems(data: Any, marks: Marks) -> list[tuple[Path, Diagnostic]]:
    out: list[tuple[Path, Diagnostic]] = []
    for err in _validator().iter_errors(data):
        out.extend(_describe(err, marks))
    return out


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(err: jsonschema.ValidationError, marks: Marks) -> list[tuple[Path, Diagnostic]]:
    path: Path = tuple(err.absolute_path)
    sub: Any = err.schema
    inst: Any = err.instance
    kind = err.validator
    value: Any = err.validator_value
    if kind == "additionalProperties" and isinstance(inst, dict):
        allowed = sorted((sub.get("properties") or {}).keys())
        out = []
        for key in (k for k in inst if k not in allowed):
            near = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {near[0]!r}?" if near else f"allowed: {', '.join(allowed)}"
            p = (*path, key)
            out.append((p, marks.diag(p, f"unknown key {key!r}; {hint}", key=True)))
        return out
    if "propertyNames" in err.relative_schema_path:
        p = (*path, inst)
        what = "a name of letters, digits, '_', '.' or '-'"
        if "^[A-Za-z_]" in str(err.validator_value):
            what = "a template variable name: letters, digits and '_', not starting with a digit"
        return [(p, marks.diag(p, f"invalid name {inst!r}; use {what}", key=True))]
    message: str
    if kind == "required":
        missing = [k for k in value if k not in inst]
        message = "missing required key " + ", ".join(repr(k) for k in missing)
    elif kind == "enum":
        choices = ", ".join(json.dumps(v) for v in value)
        message = f"{_show(inst)} is not allowed; allowed: {choices}"
        if isinstance(inst, list):
            message += "; to try several values, list them under matrix:"
    elif kind == "const":
        message = f"must be {json.dumps(err.validator_value)}"
        if path == ("version",):
            message = f"unsupported spec version {_show(inst)}; this seedrun reads version 1"
    elif kind == "type":
        want: list[str] = value if isinstance(value, list) else [value]
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in want)
        message = f"must be {words}; got {_show(inst)}"
        if isinstance(inst, list) and len(path) == 3 and path[0] == "jobs":
            message += "; to try several values, list them under matrix:"
    elif kind in ("minimum", "maximum") and "minimum" in sub and "maximum" in sub:
        message = f"{_show(inst)} is out of range; allowed: {sub['minimum']} to {sub['maximum']}"
    elif kind == "minimum":
        message = f"{_show(inst)} is too small; allowed: {err.validator_value} or more"
    elif kind == "exclusiveMinimum":
        message = f"{_show(inst)} is too small; allowed: more than {err.validator_value}"
    elif kind == "minItems":
        message = "must not be empty; list at least one value"
    elif kind == "minLength":
        message = "must not be empty"
    elif kind == "pattern" and path[-1:] == ("name",):
        message = (
            f"invalid name {_show(inst)}; use letters, digits, '_', '.' and '-', "
            "starting with a letter or digit"
        )
    elif kind == "pattern":
        message = f"{_show(inst)} does not match {err.validator_value}"
    else:
        message = err.message
    return [(path, marks.diag(path, message))]


def _normalize_ints(data: dict[str, Any], skip: set[int]) -> None:
    """``seed: 1.0`` passes the schema's integer check; send it as ``1``, key it as ``1``."""

    def fix(m: Any) -> None:
        if isinstance(m, dict):
            for k in INTEGER_PARAMS:
                v = m.get(k)
                if isinstance(v, float) and v.is_integer():
                    m[k] = int(v)

    fix(data.get("defaults"))
    for j, job in enumerate(data["jobs"]):
        if j in skip:
            continue
        fix(job)
        matrix = job.get("matrix") or {}
        for k in INTEGER_PARAMS:
            if k in matrix:
                matrix[k] = [
                    int(v) if isinstance(v, float) and v.is_integer() else v for v in matrix[k]
                ]
        for entry in (*(matrix.get("include") or ()), *(matrix.get("exclude") or ())):
            fix(entry)


# ---------------------------------------------------------------- expansion


class _Chain(NamedTuple):
    """A media item that is another job's last frame, known once that job ran."""

    source: str  # the source job's id
    role: str | None
    path: Path


class _UrlRecipe(NamedTuple):
    source: str  # a template
    declared: str | None
    role: str | None
    path: Path


class _FromRecipe(NamedTuple):
    source: str  # a template
    role: str | None
    path: Path


_Media = MediaItem | _Chain
_Recipe = MediaItem | _UrlRecipe | _FromRecipe


@dataclass(slots=True)
class _Proto:
    """A job after rendering, before its body and key exist."""

    id: str
    name: str
    index: int
    api: str
    params: dict[str, Any]
    prompt: str
    media: list[_Media]
    matrix: tuple[tuple[str, Any], ...]
    path: Path
    line: int
    deps: tuple[str, ...] = ()
    fixed: bool = False  # media is the job's shared list of plain items


@dataclass(slots=True)
class _Template:
    """What every combination of one job shares."""

    name: str
    path: Path
    line: int
    params: dict[str, Any]  # defaults < job fields, with `extra` merged
    prompt: str
    media: list[_Recipe]
    templated: bool  # whether any string of the job needs rendering
    broken: bool  # a problem was found that every combination shares
    prompt_templated: bool = False
    fixed_media: list[_Media] | None = None  # set when no item needs rendering
    fixed_counts: dict[str, int] | None = None  # media counts and asset ids of fixed_media
    fixed_ids: frozenset[str] = frozenset()


_PARAM_SET = frozenset(PARAMS)
# Scanned over the lower-cased prompt: several times faster than re.IGNORECASE.
_PROMPT_SCAN = re.compile(r"\b(image|video|audio)\s+(\d+)\b|asset://")


class _Expander:
    def __init__(
        self, data: dict[str, Any], marks: Marks, problems: list[Diagnostic], skip: set[int]
    ) -> None:
        self.data = data
        self.marks = marks
        self.problems = problems
        self.skip = skip
        self._seen_problems: set[tuple[Path, str]] = set()
        self._url_kinds: dict[tuple[str, str | None], str] = {}
        self._memo: dict[Any, Any] = {}  # parts shared between bodies
        self._url_items: dict[tuple[str | None, str | None, str | None], MediaItem] = {}
        self._shapes: dict[tuple[Path, tuple[tuple[str, str | None], ...]], dict[str, int]] = {}
        self.failed_names: set[str] = set()  # jobs not expanded at all
        self.failed_ids: set[str] = set()  # combinations that failed to render
        self.matrices: dict[str, Mapping[str, Any]] = {}
        self.vars: dict[str, Any] = dict(data.get("vars") or {})
        self.defaults: dict[str, Any] = dict(data.get("defaults") or {})
        if RESERVED_VAR in self.vars:
            self._reserved(("vars", RESERVED_VAR))
        self._lint_extra(self.defaults.get("extra"), ("defaults", "extra"))
        self.assets = self._assets()
        self.asset_ids = frozenset(
            a.url[len("asset://") :] for a in self.assets.values() if a.url.startswith("asset://")
        ) - {""}

    def problem(self, path: Path, message: str, *, key: bool = False, once: str = "") -> None:
        """Record a diagnostic. ``once`` dedups an error repeated across matrix combinations."""
        tag = (path, once or message)
        if tag in self._seen_problems:
            return
        self._seen_problems.add(tag)
        self.problems.append(self.marks.diag(path, message, key=key))

    def _reserved(self, path: Path) -> None:
        self.problem(
            path,
            f"{RESERVED_VAR!r} is reserved: templates see the job as "
            "job.name, job.index and job.id; pick another name",
            key=True,
        )

    # -- assets and URLs

    def _assets(self) -> dict[str, Asset]:
        out: dict[str, Asset] = {}
        for name, raw in (self.data.get("assets") or {}).items():
            url: str = raw["url"]
            declared = raw.get("type")
            kind = self._check_url(url, ("assets", name, "url"), declared, "")
            moderate = bool(raw.get("moderate", False))
            if moderate and (kind or declared) not in (None, "image"):
                self.problem(
                    ("assets", name, "moderate"),
                    f"only images can be moderated, and this asset is {_a(kind or declared)}",
                    key=True,
                )
            elif moderate and url.startswith("asset://"):
                self.problem(
                    ("assets", name, "moderate"),
                    "an asset:// URL is already approved; moderation needs the public "
                    "http(s) URL of the image",
                    key=True,
                )
            out[name] = Asset(name, url, kind or declared or "image", moderate)
        return out

    def _check_url(self, url: str, path: Path, declared: str | None, who: str) -> str | None:
        """Validate a media URL; return its media type (declared or inferred), None if bad."""
        known = self._url_kinds.get((url, declared))
        if known is not None:
            return known
        prefix = f"{who}: " if who else ""
        lower = url.strip().lower()
        if lower.startswith("data:") or ";base64," in lower:
            self.problem(
                path,
                f"{prefix}data: URIs are not supported: the API accepts no base64 "
                "or inline binary; upload the file and use its public http(s) URL",
                once="url-data",
            )
            return None
        parts = urlsplit(url)
        if parts.scheme == "asset" and parts.netloc:
            kind = declared or "image"
            self._url_kinds[(url, declared)] = kind
            return kind
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.problem(
                path,
                f"{prefix}{url!r} is not a public http(s):// or asset:// URL; local "
                "paths are not supported: the API fetches media by URL",
                once="url-scheme",
            )
            return None
        suffix = PurePosixPath(parts.path).suffix.lower()
        inferred = _type_for(suffix)
        kind_or_none = declared or inferred
        if kind_or_none is None:
            self.problem(
                path,
                f"{prefix}cannot infer the media type of {url!r} from its extension; "
                "set type: image, video or audio",
                once="url-type",
            )
            return None
        if kind_or_none == "image" and suffix not in api_facts.IMAGE_EXTENSIONS:
            allowed = " ".join(api_facts.IMAGE_EXTENSIONS)
            self.problem(
                path,
                f"{prefix}image URL {url!r} needs one of the extensions {allowed}",
                once="url-ext",
            )
            return None
        self._url_kinds[(url, declared)] = kind_or_none
        return kind_or_none

    # -- jobs

    def run(self) -> Spec:
        protos: list[_Proto] = []
        for j, raw in enumerate(self.data["jobs"]):
            if j in self.skip:
                if isinstance(raw, dict) and isinstance(raw.get("name"), str):
                    self.failed_names.add(raw["name"])
                continue
            protos.extend(self._expand_job(j, raw))
        by_id: dict[str, _Proto] = {}
        for p in protos:
            first = by_id.setdefault(p.id, p)
            if first is not p:
                self.problem(
                    p.path,
                    f"duplicate job id {p.id!r} (also made by the job at line {first.line}); "
                    "give the jobs different names or matrix values",
                    once=f"dup{first.line}",
                )
        order = self._link(by_id)
        promoted = self._promote_targets(by_id)
        if self.problems:
            raise SpecError(self.problems)
        jobs = self._build(order, by_id)
        jobs.extend(self._finals(jobs, promoted))
        return Spec(
            path=self.marks.file,
            jobs=tuple(jobs),
            assets=self.assets,
            settings=Settings(**(self.data.get("settings") or {})),
            outputs_dir=(self.data.get("outputs") or {}).get("dir", "outputs"),
            promote=tuple(self.data.get("promote") or ()),
        )

    def _expand_job(self, j: int, raw: dict[str, Any]) -> list[_Proto]:
        base: Path = ("jobs", j)
        name: str = raw["name"]
        self._lint_extra(raw.get("extra"), (*base, "extra"))
        matrix = raw.get("matrix")
        combos: list[dict[str, Any]] = [{}]
        if matrix is not None:
            self.matrices[name] = matrix
            self._lint_matrix(matrix, (*base, "matrix"), raw)
            combos = expand(matrix)
            if not combos:
                self.problem(
                    (*base, "matrix"),
                    "the matrix leaves no combination after exclude"
                    if axes_of(matrix)
                    else "the matrix has no combination; give it an axis or an include entry",
                    key=True,
                )
                self.failed_names.add(name)
                return []
        params = {**self.defaults, **{k: raw[k] for k in PARAMS if k in raw}}
        params["extra"] = {**(self.defaults.get("extra") or {}), **(raw.get("extra") or {})}
        recipes, broken = self._recipes(name, raw, base)
        templated = is_template(raw["prompt"]) or any(
            not isinstance(r, MediaItem) and is_template(r.source) for r in recipes
        )
        fixed = [r for r in recipes if isinstance(r, MediaItem)]
        t = _Template(
            name,
            base,
            self.marks.at(base)[0],
            params,
            raw["prompt"],
            recipes,
            templated,
            broken,
            prompt_templated=is_template(raw["prompt"]),
            fixed_media=list(fixed) if len(fixed) == len(recipes) else None,
        )
        out: list[_Proto] = []
        for index, combo in enumerate(combos):
            proto = self._combo(t, index, combo)
            if proto is not None:
                out.append(proto)
        return out

    def _recipes(self, name: str, raw: dict[str, Any], base: Path) -> tuple[list[_Recipe], bool]:
        """The job's media items: fixed ones checked once, templated ones for each combination.

        A bad item still gets a stand-in, so the prompt's "image N" lint counts right.
        """
        out: list[_Recipe] = []
        broken = False
        for m, item in enumerate(raw.get("media") or []):
            path: Path = (*base, "media", m)
            role = item.get("role")
            declared = item.get("type")
            given = [k for k in ("asset", "url", "from") if k in item]
            if len(given) != 1:
                self.problem(
                    path,
                    "a media item needs exactly one of asset, url or from"
                    + (f"; got {', '.join(given)}" if given else ""),
                )
                broken = True
                out.append(MediaItem(declared or "image", "", role))
                continue
            if "frame" in item and "from" not in item:
                self.problem((*path, "frame"), "frame: is only valid with from:", key=True)
                broken = True
            if "asset" in item:
                asset = self.assets.get(item["asset"])
                if asset is None:
                    self._unknown_asset(item["asset"], (*path, "asset"))
                    broken = True
                    out.append(MediaItem(declared or "image", "", role))
                    continue
                slot = "asset" if asset.moderate else None
                out.append(
                    MediaItem(
                        declared or asset.type, asset.url, role, slot, asset.url if slot else None
                    )
                )
            elif "from" in item:
                if declared not in (None, "image"):
                    self.problem(
                        (*path, "type"),
                        f"a chained frame is an image, not {_a(declared)}; drop type:",
                        key=True,
                    )
                    broken = True
                out.append(_FromRecipe(item["from"], role, path))
            elif is_template(item["url"]):
                out.append(_UrlRecipe(item["url"], declared, role, path))
            else:
                kind = self._check_url(item["url"], (*path, "url"), declared, f"job {name}")
                broken = broken or kind is None
                out.append(MediaItem(kind or declared or "image", item["url"], role))
        return out, broken

    def _unknown_asset(self, wanted: str, path: Path) -> None:
        names = sorted(self.assets)
        near = difflib.get_close_matches(wanted, names, n=1)
        if near:
            hint = f"did you mean {near[0]!r}?"
        else:
            hint = f"defined: {', '.join(names)}" if names else "no assets are defined"
        self.problem(path, f"unknown asset {wanted!r}; {hint}")

    def _combo(self, t: _Template, index: int, combo: dict[str, Any]) -> _Proto | None:
        jid = job_id(t.name, combo)
        params = t.params
        for k in combo:
            if k in _PARAM_SET:
                if params is t.params:
                    params = dict(params)
                params[k] = {**params["extra"], **combo[k]} if k == "extra" else combo[k]
        ok = not t.broken
        context: dict[str, Any] = {}
        if t.templated:
            context = {**self.vars, **combo, "job": {"name": t.name, "index": index, "id": jid}}
        prompt: str | None = t.prompt
        if t.prompt_templated:
            prompt = self._render(jid, t.prompt, context, (*t.path, "prompt"))
        media: list[_Media]
        if t.fixed_media is not None:
            media = t.fixed_media  # shared: no `from:` items, so never rewritten
        else:
            media = []
            for r in t.media:
                if isinstance(r, MediaItem):
                    media.append(r)
                elif isinstance(r, _UrlRecipe):
                    url = self._render(jid, r.source, context, (*r.path, "url"))
                    item = self._url_items.get((url, r.declared, r.role))
                    if item is None:
                        kind = None
                        if url is not None:
                            kind = self._check_url(url, (*r.path, "url"), r.declared, f"job {jid}")
                        item = MediaItem(kind or r.declared or "image", url or "", r.role)
                        if kind is None:
                            ok = False
                        else:  # a good URL: later combinations share the item
                            self._url_items[(url, r.declared, r.role)] = item
                    media.append(item)
                else:
                    source = self._render(jid, r.source, context, (*r.path, "from"))
                    ok = ok and source is not None
                    media.append(_Chain(source or "", r.role, r.path))
        if t.fixed_media is None:
            counts = self._media_counts(jid, media, t.path)
            ids = self._asset_ids(media)
        else:  # the same for every combination: work it out once
            if t.fixed_counts is None:
                t.fixed_counts = self._media_counts(jid, media, t.path)
                t.fixed_ids = self._asset_ids(media)
            counts, ids = t.fixed_counts, t.fixed_ids
        if prompt is not None:
            self._lint_prompt(jid, prompt, counts, ids, (*t.path, "prompt"))
        if not ok or prompt is None:
            self.failed_ids.add(jid)
            return None
        api = params.get("api", "official")
        return _Proto(
            jid,
            t.name,
            index,
            api,
            params,
            prompt,
            media,
            tuple(combo.items()),
            t.path,
            t.line,
            fixed=t.fixed_media is not None,
        )

    def _render(self, jid: str, source: str, context: dict[str, Any], path: Path) -> str | None:
        try:
            return render(source, context)
        except RenderError as exc:
            self.problem(path, f"job {jid}: {exc}", once=f"render:{exc}")
            return None

    # -- lints

    def _lint_extra(self, extra: Mapping[str, Any] | None, path: Path) -> None:
        for key in extra or {}:
            if key in MODELLED_FIELDS:
                self.problem(
                    (*path, key),
                    f"extra field {key!r} shadows a modelled field; set {key} directly",
                    key=True,
                )

    def _lint_matrix(self, matrix: Mapping[str, Any], path: Path, raw: Mapping[str, Any]) -> None:
        axes = axes_of(matrix)
        for k in axes:
            near = difflib.get_close_matches(k, ["include", "exclude"], n=1, cutoff=0.75)
            close = difflib.get_close_matches(k, PARAMS, n=1, cutoff=0.8)
            if k == RESERVED_VAR:
                self._reserved((*path, k))
            elif near:
                self.problem((*path, k), f"unknown key {k!r}; did you mean {near[0]!r}?", key=True)
            elif k not in _PARAM_SET and close and not _used_in_templates(k, raw):
                self.problem(
                    (*path, k),
                    f"unknown key {k!r}; did you mean {close[0]!r}? (a matrix key that is "
                    f"not a request parameter is a template variable, and no template uses {k})",
                    key=True,
                )
        for i, e in enumerate(matrix.get("extra") or ()):
            self._lint_extra(e, (*path, "extra", i))
        for i, entry in enumerate(matrix.get("exclude") or []):
            for k in entry:
                if k not in axes:
                    self.problem(
                        (*path, "exclude", i, k),
                        f"exclude names {k!r}, which is not a matrix axis; "
                        f"axes: {', '.join(axes) or '(none)'}",
                        key=True,
                    )
        for i, entry in enumerate(matrix.get("include") or []):
            if RESERVED_VAR in entry:
                self._reserved((*path, "include", i, RESERVED_VAR))
            self._lint_extra(entry.get("extra"), (*path, "include", i, "extra"))

    def _lint_prompt(
        self, jid: str, prompt: str, counts: dict[str, int], ids: frozenset[str], path: Path
    ) -> None:
        for match in _PROMPT_SCAN.finditer(prompt.lower()):
            if match.group(1) is None:  # asset://
                self._asset_id_in_prompt(jid, path)
                continue
            kind, n = match.group(1), int(match.group(2))
            if n < 1 or n > counts[kind]:
                have = counts[kind]
                self.problem(
                    path,
                    f"job {jid}: the prompt refers to {kind} {n}, but the job has "
                    f"{have} {kind} item{'s' if have != 1 else ''}",
                    once=f"ref{kind}{n}",
                )
        if ids and any(_mentions(prompt, i) for i in ids):
            self._asset_id_in_prompt(jid, path)

    def _asset_ids(self, media: list[_Media]) -> frozenset[str]:
        """IDs of the approved assets a prompt must not name: the spec's and these items'."""
        own = [
            m.url[len("asset://") :]
            for m in media
            if isinstance(m, MediaItem) and m.url.startswith("asset://")
        ]
        return self.asset_ids.union(own) if own else self.asset_ids

    def _asset_id_in_prompt(self, jid: str, path: Path) -> None:
        self.problem(
            path,
            f"job {jid}: the prompt contains an asset ID; refer to media as "
            '"image 1", "video 1" or "audio 1" instead',
            once="assetid",
        )

    def _media_counts(self, jid: str, media: list[_Media], base: Path) -> dict[str, int]:
        """Items of each media type; checks the roles the first time a job shows a shape."""
        shape = tuple(("image" if isinstance(m, _Chain) else m.type, m.role) for m in media)
        counts = self._shapes.get((base, shape))
        if counts is None:
            counts = {"image": 0, "video": 0, "audio": 0}
            for kind, _ in shape:
                counts[kind] += 1
            self._shapes[(base, shape)] = counts
            self._lint_roles(jid, shape, base)
        return counts

    def _lint_roles(self, jid: str, shape: tuple[tuple[str, str | None], ...], base: Path) -> None:
        roles = [r for _, r in shape]
        for i, (kind, role) in enumerate(shape):
            if role is None:
                continue
            path: Path = (*base, "media", i, "role")
            need = ROLE_TYPES[role]
            if kind != need:
                self.problem(
                    path,
                    f"job {jid}: role {role} is for {need} items, but this item is {_a(kind)}",
                    once="type",
                )
            earlier = roles[:i]
            if role == "first_frame" and "first_frame" in earlier:
                self.problem(
                    path, f"job {jid}: two first_frame items; a job has at most one", once="2"
                )
            elif role == "last_frame" and "last_frame" in earlier:
                self.problem(
                    path, f"job {jid}: two last_frame items; a job has at most one", once="2"
                )
            elif role == "last_frame" and "first_frame" not in roles:
                self.problem(path, f"job {jid}: last_frame needs a first_frame item too", once="lf")

    # -- chains

    def _link(self, by_id: dict[str, _Proto]) -> list[str]:
        """Resolve `from:` references; return ids with dependencies first."""
        names = sorted({p.name for p in by_id.values()} | self.failed_names)
        for p in by_id.values():
            if p.fixed:
                continue  # no `from:` items
            for i, m in enumerate(p.media):
                if not isinstance(m, _Chain):
                    continue
                source = m.source if m.source in by_id else canonical_id(m.source)
                if source in by_id:
                    p.media[i] = m._replace(source=source)
                    if source not in p.deps:
                        p.deps = (*p.deps, source)
                    continue
                self._missing_source(p, source, m.path, by_id, names)
        if not any(p.deps for p in by_id.values()):
            return list(by_id)  # no chains: spec order is already dependencies-first
        return self._toposort(by_id)

    def _missing_source(
        self, p: _Proto, source: str, path: Path, by_id: dict[str, _Proto], names: list[str]
    ) -> None:
        base = source.split("[", 1)[0]
        if source in self.failed_ids or base in self.failed_names:
            return  # its own error is reported already
        where = (*path, "from")
        if base not in names:
            near = difflib.get_close_matches(source, names, n=1)
            hint = f"did you mean {near[0]!r}?" if near else f"job names: {', '.join(names)}"
            self.problem(where, f"job {p.id}: unknown source job {source!r}; {hint}", once="src")
            return
        matrix = self.matrices.get(base)
        if matrix is not None and source in {job_id(base, c) for c in excluded(matrix)}:
            self.problem(
                where,
                f"job {p.id}: source {source!r} is excluded by the matrix of job {base!r}",
                once="src",
            )
            return
        siblings = sorted(q.id for q in by_id.values() if q.name == base)
        shown = ", ".join(siblings[:5]) + (", ..." if len(siblings) > 5 else "")
        self.problem(
            where,
            f"job {p.id}: source {source!r} is not a job of this spec; {base} makes: {shown}",
            once="src",
        )

    def _toposort(self, by_id: dict[str, _Proto]) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}  # 1 = on the stack, 2 = done
        for root in by_id:
            if state.get(root):
                continue
            stack: list[tuple[str, Iterator[str]]] = [(root, iter(by_id[root].deps))]
            state[root] = 1
            while stack:
                node, deps = stack[-1]
                nxt = next(deps, None)
                if nxt is None:
                    stack.pop()
                    state[node] = 2
                    order.append(node)
                elif state.get(nxt) == 1:
                    ids = [n for n, _ in stack]
                    cycle = ids[ids.index(nxt) :]
                    where = " -> ".join(f"{n} (line {by_id[n].line})" for n in cycle)
                    self.problem(
                        by_id[nxt].path, f"dependency cycle: {where} -> {nxt}", once="cycle"
                    )
                elif not state.get(nxt):
                    state[nxt] = 1
                    stack.append((nxt, iter(by_id[nxt].deps)))
        return order

    # -- promotion

    def _promote_targets(self, by_id: dict[str, _Proto]) -> set[str]:
        targets: set[str] = set()
        for i, pattern in enumerate(self.data.get("promote") or []):
            rx = glob_regex(pattern)
            hits = [p for p in by_id.values() if rx.fullmatch(p.id)]
            if not hits:
                if not (self.failed_names or self.failed_ids):
                    shown = ", ".join(list(by_id)[:3])
                    self.problem(
                        ("promote", i), f"{pattern!r} matches no job; job ids are like: {shown}"
                    )
                continue
            plain = [p.id for p in hits if not p.params.get("draft")]
            if plain:
                more = f" and {len(plain) - 1} more" if len(plain) > 1 else ""
                self.problem(
                    ("promote", i),
                    f"{pattern!r} matches {plain[0]}{more}, which is not a draft; "
                    "set draft: true on it, or narrow the pattern",
                )
            targets.update(p.id for p in hits if p.params.get("draft"))
        return targets

    # -- records

    def _build(self, order: list[str], by_id: dict[str, _Proto]) -> list[Job]:
        sources = {d for p in by_id.values() for d in p.deps}
        keys: dict[str, str] = {}
        out: list[Job] = []
        for jid in order:
            p = by_id[jid]
            params = p.params
            if jid in sources:
                params = {**params, "return_last_frame": True}
            media: list[Any] = p.media
            if p.deps:
                media = [
                    MediaItem(
                        "image",
                        last_frame_placeholder(m.source, keys[m.source]),
                        m.role,
                        "last_frame",
                        m.source,
                    )
                    if isinstance(m, _Chain)
                    else m
                    for m in p.media
                ]
            body, slots = build_body(p.api, params, p.prompt, media, memo=self._memo)
            key = content_key(body)
            if jid in sources:
                keys[jid] = key
            kind = "draft" if params.get("draft") else "video"
            out.append(
                Job(
                    jid,
                    p.name,
                    p.index,
                    kind,
                    p.api,
                    body,
                    key,
                    p.prompt,
                    params,
                    p.matrix,
                    slots,
                    p.deps,
                    p.line,
                )
            )
        return out

    def _finals(self, jobs: list[Job], targets: set[str]) -> list[Job]:
        """One final video per promoted draft, in the drafts' order."""
        finals: list[Job] = []
        for job in jobs:
            if job.id not in targets:
                continue
            body, slots = build_final_body(job.api, job.params, job.prompt, job.id, job.key)
            finals.append(
                Job(
                    job.id + FINAL_SUFFIX,
                    job.name,
                    job.index,
                    "final",
                    job.api,
                    body,
                    content_key(body),
                    job.prompt,
                    {**job.params, "draft": False},
                    job.matrix,
                    slots,
                    (job.id,),
                    job.line,
                )
            )
        return finals


def _a(word: str | None) -> str:
    word = word or "unknown"
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


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


def _type_for(suffix: str) -> str | None:
    if suffix in api_facts.IMAGE_EXTENSIONS:
        return "image"
    if suffix in api_facts.VIDEO_EXTENSIONS:
        return "video"
    if suffix in api_facts.AUDIO_EXTENSIONS:
        return "audio"
    return None


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Glob over job ids: only ``*`` and ``?`` are special, so ``[`` in ids stays literal."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)


def select(jobs: Iterable[Job], patterns: Iterable[str]) -> list[Job]:
    """Jobs whose id matches any pattern, plus every job they depend on."""
    all_jobs = list(jobs)
    rxs = [glob_regex(p) for p in patterns]
    by_id = {j.id: j for j in all_jobs}
    wanted = {j.id for j in all_jobs if any(rx.fullmatch(j.id) for rx in rxs)}
    todo = list(wanted)
    while todo:
        for dep in by_id[todo.pop()].deps:
            if dep not in wanted and dep in by_id:
                wanted.add(dep)
                todo.append(dep)
    return [j for j in all_jobs if j.id in wanted]
