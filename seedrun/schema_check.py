"""Schema validation of raw spec data: the JSON schema, its errors as diagnostics. Pure.

Each jsonschema error becomes a message in the spec's own words, placed at the
line and column of the bad value, with a suggestion where one is likely.
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema

from seedrun.errors import Diagnostic
from seedrun.yamlload import Marks, Path

INTEGER_PARAMS = ("duration", "seed", "execution_expires_after")


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    text = resources.files("seedrun").joinpath("schemas/seedrun.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def schema_problems(data: Any, marks: Marks) -> list[tuple[Path, Diagnostic]]:
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


def normalize_ints(data: dict[str, Any], skip: set[int]) -> None:
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
