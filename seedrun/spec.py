"""Spec file -> validated, expanded campaign. Pure: no network, no trio.

Raw YAML becomes typed records exactly once, here. Every problem found is
reported with its file, line and column, and all of them are reported at once.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jsonschema

from seedrun import api_facts
from seedrun.errors import Diagnostic, SpecError
from seedrun.matrix import expand, job_id
from seedrun.render import RenderError, render
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


@dataclass(frozen=True, eq=False)
class Job:
    """One expanded task. ``body`` holds slot stand-ins; ``key`` hashes it."""

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
        return self.by_id()[job_id]

    def by_id(self) -> dict[str, Job]:
        return {j.id: j for j in self.jobs}


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    text = resources.files("seedrun").joinpath("schemas/seedrun.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def load_spec(text: str, file: str) -> Spec:
    """Parse, validate and expand a spec. Raises SpecError with every problem."""
    data, marks = load_yaml(text, file)
    problems = _schema_problems(data, marks)
    if problems:
        raise SpecError(problems)
    return _Expander(data, marks).run()


# ---------------------------------------------------------------- schema


def _schema_problems(data: Any, marks: Marks) -> list[Diagnostic]:
    validator = jsonschema.Draft202012Validator(schema())
    out: list[Diagnostic] = []
    for err in validator.iter_errors(data):
        out.extend(_describe(err, marks))
    return out


def _describe(err: jsonschema.ValidationError, marks: Marks) -> list[Diagnostic]:
    path: Path = tuple(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        sub: Any = err.schema
        allowed = sorted((sub.get("properties") or {}).keys())
        extras = [k for k in err.instance if k not in allowed]
        diags = []
        for key in extras:
            near = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; allowed: {', '.join(allowed)}"
            diags.append(marks.diag((*path, key), f"unknown key {key!r}{hint}", key=True))
        return diags
    if err.validator == "required":
        return [marks.diag(path, err.message)]
    if err.validator == "enum":
        values: Any = err.validator_value
        choices = ", ".join(json.dumps(v) for v in values)
        return [marks.diag(path, f"{json.dumps(err.instance)} is not allowed; allowed: {choices}")]
    if err.validator == "const":
        return [marks.diag(path, f"must be {json.dumps(err.validator_value)}")]
    if err.validator == "pattern":
        return [marks.diag(path, f"{err.instance!r} must match {err.validator_value}")]
    if err.validator == "propertyNames":
        return [marks.diag(path, f"invalid name: {err.message}")]
    return [marks.diag(path, err.message)]


# ---------------------------------------------------------------- expansion


@dataclass
class _Proto:
    """A job after rendering, before its body and key exist."""

    id: str
    name: str
    index: int
    api: str
    params: dict[str, Any]
    prompt: str
    media: list[MediaItem | tuple[str, str | None, Path]]  # tuple = (source id, role, path)
    matrix: tuple[tuple[str, Any], ...]
    path: Path
    line: int
    deps: list[str] = field(default_factory=list)


_MEDIA_REF = re.compile(r"\b(image|video|audio)\s+(\d+)\b", re.IGNORECASE)
_ASSET_ID = re.compile(r"asset://\S*")


class _Expander:
    def __init__(self, data: dict[str, Any], marks: Marks) -> None:
        self.data = data
        self.marks = marks
        self.problems: list[Diagnostic] = []
        self._seen_problems: set[tuple[Path, str]] = set()
        self.vars: dict[str, Any] = dict(data.get("vars") or {})
        self.defaults: dict[str, Any] = dict(data.get("defaults") or {})
        self.assets = self._assets()

    def problem(self, path: Path, message: str, *, key: bool = False, once: str = "") -> None:
        """Record a diagnostic. ``once`` dedups an error repeated across matrix combinations."""
        tag = (path, once or message)
        if tag in self._seen_problems:
            return
        self._seen_problems.add(tag)
        self.problems.append(self.marks.diag(path, message, key=key))

    # -- assets

    def _assets(self) -> dict[str, Asset]:
        out: dict[str, Asset] = {}
        for name, raw in (self.data.get("assets") or {}).items():
            path: Path = ("assets", name, "url")
            url = raw["url"]
            kind = raw.get("type") or self._check_url(url, path, None, "")
            if raw.get("type"):
                self._check_url(url, path, kind, "")
            out[name] = Asset(name, url, kind or "image", bool(raw.get("moderate", False)))
        return out

    def _check_url(self, url: str, path: Path, declared: str | None, who: str) -> str | None:
        """Validate a media URL; return its media type (declared or inferred)."""
        prefix = f"{who}: " if who else ""
        once = f"url:{declared}:{url if not who else ''}"
        lower = url.strip().lower()
        if lower.startswith("data:") or ";base64," in lower:
            self.problem(
                path,
                f"{prefix}data: URIs are not supported: the API accepts no base64 "
                "or inline binary; upload the file and use its public http(s) URL",
                once=once + "data",
            )
            return None
        parts = urlsplit(url)
        if parts.scheme == "asset":
            return declared or "image"
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.problem(
                path,
                f"{prefix}{url!r} is not a public http(s):// or asset:// URL; local "
                "paths are not supported: the API fetches media by URL",
                once=once + "scheme",
            )
            return None
        suffix = PurePosixPath(parts.path).suffix.lower()
        inferred = _type_for(suffix)
        kind = declared or inferred
        if kind is None:
            self.problem(
                path,
                f"{prefix}cannot infer the media type of {url!r} from its extension; "
                "set type: image, video or audio",
                once=once + "type",
            )
            return None
        if kind == "image" and suffix not in api_facts.IMAGE_EXTENSIONS:
            allowed = " ".join(api_facts.IMAGE_EXTENSIONS)
            self.problem(
                path,
                f"{prefix}image URL {url!r} needs one of the extensions {allowed}",
                once=once + "ext",
            )
        return kind

    # -- jobs

    def run(self) -> Spec:
        protos: list[_Proto] = []
        for j, raw in enumerate(self.data["jobs"]):
            protos.extend(self._expand_job(j, raw))
        by_id: dict[str, _Proto] = {}
        for p in protos:
            if p.id in by_id:
                self.problem(p.path, f"duplicate job id {p.id!r} (also at line {by_id[p.id].line})")
            else:
                by_id[p.id] = p
        order = self._link(by_id)
        jobs: list[Job] = []
        if not self.problems:
            jobs = self._build(order, by_id)
            jobs.extend(self._promote(jobs))
        if self.problems:
            raise SpecError(self.problems)
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
        name = raw["name"]
        self._lint_extra(raw.get("extra"), (*base, "extra"))
        self._lint_extra(self.defaults.get("extra"), ("defaults", "extra"))
        matrix = raw.get("matrix")
        combos: list[dict[str, Any]] = [{}]
        if matrix is not None:
            self._lint_matrix(matrix, (*base, "matrix"))
            combos = expand(matrix)
            if not combos:
                self.problem((*base, "matrix"), "the matrix leaves no combination after exclude")
                return []
        line = self.marks.at(base)[0]
        out = []
        for index, combo in enumerate(combos):
            params = {k: v for k, v in self.defaults.items()}
            params.update({k: raw[k] for k in PARAMS if k in raw})
            params.update({k: combo[k] for k in PARAMS if k in combo})
            extra = {
                **(self.defaults.get("extra") or {}),
                **(raw.get("extra") or {}),
                **(combo.get("extra") or {}),
            }
            params["extra"] = extra
            if "extra" in combo:
                self._lint_extra(combo["extra"], (*base, "matrix", "extra"))
            jid = job_id(name, combo)
            context = {**self.vars, **combo, "job": {"name": name, "index": index, "id": jid}}
            proto = self._render_job(jid, name, index, params, raw, context, base, line)
            if proto is not None:
                proto.matrix = tuple(combo.items())
                out.append(proto)
        return out

    def _lint_extra(self, extra: Mapping[str, Any] | None, path: Path) -> None:
        for key in extra or {}:
            if key in MODELLED_FIELDS:
                self.problem(
                    (*path, key),
                    f"extra field {key!r} shadows a modelled field; set {key} directly",
                    key=True,
                )

    def _lint_matrix(self, matrix: Mapping[str, Any], path: Path) -> None:
        axes = [k for k in matrix if k not in ("include", "exclude")]
        for k in axes:
            near = difflib.get_close_matches(k, ["include", "exclude"], n=1, cutoff=0.75)
            if near:
                self.problem((*path, k), f"unknown key {k!r}; did you mean {near[0]!r}?", key=True)
        for i, entry in enumerate(matrix.get("exclude") or []):
            for k in entry:
                if k not in axes:
                    self.problem(
                        (*path, "exclude", i, k),
                        f"exclude names {k!r}, which is not a "
                        f"matrix axis; axes: {', '.join(axes) or '(none)'}",
                        key=True,
                    )

    def _render_job(
        self,
        jid: str,
        name: str,
        index: int,
        params: dict[str, Any],
        raw: dict[str, Any],
        context: dict[str, Any],
        base: Path,
        line: int,
    ) -> _Proto | None:
        ok = True

        def text(source: str, path: Path) -> str | None:
            nonlocal ok
            try:
                return render(source, context)
            except RenderError as exc:
                ok = False
                self.problem(path, f"job {jid}: {exc}", once=str(exc))
                return None

        prompt = text(raw["prompt"], (*base, "prompt"))
        media: list[MediaItem | tuple[str, str | None, Path]] = []
        for m, item in enumerate(raw.get("media") or []):
            mpath: Path = (*base, "media", m)
            got = self._media(jid, item, mpath, text)
            if got is None:
                ok = False
            else:
                media.append(got)
        if not ok or prompt is None:
            return None
        api = params.get("api", "official")
        proto = _Proto(jid, name, index, api, params, prompt, media, (), base, line)
        self._lint_prompt(proto, (*base, "prompt"))
        self._lint_roles(proto, (*base, "media"))
        return proto

    def _media(
        self, jid: str, item: dict[str, Any], path: Path, text: Any
    ) -> MediaItem | tuple[str, str | None, Path] | None:
        given = [k for k in ("asset", "url", "from") if k in item]
        if len(given) != 1:
            self.problem(
                path,
                "a media item needs exactly one of asset, url or from"
                + (f" (got {', '.join(given)})" if given else ""),
            )
            return None
        role = item.get("role")
        if "frame" in item and "from" not in item:
            self.problem((*path, "frame"), "frame: is only valid with from:", key=True)
            return None
        if "asset" in item:
            asset = self.assets.get(item["asset"])
            if asset is None:
                names = list(self.assets)
                near = difflib.get_close_matches(item["asset"], names, n=1)
                hint = (
                    f"; did you mean {near[0]!r}?"
                    if near
                    else (f"; defined: {', '.join(names)}" if names else "; no assets are defined")
                )
                self.problem((*path, "asset"), f"unknown asset {item['asset']!r}{hint}")
                return None
            slot = "asset" if asset.moderate else None
            return MediaItem(
                item.get("type") or asset.type, asset.url, role, slot, asset.url if slot else None
            )
        if "from" in item:
            source = text(item["from"], (*path, "from"))
            return None if source is None else (source, role, path)
        url = text(item["url"], (*path, "url"))
        if url is None:
            return None
        kind = self._check_url(url, (*path, "url"), item.get("type"), f"job {jid}")
        if kind is None:
            return None
        return MediaItem(kind, url, role)

    def _lint_prompt(self, p: _Proto, path: Path) -> None:
        counts = {"image": 0, "video": 0, "audio": 0}
        for m in p.media:
            counts["image" if isinstance(m, tuple) else m.type] += 1
        for match in _MEDIA_REF.finditer(p.prompt):
            kind, n = match.group(1).lower(), int(match.group(2))
            if n < 1 or n > counts[kind]:
                have = counts[kind]
                self.problem(
                    path,
                    f"job {p.id}: the prompt refers to {kind} {n}, but the job has "
                    f"{have} {kind} item{'s' if have != 1 else ''}",
                    once=f"ref{kind}{n}",
                )
        if _ASSET_ID.search(p.prompt):
            self.problem(
                path,
                f"job {p.id}: the prompt contains an asset ID; refer to media as "
                '"image 1", "video 1" or "audio 1" instead',
                once="assetid",
            )

    def _lint_roles(self, p: _Proto, path: Path) -> None:
        roles = [m[1] if isinstance(m, tuple) else m.role for m in p.media]
        if roles.count("first_frame") > 1:
            self.problem(
                path, f"job {p.id}: two first_frame items; a job has at most one", once="2ff"
            )
        if "last_frame" in roles and "first_frame" not in roles:
            self.problem(path, f"job {p.id}: last_frame needs a first_frame item", once="lf")

    # -- chains

    def _link(self, by_id: dict[str, _Proto]) -> list[str]:
        """Resolve `from:` references; return ids with dependencies first."""
        names = {p.name for p in by_id.values()}
        for p in by_id.values():
            for m in p.media:
                if not isinstance(m, tuple):
                    continue
                source, _, path = m
                if source in by_id:
                    if source not in p.deps:
                        p.deps.append(source)
                    continue
                base = source.split("[", 1)[0]
                if base in names:
                    siblings = sorted(q.id for q in by_id.values() if q.name == base)
                    shown = ", ".join(siblings[:5]) + (" ..." if len(siblings) > 5 else "")
                    msg = (
                        f"job {p.id}: source {source!r} is not a job of this spec (excluded "
                        f"by its matrix, or misspelt); {base} has: {shown}"
                    )
                else:
                    near = difflib.get_close_matches(source, list(names), n=1)
                    hint = f"; did you mean {near[0]!r}?" if near else ""
                    msg = f"job {p.id}: unknown source job {source!r}{hint}"
                self.problem((*path, "from"), msg)
        return self._toposort(by_id)

    def _toposort(self, by_id: dict[str, _Proto]) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}  # 1 = on the stack, 2 = done
        for root in by_id:
            if state.get(root):
                continue
            stack: list[tuple[str, Iterable[str]]] = [(root, iter(by_id[root].deps))]
            state[root] = 1
            while stack:
                node, deps = stack[-1]
                nxt = next((d for d in deps if d in by_id), None)
                if nxt is None:
                    stack.pop()
                    state[node] = 2
                    order.append(node)
                elif state.get(nxt) == 1:
                    cycle = [n for n, _ in stack][[n for n, _ in stack].index(nxt) :]
                    where = ", ".join(f"{n} (line {by_id[n].line})" for n in cycle)
                    self.problem(by_id[nxt].path, f"dependency cycle: {where}", once="cycle")
                elif not state.get(nxt):
                    state[nxt] = 1
                    stack.append((nxt, iter(by_id[nxt].deps)))
        return order

    def _build(self, order: list[str], by_id: dict[str, _Proto]) -> list[Job]:
        sources = {d for p in by_id.values() for d in p.deps}
        built: dict[str, Job] = {}
        for jid in order:
            p = by_id[jid]
            params = dict(p.params)
            if jid in sources:
                params["return_last_frame"] = True
            media = [
                MediaItem(
                    "image", last_frame_placeholder(m[0], built[m[0]].key), m[1], "last_frame", m[0]
                )
                if isinstance(m, tuple)
                else m
                for m in p.media
            ]
            body, slots = build_body(p.api, params, p.prompt, media)
            kind = "draft" if params.get("draft") else "video"
            built[jid] = Job(
                jid,
                p.name,
                p.index,
                kind,
                p.api,
                body,
                content_key(body),
                p.prompt,
                params,
                p.matrix,
                slots,
                tuple(p.deps),
                p.line,
            )
        return [built[j] for j in order]

    def _promote(self, jobs: list[Job]) -> list[Job]:
        finals: list[Job] = []
        promoted: set[str] = set()
        for i, pattern in enumerate(self.data.get("promote") or []):
            rx = glob_regex(pattern)
            hits = [j for j in jobs if rx.fullmatch(j.id)]
            if not hits:
                self.problem(("promote", i), f"{pattern!r} matches no job")
                continue
            for job in hits:
                if job.kind != "draft":
                    self.problem(
                        ("promote", i),
                        f"{pattern!r} matches {job.id}, which is not a draft (set draft: true)",
                        once="notdraft",
                    )
                elif job.id not in promoted:
                    promoted.add(job.id)
                    body, slots = build_final_body(job.api, job.params, job.prompt, job.id, job.key)
                    params = {**job.params, "draft": False}
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
                            params,
                            job.matrix,
                            slots,
                            (job.id,),
                            job.line,
                        )
                    )
        return finals


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
    return re.compile("".join(parts))


def select(jobs: Iterable[Job], patterns: Iterable[str]) -> list[Job]:
    """Jobs whose id matches any pattern, plus every job they depend on."""
    all_jobs = list(jobs)
    rxs = [glob_regex(p) for p in patterns]
    by_id = {j.id: j for j in all_jobs}
    wanted = {j.id for j in all_jobs if any(rx.fullmatch(j.id) for rx in rxs)}
    todo = list(wanted)
    while todo:
        for dep in by_id[todo.pop()].deps:
            if dep not in wanted:
                wanted.add(dep)
                todo.append(dep)
    return [j for j in all_jobs if j.id in wanted]
