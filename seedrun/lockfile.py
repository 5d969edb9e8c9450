"""The lockfile model and its canonical text. Pure: no file IO here.

The text is deterministic: schema version first, a fixed field order per
entry, ids and URLs sorted, empty fields left out. One job is one contiguous
block, so a change to one job is one hunk and git merges of different jobs
are clean.

A lockfile is untrusted input (it arrives in pull requests), so reading one is
bounded: no YAML aliases, nesting at most ``limits.MAX_DEPTH`` deep. Its last
line is ``END``, and its first line says so: a file cut short at a line
boundary (a full disk, a half-copied file) is refused, not read as a smaller
campaign. The end line never changes, so it cannot make two branches conflict
the way a job count would; lockfiles written before it (whose first line is
``OLD_HEADER``) still load. Unresolved git conflict markers are named as such.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema
import yaml

from seedrun import limits, lockcodec
from seedrun.errors import LockError
from seedrun.safetext import clean, short
from seedrun.yamlload import CONFLICT_MARKER, syntax_error

LOCK_VERSION = 1
STATUSES = ("queued", "running", "succeeded", "failed", "blocked", "unknown", "cancelled")
IN_FLIGHT = ("queued", "running")
OLD_HEADER = "# seedrun lockfile: written by `seedrun apply`. Commit it next to the spec.\n"
HEADER = (
    "# seedrun lockfile: written by `seedrun apply`. Commit it next to the spec. "
    "Its last line is `# end of lockfile`.\n"
)
END = "# end of lockfile\n"

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class FileRef:
    """A file seedrun wrote, relative to the lockfile's folder."""

    path: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class AssetEntry:
    passed: bool
    asset_url: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class LockEntry:
    key: str
    status: str
    api: str = "official"
    kind: str = "video"  # video | draft | final
    request: Mapping[str, Any] | None = None
    task_id: str | None = None
    video_url: str | None = None
    output: FileRef | None = None
    last_frame_url: str | None = None
    last_frame: FileRef | None = None
    error: Mapping[str, str] | None = None
    seed: int | None = None
    revised_prompt: str | None = None
    usage: Mapping[str, int] | None = None
    service_tier: str | None = None
    execution_expires_after: int | None = None
    created_at: int | None = None
    updated_at: int | None = None
    # Our own observations, for the poller of the next run (seedrun.eta): when the
    # create was answered here (epoch seconds, this machine's clock, to the ms;
    # it orders tasks the server stamped with the same second), and how long the
    # task ran on the provider, start to end, queue time excluded.
    submitted_at: float | None = None
    run_seconds: float | None = None
    # The result this entry replaces (task id, output, seed, usage...), kept until a
    # new result takes its place: a failed or unfinished replacement never erases a
    # paid video. Plain data, as ``previous_of`` makes it.
    previous: Mapping[str, Any] | None = None

    def with_(self, **changes: Any) -> LockEntry:
        return replace(self, **changes)


@dataclass(frozen=True)
class Lock:
    assets: Mapping[str, AssetEntry] = field(default_factory=dict)
    jobs: Mapping[str, LockEntry] = field(default_factory=dict)

    def with_job(self, job_id: str, entry: LockEntry) -> Lock:
        return Lock(self.assets, {**self.jobs, job_id: entry})

    def with_asset(self, url: str, entry: AssetEntry) -> Lock:
        return Lock({**self.assets, url: entry}, self.jobs)


# ---------------------------------------------------------------- to / from plain data

# `request` goes last: the fields that change as a task advances (status, task
# id, output...) then sit together, so one job's progress is one diff hunk.
_ENTRY_FIELDS = [f.name for f in fields(LockEntry) if f.name != "request"] + ["request"]
_ENTRY_FIELD_SET = frozenset(_ENTRY_FIELDS)


def entry_to_dict(entry: LockEntry) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _ENTRY_FIELDS:
        value = getattr(entry, name)
        if value is None or (name == "kind" and value == "video"):
            continue
        if isinstance(value, FileRef):
            value = {"path": value.path, "sha256": value.sha256, "bytes": value.bytes}
        elif name in ("request", "previous"):
            value = json.loads(json.dumps(value, sort_keys=True))
        elif isinstance(value, Mapping):
            value = {k: value[k] for k in sorted(value)}
        out[name] = value
    return out


def entry_from_dict(data: Mapping[str, Any]) -> LockEntry:
    kw: dict[str, Any] = {k: v for k, v in data.items() if k in _ENTRY_FIELD_SET}
    for name in ("output", "last_frame"):
        if isinstance(kw.get(name), Mapping):
            kw[name] = FileRef(**kw[name])
    return LockEntry(**kw)


def asset_to_dict(entry: AssetEntry) -> dict[str, Any]:
    out: dict[str, Any] = {"passed": entry.passed}
    if entry.asset_url:
        out["asset_url"] = entry.asset_url
    if entry.reason:
        out["reason"] = entry.reason
    return out


def to_data(lock: Lock) -> dict[str, Any]:
    data: dict[str, Any] = {"version": LOCK_VERSION}
    if lock.assets:
        data["assets"] = {u: asset_to_dict(lock.assets[u]) for u in sorted(lock.assets)}
    data["jobs"] = {j: entry_to_dict(lock.jobs[j]) for j in sorted(lock.jobs)}
    return data


def dumps(lock: Lock) -> str:
    """The canonical lockfile text."""
    return HEADER + lockcodec.dumps(to_data(lock), flow=frozenset({"request"})) + END


@lru_cache(maxsize=1)
def lock_schema() -> dict[str, Any]:
    text = resources.files("seedrun").joinpath("schemas/seedrun.lock.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def loads(text: str, file: str) -> Lock:
    """Parse and validate lockfile text; any problem is a one-line LockError."""
    _check_whole(text, file)
    try:
        data = lockcodec.loads(text)
        if data is None:  # not in seedrun's own subset (hand-edited): full YAML
            _refuse_aliases(text, file)
            data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        raise _syntax_error(text, file) from None
    except RecursionError:
        raise LockError(f"{file}: not a valid lockfile: {_too_deep()}") from None
    except ValueError:  # Python's 4300-digit limit on int("...")
        long = re.search(r"\d{4300}", text)
        line = text.count("\n", 0, long.start()) + 1 if long else 1
        raise LockError(f"{file}:{line}: not a valid lockfile: {_too_big()}") from None
    found = _out_of_bounds(data)
    if found is not None:
        where, why = found
        at = _line_of(text, where if why in (_too_big, _not_a_number) else where[:2])
        top = ".".join(str(p) for p in where[:2])
        raise LockError(f"{file}:{at}: {top}: not a valid lockfile: {why()}")
    if data is None:
        return Lock()
    version = data.get("version") if isinstance(data, dict) else LOCK_VERSION
    if version != LOCK_VERSION and isinstance(version, int) and not isinstance(version, bool):
        line = _line_of(text, ["version"])
        raise LockError(
            f"{file}:{line}: version: lockfile version {version} is not supported; "
            f"this seedrun reads version {LOCK_VERSION}"
        )
    err = None
    if not _plainly_valid(data):  # only then ask jsonschema, for its verdict and message
        err = jsonschema.exceptions.best_match(_lock_validator().iter_errors(data))
    if err is not None:
        where = list(err.absolute_path)
        path = ".".join(str(p) for p in where) or "(top level)"
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            known = err.schema.get("properties") or {}
            where += [k for k in err.instance if k not in known][:1]  # point at the stray key
        line = _line_of(text, where)
        reason = short(err.message, 300)  # jsonschema quotes the bad value whole
        raise LockError(f"{file}:{line}: {clean(path)}: not a valid lockfile: {reason}")
    assets = {u: AssetEntry(**a) for u, a in (data.get("assets") or {}).items()}
    jobs = {j: entry_from_dict(e) for j, e in (data.get("jobs") or {}).items()}
    return Lock(assets, jobs)


def _check_whole(text: str, file: str) -> None:
    """Refuse a file with git conflict markers, or one cut short before its end line."""
    conflict = CONFLICT_MARKER.search(text)
    if conflict is not None:
        line = text.count("\n", 0, conflict.start()) + 1
        rel = file if os.path.isabs(file) or file.startswith(("./", "../")) else f"./{file}"
        raise LockError(
            f"{file}:{line}: the lockfile has unresolved git conflict markers "
            f"({conflict.group(1)}); merge both sides with `seedrun lock merge --base "
            f":1:{rel} :2:{rel} :3:{rel} -o {file}`, and set up the merge driver "
            '(README, "Lockfiles and git") so that git merges lockfiles itself'
        )
    if text.startswith(HEADER.rstrip("\n")) and not text.rstrip().endswith(END.rstrip("\n")):
        lines = text.count("\n") + (0 if text.endswith("\n") else 1)
        raise LockError(
            f"{file}: truncated: the file ends at line {lines} without its last line "
            f"`{END.rstrip()}`; restore it from git (`git checkout -- {file}`) or a backup"
        )


def _refuse_aliases(text: str, file: str) -> None:
    """Aliases are never written by seedrun, and an alias bomb expands to gigabytes."""
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            line = event.start_mark.line + 1 if event.start_mark else 1
            raise LockError(
                f"{file}:{line}: not a valid lockfile: YAML aliases (*{event.anchor}) are "
                "not allowed in a lockfile"
            )


def _too_deep() -> str:
    return f"nesting is deeper than {limits.MAX_DEPTH} levels (see docs/limits.md)"


def _too_big() -> str:
    return f"integer too large (more than {limits.MAX_INT_BITS_IN_FILE} bits)"


_MAX_INT = 1 << (limits.MAX_INT_BITS_IN_FILE - 1)


def _not_a_number() -> str:
    return "not a number (NaN)"


def _out_of_bounds(data: Any) -> tuple[list[Any], Callable[[], str]] | None:
    """The path to a value nested deeper than ``MAX_DEPTH`` or an integer past 64 bits,
    and which of the two it is; found without recursing."""
    todo: list[tuple[Any, list[Any]]] = [(data, [])]
    while todo:
        value, path = todo.pop()
        if len(path) > limits.MAX_DEPTH:
            return path, _too_deep
        if type(value) is int and not -_MAX_INT <= value < _MAX_INT:
            return path, _too_big
        if type(value) is float and value != value:
            return path, _not_a_number  # YAML's .nan: passes every bound of the schema
        if isinstance(value, dict):
            todo.extend((v, [*path, k]) for k, v in value.items())
        elif isinstance(value, list):
            todo.extend((v, [*path, i]) for i, v in enumerate(value))
    return None


@lru_cache(maxsize=1)
def _lock_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(lock_schema())


_HEX64 = re.compile(r"[0-9a-f]{64}")
_STATUSES = frozenset(STATUSES)
_TEXT_FIELDS = frozenset(
    {"task_id", "video_url", "last_frame_url", "revised_prompt", "service_tier"}
)
_INT_FIELDS = frozenset({"seed", "execution_expires_after", "created_at", "updated_at"})
_SECONDS_FIELDS = frozenset({"submitted_at", "run_seconds"})


def _plainly_valid(data: Any) -> bool:
    """A fast, strict subset of the lock schema (jsonschema takes seconds for 100k entries).

    True means the schema certainly accepts ``data``; False means "ask jsonschema".
    """
    if type(data) is not dict or not data.keys() <= {"version", "assets", "jobs"}:
        return False
    if type(data.get("version")) is not int or data["version"] != LOCK_VERSION:
        return False
    assets = data.get("assets", {})
    jobs = data.get("jobs", {})
    if type(assets) is not dict or type(jobs) is not dict:
        return False
    for a in assets.values():
        if type(a) is not dict or type(a.get("passed")) is not bool:
            return False
        for k, v in a.items():
            if k != "passed" and (k not in ("asset_url", "reason") or type(v) is not str):
                return False
    return all(_plain_entry(e) for e in jobs.values())


def _plain_entry(e: Any) -> bool:
    if type(e) is not dict or "key" not in e or "status" not in e:
        return False
    for k, v in e.items():
        if k in _TEXT_FIELDS:
            ok = type(v) is str
        elif k in _INT_FIELDS:
            ok = type(v) is int
        elif k == "key":
            ok = type(v) is str and _HEX64.fullmatch(v) is not None
        elif k == "status":
            ok = type(v) is str and v in _STATUSES
        elif k == "api":
            ok = v in ("official", "unified")
        elif k == "kind":
            ok = v in ("draft", "final")
        elif k == "request":
            ok = type(v) is dict
        elif k in ("output", "last_frame"):
            ok = _plain_file(v)
        elif k == "error":
            ok = type(v) is dict and all(
                f in ("code", "message") and type(x) is str for f, x in v.items()
            )
        elif k == "usage":
            ok = type(v) is dict and all(type(x) is int for x in v.values())
        elif k in _SECONDS_FIELDS:
            ok = type(v) in (int, float) and 0 <= v < 1e12
        elif k == "previous":
            ok = type(v) is dict and "key" in v and _plain_entry({"status": "succeeded", **v})
        else:
            ok = False
        if not ok:
            return False
    return True


def _plain_file(v: Any) -> bool:
    return (
        type(v) is dict
        and v.keys() == {"path", "sha256", "bytes"}
        and type(v["path"]) is str
        and type(v["sha256"]) is str
        and _HEX64.fullmatch(v["sha256"]) is not None
        and type(v["bytes"]) is int
        and v["bytes"] >= 0
    )


def _syntax_error(text: str, file: str) -> LockError:
    """The error for unparsable text, worded by pyyaml's Python parser on every machine
    (libyaml, which reads valid files faster, words its errors differently)."""
    found = syntax_error(text)
    if found is None:
        return LockError(f"{file}: not a valid lockfile: YAML syntax error")
    line, col, message = found
    return LockError(f"{file}:{line}:{col}: not a valid lockfile: YAML syntax error: {message}")


def _line_of(text: str, path: list[Any]) -> int:
    """Best-effort line of a path, found by composing nodes only on the error path."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except (yaml.YAMLError, RecursionError):
        return 1
    line = 1
    for part in path:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


# ---------------------------------------------------------------- journal events


def job_event(job_id: str, entry: LockEntry | None) -> dict[str, Any]:
    """A job's new entry; ``None`` drops it (a create that was journaled but
    certainly never sent leaves the job as it was before)."""
    return {"job": job_id, "entry": None if entry is None else entry_to_dict(entry)}


# The result fields a replacement carries forward in ``previous``.
PREVIOUS_FIELDS = ("key", "task_id", "video_url", "output", "last_frame", "seed", "usage",
                   "revised_prompt", "created_at")


def previous_of(old: LockEntry | None) -> Mapping[str, Any] | None:
    """What a new attempt for a job keeps of ``old``: its paid result when it has
    one, else whatever ``old`` itself kept."""
    if old is None:
        return None
    if old.output is None and not (old.status == "succeeded" and old.task_id):
        return old.previous
    data = entry_to_dict(old)
    return {k: data[k] for k in PREVIOUS_FIELDS if k in data}


def asset_event(url: str, entry: AssetEntry) -> dict[str, Any]:
    return {"asset": url, "entry": asset_to_dict(entry)}


def event_problem(event: Any) -> str | None:
    """Why a journal event is not one seedrun writes; None when it is."""
    if type(event) is not dict or len(event) != 2 or "entry" not in event:
        return "not a journal event"
    if type(event.get("job")) is str and event["entry"] is None:
        return None
    if type(event.get("job")) is str:
        doc: dict[str, Any] = {"version": LOCK_VERSION, "jobs": {event["job"]: event["entry"]}}
    elif type(event.get("asset")) is str:
        doc = {"version": LOCK_VERSION, "assets": {event["asset"]: event["entry"]}}
    else:
        return "not a journal event"
    if _plainly_valid(doc):
        return None
    err = jsonschema.exceptions.best_match(_lock_validator().iter_errors(doc))
    return None if err is None else f"{'.'.join(map(str, err.absolute_path))}: {err.message}"


def fold(lock: Lock, events: Iterable[Mapping[str, Any]]) -> Lock:
    """Apply journal events in order; the last event for an id wins."""
    assets = dict(lock.assets)
    jobs = dict(lock.jobs)
    for ev in events:
        if "job" in ev:
            if ev["entry"] is None:
                jobs.pop(ev["job"], None)
            else:
                jobs[ev["job"]] = entry_from_dict(ev["entry"])
        elif "asset" in ev:
            assets[ev["asset"]] = AssetEntry(**ev["entry"])
    return Lock(assets, jobs)
