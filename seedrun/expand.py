"""Validated spec data -> jobs: each job's matrix rendered into records. Pure.

The expander renders every matrix combination of every job into a ``Proto``,
asks ``Lints``, ``MediaChecker`` and ``Chains`` to check and link them, and only
when no problem was found builds each job's body and content key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from seedrun import limits
from seedrun.campaign import Job, Spec, settings_of
from seedrun.catalog import CatalogError, Rows, parse_rows
from seedrun.chains import Chains, finals
from seedrun.errors import Diagnostic, SpecError
from seedrun.lints import PARAM_SET, RESERVED_VAR, Lints
from seedrun.localrefs import FileLookup, NoFiles
from seedrun.matrix import ROWS, JobIds, axes_of, counts, expand
from seedrun.media import FileRecipe, MediaChecker, Recipe, UrlRecipe
from seedrun.problems import Problems
from seedrun.protos import Chain, Media, Proto
from seedrun.render import (
    RenderError,
    SimpleParts,
    SpecBudget,
    is_template,
    render,
    simple_names,
)
from seedrun.requests import (
    PARAMS,
    MediaItem,
    build_body_keyed,
    last_frame_placeholder,
)
from seedrun.yamlload import Marks, Path


@dataclass(slots=True)
class Template:
    """What every combination of one job shares."""

    name: str
    path: Path
    line: int
    params: dict[str, Any]  # defaults < job fields, with `extra` merged
    prompt: str
    media: list[Recipe]
    templated: bool  # whether any string of the job needs rendering
    broken: bool  # a problem was found that every combination shares
    prompt_templated: bool = False
    fixed_media: list[Media] | None = None  # set when no item needs rendering
    fixed_counts: dict[str, int] | None = None  # media counts and asset ids of fixed_media
    fixed_ids: frozenset[str] = frozenset()
    prompt_path: Path = ()
    catalog: tuple[str, Rows] | None = None  # the rows file of the matrix, if any
    prompt_parts: _Fill | None = None  # the prompt as text and plain name lookups
    url_parts: dict[int, _Fill | None] | None = None  # the same for each UrlRecipe
    media_memo: dict[tuple[Media, ...], tuple[dict[str, int], frozenset[str]]] = field(
        default_factory=dict
    )


class Expander:
    """Expands one spec's validated data: call ``run`` once."""

    def __init__(
        self,
        data: dict[str, Any],
        marks: Marks,
        problems: list[Diagnostic],
        skip: set[int],
        files: FileLookup | None = None,
    ) -> None:
        self.data = data
        self.marks = marks
        self.problems = Problems(marks, problems)
        self.skip = skip
        self.lints = Lints(self.problems)
        self._memo: dict[Any, Any] = {}  # parts shared between bodies
        self.failed_names: set[str] = set()  # jobs not expanded at all
        self.failed_ids: set[str] = set()  # combinations that failed to render
        self.matrices: dict[str, Mapping[str, Any]] = {}
        self.catalogs: dict[int, tuple[str, Rows]] = {}  # by id of the written matrix
        self.vars: dict[str, Any] = dict(data.get("vars") or {})
        self.defaults: dict[str, Any] = dict(data.get("defaults") or {})
        if RESERVED_VAR in self.vars:
            self.lints.reserved(("vars", RESERVED_VAR))
        self.lints.extra(self.defaults.get("extra"), ("defaults", "extra"))
        self.files = files
        self.media = MediaChecker(self.problems, data.get("assets") or {}, files)
        self.budget = SpecBudget()  # what all of this spec's templates may spend
        self.job_count = 0  # combinations of the jobs expanded so far

    def run(self) -> Spec:
        protos: list[Proto] = []
        for j, raw in enumerate(self.data["jobs"]):
            if j in self.skip:
                if isinstance(raw, dict) and isinstance(raw.get("name"), str):
                    self.failed_names.add(raw["name"])
                continue
            protos.extend(self._expand_job(j, raw))
        by_id: dict[str, Proto] = {}
        for p in protos:
            first = by_id.setdefault(p.id, p)
            if first is not p:
                self.problems.add(
                    p.path,
                    f"duplicate job id {p.id!r} (also made by the job at line {first.line}); "
                    "give the jobs different names or matrix values",
                    once=f"dup{first.line}",
                )
        chains = Chains(
            self.problems,
            failed_names=self.failed_names,
            failed_ids=self.failed_ids,
            matrices=self.matrices,
        )
        order = chains.link(by_id)
        promoted = chains.promote_targets(self.data.get("promote") or [], by_id)
        settings = self.data.get("settings") or {}
        if self.media.first_file is not None and "uploads" not in settings:
            self.problems.add(
                self.media.first_file,
                "a local file is uploaded before use: name the bucket in settings.uploads "
                "(url: s3://bucket/prefix)",
                once="uploads",
            )
        if self.problems.found:
            raise SpecError(self.problems.found)
        jobs = self._build(order, by_id)
        jobs.extend(finals(jobs, promoted))
        return Spec(
            path=self.marks.file,
            jobs=tuple(jobs),
            assets=self.media.assets,
            settings=settings_of(settings),
            outputs_dir=(self.data.get("outputs") or {}).get("dir"),
            promote=tuple(self.data.get("promote") or ()),
            files=self.media.local,
        )

    def _expand_job(self, j: int, raw: dict[str, Any]) -> list[Proto]:
        base: Path = ("jobs", j)
        name: str = raw["name"]
        self.lints.extra(raw.get("extra"), (*base, "extra"))
        matrix = raw.get("matrix")
        combos: list[dict[str, Any]] = [{}]
        unnamed: frozenset[str] = frozenset()  # catalog columns left out of the job ids
        if matrix is not None and ROWS in matrix:
            loaded = self._with_rows(matrix, (*base, "matrix", ROWS))
            if loaded is None:
                self.failed_names.add(name)
                return []
            matrix, unnamed = loaded
        if matrix is not None:
            self.matrices[name] = matrix
            self.lints.matrix(matrix, (*base, "matrix"), raw)
            if not self._affordable(matrix, (*base, "matrix")):
                self.failed_names.add(name)
                return []
            combos = expand(matrix)
            if not combos:
                self.problems.add(
                    (*base, "matrix"),
                    "the matrix leaves no combination after exclude"
                    if axes_of(matrix)
                    else "the matrix has no combination; give it an axis or an include entry",
                    key=True,
                )
                self.failed_names.add(name)
                return []
        else:
            self.job_count += 1
        params = {**self.defaults, **{k: raw[k] for k in PARAMS if k in raw}}
        params["extra"] = {**(self.defaults.get("extra") or {}), **(raw.get("extra") or {})}
        recipes, broken = self.media.recipes(name, raw, base)
        templated = is_template(raw["prompt"]) or any(
            not isinstance(r, MediaItem) and is_template(r.source) for r in recipes
        )
        fixed = [r for r in recipes if isinstance(r, MediaItem)]
        t = Template(
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
        t.prompt_path = (*base, "prompt")
        if raw.get("matrix") is not None:
            t.catalog = self.catalogs.get(id(raw["matrix"]))
        if t.prompt_templated:
            t.prompt_parts = _fillable(simple_names(t.prompt))
        t.url_parts = {
            id(r): _fillable(simple_names(r.source))
            for r in recipes
            if isinstance(r, UrlRecipe | FileRecipe)
        }
        ids = JobIds(name)
        out: list[Proto] = []
        for index, combo in enumerate(combos):
            named = {k: v for k, v in combo.items() if k not in unnamed} if unnamed else combo
            proto = self._combo(t, index, combo, ids(named))
            if proto is not None:
                out.append(proto)
        return out

    def _with_rows(
        self, matrix: Mapping[str, Any], path: Path
    ) -> tuple[dict[str, Any], frozenset[str]] | None:
        """The matrix with its catalog read into rows, and the columns its ids leave out."""
        spec = matrix[ROWS]
        written, id_columns = (spec, None) if isinstance(spec, str) else (spec["file"], spec["id"])
        table = (self.files or NoFiles()).table(written)
        if isinstance(table, str):
            self.problems.add(path, table)
            return None
        try:
            rows = parse_rows(table, RESERVED_COLUMNS)
        except CatalogError as exc:
            self.problems.add(path, str(exc))
            return None
        unnamed: frozenset[str] = frozenset()
        if id_columns is not None:
            unknown = [c for c in id_columns if c not in rows.columns]
            if unknown:
                self.problems.add(
                    (*path, "id"),
                    f"{written} has no column {', '.join(map(repr, unknown))}; "
                    f"columns: {', '.join(rows.columns)}",
                )
                return None
            unnamed = frozenset(rows.columns) - set(id_columns)
        self.catalogs[id(matrix)] = (written, rows)
        return {**matrix, ROWS: list(rows.rows)}, unnamed

    def _affordable(self, matrix: Mapping[str, Any], path: Path) -> bool:
        """Whether expanding ``matrix`` stays within the limits; else one diagnostic."""
        combos, checks = counts(matrix)
        see = "(see docs/limits.md)"
        if combos > limits.MAX_COMBINATIONS:
            message = (
                f"the matrix makes {combos:,} combinations; at most "
                f"{limits.MAX_COMBINATIONS:,} are allowed per job {see}"
            )
        elif checks > limits.MAX_MATRIX_CHECKS:
            message = (
                f"the matrix needs {checks:,} comparisons of a combination with an include "
                f"or exclude entry; at most {limits.MAX_MATRIX_CHECKS:,} are allowed {see}"
            )
        elif self.job_count + combos > limits.MAX_JOBS:
            message = (
                f"with this matrix the spec makes {self.job_count + combos:,} jobs; at most "
                f"{limits.MAX_JOBS:,} are allowed in all {see}"
            )
        else:
            self.job_count += combos
            return True
        self.problems.add(path, message, key=True)
        return False

    def _text(
        self,
        t: Template,
        parts: _Fill | None,
        source: str,
        path: Path,
        index: int,
        combo: dict[str, Any],
        jid: str,
        context: dict[str, Any] | None,
    ) -> tuple[str | None, dict[str, Any] | None]:
        """A templated text of one combination: filled from its pre-split ``parts``
        when it is plain substitution, else rendered (the render context is made on
        first need and handed back, so one combination makes it once)."""
        text = _fill(parts, combo, self.vars) if parts is not None else None
        if text is None:
            if context is None:
                context = self._context(t, index, combo, jid)
            text = self._render(jid, source, context, path)
        return text, context

    def _combo(self, t: Template, index: int, combo: dict[str, Any], jid: str) -> Proto | None:
        params = t.params
        for k in combo:
            if k in PARAM_SET:
                if params is t.params:
                    params = dict(params)
                params[k] = {**params["extra"], **combo[k]} if k == "extra" else combo[k]
        ok = not t.broken
        context: dict[str, Any] | None = None  # made only when `render` needs it
        prompt: str | None = t.prompt
        if t.prompt_templated:
            prompt, context = self._text(
                t, t.prompt_parts, t.prompt, t.prompt_path, index, combo, jid, context
            )
        media: list[Media]
        if t.fixed_media is not None:
            media = t.fixed_media  # shared: no `from:` items, so never rewritten
        else:
            media = []
            for r in t.media:
                if isinstance(r, MediaItem):
                    media.append(r)
                elif isinstance(r, UrlRecipe):
                    parts = t.url_parts.get(id(r)) if t.url_parts else None
                    url, context = self._text(
                        t, parts, r.source, (*r.path, "url"), index, combo, jid, context
                    )
                    item, good = self.media.rendered_item(jid, url, r)
                    ok = ok and good
                    media.append(item)
                elif isinstance(r, FileRecipe):
                    parts = t.url_parts.get(id(r)) if t.url_parts else None
                    written, context = self._text(
                        t, parts, r.source, (*r.path, "file"), index, combo, jid, context
                    )
                    found = None
                    if written is not None:
                        found = self.media.file_item(
                            written, r.role, r.moderate, (*r.path, "file"), self._who(t, jid, combo)
                        )
                    ok = ok and found is not None
                    media.append(found or MediaItem("image", "", r.role))
                else:
                    source, context = self._text(
                        t, None, r.source, (*r.path, "from"), index, combo, jid, context
                    )
                    ok = ok and source is not None
                    media.append(Chain(source or "", r.role, r.path))
        if t.fixed_media is None:
            # Equal media give equal counts and ids, and their roles were checked already.
            shape = tuple(media)
            known = t.media_memo.get(shape)
            if known is None:
                counts = self.lints.media_counts(jid, media, t.path)
                ids = self.media.ids_in(media)
                t.media_memo[shape] = (counts, ids)
            else:
                counts, ids = known
        else:  # the same for every combination: work it out once
            if t.fixed_counts is None:
                t.fixed_counts = self.lints.media_counts(jid, media, t.path)
                t.fixed_ids = self.media.ids_in(media)
            counts, ids = t.fixed_counts, t.fixed_ids
        if prompt is not None:
            self.lints.prompt(jid, prompt, counts, ids, t.prompt_path)
        if not ok or prompt is None:
            self.failed_ids.add(jid)
            return None
        api = params.get("api", "official")
        return Proto(
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

    def _who(self, t: Template, jid: str, combo: dict[str, Any]) -> str:
        """``job <id>``, and the catalog row it came from: ``(products.csv:4)``."""
        if t.catalog is None:
            return f"job {jid}"
        written, rows = t.catalog
        line = rows.line_of(combo)
        return f"job {jid} ({written}:{line})" if line else f"job {jid}"

    def _context(self, t: Template, index: int, combo: dict[str, Any], jid: str) -> dict[str, Any]:
        if not t.templated:
            return {}
        return {**self.vars, **combo, "job": {"name": t.name, "index": index, "id": jid}}

    def _render(self, jid: str, source: str, context: dict[str, Any], path: Path) -> str | None:
        try:
            return render(source, context, self.budget)
        except RenderError as exc:
            self.problems.add(path, f"job {jid}: {exc}", once=f"render:{exc}")
            return None

    def _build(self, order: list[str], by_id: dict[str, Proto]) -> list[Job]:
        """Records in ``order``; a chained frame becomes a stand-in holding its source's key."""
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
                    if isinstance(m, Chain)
                    else m
                    for m in p.media
                ]
            body, slots, key = build_body_keyed(p.api, params, p.prompt, media, self._memo)
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


# Catalog columns are template variables: never a request parameter, nor `job`.
RESERVED_COLUMNS = frozenset({*PARAM_SET, RESERVED_VAR, "include", "exclude", ROWS})
_MISSING = object()
_PLAIN = (str, int, float, bool)
# A simple template as a str.format pattern and the names it looks up, in order.
_Fill = tuple[str, tuple[str, ...]]


def _fillable(parts: SimpleParts | None) -> _Fill | None:
    if parts is None or any(is_name and text == RESERVED_VAR for is_name, text in parts):
        return None
    pattern = "".join(
        "{}" if is_name else text.replace("{", "{{").replace("}", "}}") for is_name, text in parts
    )
    return pattern, tuple(text for is_name, text in parts if is_name)


def _fill(fill: _Fill, combo: Mapping[str, Any], variables: Mapping[str, Any]) -> str | None:
    """``render`` of a simple template whose names are all plain matrix values or vars.

    None when a name is a global, undefined or not a plain scalar: ``render`` then
    does it (and words any error) as before. Same lookup order as the context
    ``{**vars, **combo, "job": ...}``; ``format`` with no spec is ``str``.
    """
    pattern, names = fill
    values = []
    for name in names:
        value = combo.get(name, _MISSING)
        if value is _MISSING:
            value = variables.get(name, _MISSING)
        if type(value) not in _PLAIN:
            return None
        values.append(value)
    return pattern.format(*values)
