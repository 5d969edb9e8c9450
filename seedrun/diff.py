"""Two lockfiles -> what changed, job by job. Pure: no IO.

Each job that differs gets exactly one change, the first that applies:

- ``added``: only in the new lockfile;
- ``removed``: only in the old one;
- ``replaced``: a different request (another key); the fields say which
  prompt text or parameters changed;
- ``status``: the same request, another state: a new status, or a new task;
- ``output``: the same task, another downloaded file (path or sha256).

Changes that carry no meaning for a reviewer are not reported: a refreshed
signed ``video_url``, ``updated_at``, usage arriving for the same task.

A chained frame is sent as a temporary URL; a reviewer is told where it comes
from instead ("first frame: last frame of `shot1`, which was replaced"). The
source is the job whose recorded last frame has that URL; a final's draft is the
job whose task id it names. ``replace_reason`` says the same for ``plan``, from
the spec's own slots.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from seedrun.lockfile import FileRef, Lock, LockEntry
from seedrun.requests import BodyPath, Slot, content_key, last_frame_placeholder

CHANGES = ("added", "removed", "replaced", "status", "output")
PROMPT = "prompt"
_TOKENS = re.compile(r"\s+|[^\s]+")


@dataclass(frozen=True)
class FieldChange:
    """One field's old and new value; ``diff`` is a word diff for text."""

    old: Any
    new: Any
    diff: str | None = None
    note: str | None = None  # a chained frame: what became of its source

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"old": self.old, "new": self.new}
        if self.diff is not None:
            out["diff"] = self.diff
        if self.note is not None:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Change:
    id: str
    change: str  # one of CHANGES
    fields: Mapping[str, FieldChange]
    old: LockEntry | None = None
    new: LockEntry | None = None

    @property
    def entry(self) -> LockEntry:
        """The entry that describes the job now (the old one for ``removed``)."""
        got = self.new or self.old
        assert got is not None
        return got


@dataclass(frozen=True)
class LockDiff:
    changes: tuple[Change, ...]
    unchanged: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON: ``{"changes": [...], "counts": {...}}``."""
        return {
            "changes": [
                {
                    "id": c.id,
                    "change": c.change,
                    "fields": {k: v.to_json() for k, v in c.fields.items()},
                }
                for c in self.changes
            ],
            "counts": dict(self.counts),
        }


def diff_locks(old: Lock, new: Lock) -> LockDiff:
    """Every job that differs, sorted by id, and counts of each kind of change."""
    changes: list[Change] = []
    unchanged = 0
    for jid in sorted(set(old.jobs) | set(new.jobs)):
        change = diff_entry(jid, old.jobs.get(jid), new.jobs.get(jid))
        if change is None:
            unchanged += 1
        else:
            changes.append(change)
    if any(c.change == "replaced" for c in changes):
        sources = _Sources(old, new, {c.id: c.change for c in changes})
        changes = [sources.describe(c) if c.change == "replaced" else c for c in changes]
    counts = {kind: sum(1 for c in changes if c.change == kind) for kind in CHANGES}
    counts["unchanged"] = unchanged
    return LockDiff(tuple(changes), unchanged, counts)


def diff_entry(job_id: str, old: LockEntry | None, new: LockEntry | None) -> Change | None:
    if old is None and new is None:
        return None
    if old is None:
        assert new is not None
        return Change(job_id, "added", dict(_summary(new, new=True)), None, new)
    if new is None:
        return Change(job_id, "removed", dict(_summary(old, new=False)), old, None)
    if old.key != new.key:
        return Change(job_id, "replaced", _replaced_fields(old, new), old, new)
    if old.status != new.status or _task_changed(old, new):
        fields = dict(_changed(old, new, ("status", "task_id", "error", "output")))
        return Change(job_id, "status", fields, old, new)
    fields = dict(_changed(old, new, ("output", "last_frame")))
    if fields:
        return Change(job_id, "output", fields, old, new)
    return None


def _task_changed(old: LockEntry, new: LockEntry) -> bool:
    return old.task_id != new.task_id and None not in (old.task_id, new.task_id)


def _summary(entry: LockEntry, *, new: bool) -> Iterator[tuple[str, FieldChange]]:
    for name in ("status", "task_id", "output"):
        value = _plain(getattr(entry, name))
        if value is not None:
            yield name, FieldChange(None, value) if new else FieldChange(value, None)


def _changed(
    old: LockEntry, new: LockEntry, names: tuple[str, ...]
) -> Iterator[tuple[str, FieldChange]]:
    for name in names:
        a, b = _plain(getattr(old, name)), _plain(getattr(new, name))
        if a != b:
            yield name, FieldChange(a, b)


def _plain(value: Any) -> Any:
    """A JSON-ready value: FileRefs and mappings become plain dicts."""
    if isinstance(value, FileRef):
        return {"path": value.path, "sha256": value.sha256, "bytes": value.bytes}
    if isinstance(value, Mapping):
        return {k: _plain(value[k]) for k in sorted(value)}
    return value


def _replaced_fields(old: LockEntry, new: LockEntry) -> dict[str, FieldChange]:
    fields: dict[str, FieldChange] = {"key": FieldChange(old.key, new.key)}
    fields.update(_changed(old, new, ("api", "kind")))
    if old.request is not None and new.request is not None:
        a, b = request_fields(old.request, old.api), request_fields(new.request, new.api)
        for name in sorted(set(a) | set(b), key=lambda n: (n != PROMPT, n)):
            if a.get(name) != b.get(name):
                text = name == PROMPT and isinstance(a.get(name), str)
                wd = word_diff(a[name], b.get(name) or "") if text else None
                fields[name] = FieldChange(a.get(name), b.get(name), wd)
    fields.update(_changed(old, new, ("status",)))
    return fields


def request_fields(request: Mapping[str, Any], api: str) -> dict[str, Any]:
    """A sent body as flat ``path -> value`` pairs, with the prompt text as ``prompt``.

    Paths are the body's own (``content[1].image_url.url``, ``metadata.ratio``),
    so a reviewer sees exactly which parameter of the request changed.
    """
    body: dict[str, Any] = json.loads(json.dumps(request))
    out: dict[str, Any] = {}
    if api == "unified" or "prompt" in body:
        prompt = body.pop("prompt", None)
        if prompt is not None:
            out[PROMPT] = prompt
    content = body.get("content")
    if isinstance(content, list):
        texts = [c.get("text") for c in content if isinstance(c, dict) and c.get("type") == "text"]
        if texts:
            out[PROMPT] = "\n".join(str(t) for t in texts)
        body["content"] = {
            i: c
            for i, c in enumerate(content)
            if not (isinstance(c, dict) and c.get("type") == "text")
        }
    _flatten("", body, out)
    return out


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for k in value:
            name = f"{prefix}[{k}]" if isinstance(k, int) else f"{prefix}.{k}" if prefix else k
            _flatten(name, value[k], out)
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            _flatten(f"{prefix}[{i}]", item, out)
    elif prefix:
        out[prefix] = value


# ---------------------------------------------------------------- chained frames

_ROLE_WORDS = {
    "first_frame": "first frame",
    "last_frame": "last frame",
    "reference_image": "reference image",
    "reference_video": "reference video",
    "reference_audio": "reference audio",
}
_PAST = {"replaced": "which was replaced", "added": "which is new"}


def path_name(path: BodyPath) -> str:
    """A body path in ``request_fields``' spelling: ``content[1].image_url.url``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else part
    return out


def _role_label(name: str, fields: Mapping[str, Any]) -> str:
    """``first frame`` for ``content[1].image_url.url`` whose item has that role."""
    item = re.sub(r"\.(image|video|audio)_url\.url$", "", name)
    role = fields.get(f"{item}.role")
    if isinstance(role, str):
        return _ROLE_WORDS.get(role, role.replace("_", " "))
    return "image" if item != name or name.startswith("images[") else name


_NAME_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def _path_of(name: str) -> BodyPath:
    """``content[1].image_url.url`` -> ``("content", 1, "image_url", "url")``."""
    return tuple(int(i) if i else k for i, k in _NAME_PART.findall(name))


class _Sources:
    """Which job a frame URL or a draft's task id in a recorded request stands for.

    First by the URL a source recorded as its last frame. A URL fetched afresh
    for a source finished in an earlier run was never recorded: then by the key,
    which hashes the request with the stand-in of its source
    (``seedrun://last-frame/<id>@<key>``), so the one source that gives the
    entry's own key is the one.
    """

    def __init__(self, old: Lock, new: Lock, changed: Mapping[str, str]) -> None:
        self.frames: dict[str, str] = {}
        self.tasks: dict[str, str] = {}
        for lock in (old, new):
            for jid, e in lock.jobs.items():
                if e.last_frame_url:
                    self.frames[e.last_frame_url] = jid
                if e.task_id:
                    self.tasks[e.task_id] = jid
        self.locks = (old, new)
        self.changed = changed

    def _source(self, name: str, value: Any, entry: LockEntry, lock: Lock) -> str | None:
        if not isinstance(value, str):
            return None
        if name.endswith(".draft_task.id"):
            return self.tasks.get(value)
        return self.frames.get(value) or _source_by_key(entry, _path_of(name), lock)

    def describe(self, change: Change) -> Change:
        assert change.old is not None and change.new is not None
        if change.old.request is None or change.new.request is None:
            return change
        flat = request_fields(change.new.request, change.new.api)
        old_lock, new_lock = self.locks
        fields: dict[str, FieldChange] = {}
        for name, fc in change.fields.items():
            a = self._source(name, fc.old, change.old, old_lock)
            b = self._source(name, fc.new, change.new, new_lock)
            if a is None and b is None:
                fields[name] = fc
                continue
            chained = self._chain_field(a, b)
            if chained is None:
                continue  # a fresh URL of an unchanged source's frame: nothing to review
            label = "draft" if name.endswith(".draft_task.id") else _role_label(name, flat)
            if label in fields:
                label = f"{label} ({name})"
            fields[label] = chained
        return Change(change.id, change.change, fields, change.old, change.new)

    def _chain_field(self, a: str | None, b: str | None) -> FieldChange | None:
        # An unknown URL may be a temporary one: it is never shown.
        old = f"last frame of `{a}`" if a else "(another image)"
        new = f"last frame of `{b}`" if b else "(another image)"
        if a == b and b is not None:
            note = _PAST.get(self.changed.get(b, ""))
            return None if note is None else FieldChange(old, new, note=note)
        return FieldChange(old, new)


def _source_by_key(entry: LockEntry, path: BodyPath, lock: Lock) -> str | None:
    """The job whose last-frame stand-in at ``path`` gives ``entry`` its own key."""
    if entry.request is None or not path or path[-1] != "url":
        return None
    body: Any = json.loads(json.dumps(entry.request))
    # Moderated assets stand in the key by their source URL, not the asset:// sent.
    sources = {a.asset_url: url for url, a in lock.assets.items() if a.asset_url}
    if sources:
        body = _unmoderate(body, sources)
    try:
        target = body
        for part in path[:-1]:
            target = target[part]
    except (KeyError, IndexError, TypeError):
        return None
    for jid, candidate in lock.jobs.items():
        req = candidate.request or {}
        makes_frame = req.get("return_last_frame") or (req.get("metadata") or {}).get(
            "return_last_frame"
        )
        if not makes_frame:
            continue
        target[path[-1]] = last_frame_placeholder(jid, candidate.key)
        if content_key(body) == entry.key:
            return jid
    return None


def _unmoderate(value: Any, sources: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return sources.get(value, value)
    if isinstance(value, list):
        return [_unmoderate(v, sources) for v in value]
    if isinstance(value, dict):
        return {k: _unmoderate(v, sources) for k, v in value.items()}
    return value


def replace_reason(job: Any, entry: LockEntry, lock: Lock, upstream: Mapping[str, str]) -> str:
    """Why ``plan`` replaces a job whose key changed, as a reviewer reads it.

    ``job`` is the spec's job (its body has stand-ins where the slots are), and
    ``upstream`` the action already planned for each job before it. A job whose
    own request is unchanged is replaced because a source is: "first frame: last
    frame of `shot1`, which is replaced".
    """
    if entry.request is None:
        return "request changed"
    slots: tuple[Slot, ...] = job.slots
    now, before = request_fields(job.body, job.api), request_fields(entry.request, entry.api)
    in_slots = {path_name(s.path) for s in slots}
    asset_sources = {a.asset_url: url for url, a in lock.assets.items() if a.asset_url}
    parts: list[str] = []
    changed = [
        n
        for n in sorted(set(now) | set(before), key=lambda n: (n != PROMPT, n))
        if n not in in_slots and now.get(n) != before.get(n)
    ]
    for slot in slots:
        name = path_name(slot.path)
        if slot.kind == "asset":  # sent as asset://, keyed by the source URL
            sent = before.get(name)
            was = asset_sources.get(sent, sent) if isinstance(sent, str) else sent
            if was != slot.ref:
                changed.append(name)
            continue
        action = upstream.get(slot.ref)
        if action not in ("create", "replace", "retry"):
            continue
        what = "draft" if slot.kind == "draft_task" else _role_label(name, now)
        source = f"`{slot.ref}`" if slot.kind == "draft_task" else f"last frame of `{slot.ref}`"
        verb = {"create": "is new", "replace": "is replaced", "retry": "is made again"}[action]
        parts.append(f"{what}: {source}, which {verb}")
    if changed:
        parts.insert(0, "changed: " + ", ".join(changed))
    return "; ".join(parts) or "request changed"


def word_segments(old: str, new: str) -> list[tuple[str, str]]:
    """``(op, text)`` pieces, op being ``=``, ``-`` or ``+``; whitespace stays as it was."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    out: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.append(("=", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(("-", "".join(a[i1:i2])))
        if j2 > j1:
            out.append(("+", "".join(b[j1:j2])))
    return out


def word_diff(old: str, new: str) -> str:
    """A git-style word diff: ``turns [-slowly-]{+quickly+} on``."""
    marks = {"=": ("", ""), "-": ("[-", "-]"), "+": ("{+", "+}")}
    return "".join(marks[op][0] + text + marks[op][1] for op, text in word_segments(old, new))


def line_diff(old: str, new: str) -> list[str]:
    """``- old`` / ``+ new`` / ``  same`` lines for a ```diff block, with 2 lines of context."""
    a, b = old.splitlines() or [""], new.splitlines() or [""]
    lines = list(difflib.unified_diff(a, b, n=2, lineterm=""))[2:]
    return ["…" if ln.startswith("@@") else f"{ln[:1]} {ln[1:]}" for ln in lines][1:]


# ---------------------------------------------------------------- plain text


def short(value: Any, width: int = 60) -> str:
    """One line for a value: text is quoted, long values are cut with an ellipsis."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 1] + "…"


def describe_field(name: str, fc: FieldChange, arrow: str = "->", width: int = 60) -> str:
    """``duration: 5 -> 8``, or the word diff for a prompt; ``width`` cuts each value."""
    if fc.note is not None:
        return f"{name}: {fc.new}, {fc.note}"
    if fc.diff is not None:
        return f"{name}: {fc.diff}"
    if name in ("output", "last_frame"):
        return f"{name}: {_file_change(fc.old, fc.new, arrow)}"
    if name == "key":
        return f"key: {str(fc.old)[:12]} {arrow} {str(fc.new)[:12]}"
    old, new = fc.old, fc.new
    if isinstance(old, str) and isinstance(new, str) and max(len(old), len(new)) > width:
        old, new = _past_common(old, new, width)
    return f"{name}: {_value_text(old, width)} {arrow} {_value_text(new, width)}"


def _past_common(old: str, new: str, width: int) -> tuple[str, str]:
    """Two long texts cut so that where they differ shows: a shared start becomes ``…``."""
    same = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), None)
    if same is None:
        same = min(len(old), len(new))
    keep = same - 12  # a little context before the first difference
    if keep < 8:
        return old, new
    return "…" + old[keep:], "…" + new[keep:]


def _value_text(value: Any, width: int = 60) -> str:
    return "(none)" if value is None else short(value, width)


def _file_change(old: Any, new: Any, arrow: str) -> str:
    if isinstance(old, Mapping) and isinstance(new, Mapping) and old["path"] == new["path"]:
        return f"{new['path']} sha256 {str(old['sha256'])[:12]} {arrow} {str(new['sha256'])[:12]}"
    return f"{_file_text(old)} {arrow} {_file_text(new)}"


def _file_text(value: Any) -> str:
    if not isinstance(value, Mapping):
        return "(none)"
    return f"{value['path']} (sha256 {str(value['sha256'])[:12]})"


def render_text(diff: LockDiff) -> str:
    lines: list[str] = []
    width = max((len(c.id) for c in diff.changes), default=0)
    for c in diff.changes:
        head = f"{c.change:<8}  {c.id:<{width}}"
        if c.change in ("added", "removed"):
            e = c.entry
            out = f"  {e.output.path}" if e.output else f"  {e.video_url}" if e.video_url else ""
            lines.append(f"{head}  {e.status}{out}".rstrip())
            continue
        first, *rest = [describe_field(k, v) for k, v in c.fields.items()]
        lines.append(f"{head}  {first}")
        lines.extend(f"{'':<8}  {'':<{width}}  {text}" for text in rest)
    lines.append("")
    lines.append(summary_line(diff))
    return "\n".join(lines).lstrip("\n") + "\n"


def summary_line(diff: LockDiff) -> str:
    if not diff.changes:
        return f"no changes ({diff.unchanged} jobs unchanged)"
    n = len(diff.changes)
    parts = ", ".join(f"{diff.counts[k]} {k}" for k in CHANGES if diff.counts.get(k))
    return f"{n} job{'s' if n != 1 else ''} changed: {parts} ({diff.unchanged} unchanged)"
