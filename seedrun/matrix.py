"""Matrix expansion with GitHub Actions semantics.

- The product of the axes is taken in declared key order.
- An ``exclude`` entry drops every combination it partially matches.
  Excludes are applied before includes.
- An ``include`` entry extends every original combination whose original
  values it does not contradict (values added by earlier includes may be
  overwritten); an entry that extends none becomes a new combination.

Values compare like JSON values: ``true`` is not ``1``.

A ``rows`` axis (a catalog, see ``seedrun.catalog``) holds whole rows: each
row's columns join the combination as if each were an axis of its own.

A job id names the matrix values with the keys sorted, so it does not depend on
the order the keys are written in: ``spin[backdrop=marble,ratio=16:9]``.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

Combo = dict[str, Any]
RESERVED = ("include", "exclude")
ROWS = "rows"  # once loaded, a list of row dicts whose columns are splatted


def matrix_keys(matrix: Mapping[str, Any]) -> list[str]:
    """The keys a combination gets from the axes: a rows axis gives its columns."""
    out: list[str] = []
    for k in axes_of(matrix):
        if k == ROWS and isinstance(matrix[k], list):
            out.extend(c for row in matrix[k][:1] for c in row)
        else:
            out.append(k)
    return out


def _splat(names: list[str], values: tuple[Any, ...]) -> Combo:
    combo: Combo = {}
    for k, v in zip(names, values, strict=True):
        if k == ROWS:
            combo.update(v)
        else:
            combo[k] = v
    return combo


def axes_of(matrix: Mapping[str, Any]) -> list[str]:
    return [k for k in matrix if k not in RESERVED]


def counts(matrix: Mapping[str, Any]) -> tuple[int, int]:
    """(combinations, comparisons) that ``expand`` makes, worked out without expanding.

    Combinations: the product of the axes (before exclude, an upper bound) plus
    the include entries. Comparisons: each product combination against each
    exclude and include entry. Both are what expansion costs, so a limit on them
    is checked before any work is done.
    """
    names = axes_of(matrix)
    product = math.prod(_length(matrix[k]) for k in names) if names else 0
    includes, excludes = _length(matrix.get("include")), _length(matrix.get("exclude"))
    return product + includes, product * (includes + excludes)


def _length(values: Any) -> int:
    return len(values) if isinstance(values, list) else 0 if values is None else 1


def expand(matrix: Mapping[str, Any]) -> list[Combo]:
    """All combinations of ``matrix``, in a stable, documented order."""
    names = axes_of(matrix)
    excludes: Sequence[Mapping[str, Any]] = matrix.get("exclude") or []
    includes: Sequence[Mapping[str, Any]] = matrix.get("include") or []

    combos: list[Combo] = []
    if ROWS in names:
        product = itertools.product(*(matrix[k] for k in names))
        combos = [_splat(names, values) for values in product]
        combos = [c for c in combos if not any(_matches(c, ex) for ex in excludes)]
    elif names:
        product = itertools.product(*(matrix[k] for k in names))
        if excludes:
            combos = [
                c
                for c in (dict(zip(names, values, strict=True)) for values in product)
                if not any(_matches(c, ex) for ex in excludes)
            ]
        else:
            combos = [dict(zip(names, values, strict=True)) for values in product]
    originals = list(combos)

    keys = set(matrix_keys(matrix)) if ROWS in names else matrix
    for entry in includes:
        pinned = [(k, v) for k, v in entry.items() if k in keys and k not in RESERVED]
        extended = False
        for combo in originals:
            if all(same(combo[k], v) for k, v in pinned):
                combo.update(entry)
                extended = True
        if not extended:
            combos.append(dict(entry))
    return combos


def excluded(matrix: Mapping[str, Any]) -> Iterator[Combo]:
    """The product combinations that an ``exclude`` entry drops (for error messages)."""
    names = axes_of(matrix)
    excludes: Sequence[Mapping[str, Any]] = matrix.get("exclude") or []
    if not names or not excludes:
        return
    for values in itertools.product(*(matrix[k] for k in names)):
        combo = _splat(names, values)
        if any(_matches(combo, ex) for ex in excludes):
            yield combo


def same(a: Any, b: Any) -> bool:
    """Equality of JSON values: unlike Python's, ``true`` differs from ``1``."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _matches(combo: Combo, partial: Mapping[str, Any]) -> bool:
    return all(k in combo and same(combo[k], v) for k, v in partial.items())


def format_value(value: Any) -> str:
    """How a matrix value appears inside a job id."""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def job_id(name: str, combo: Mapping[str, Any]) -> str:
    """``spin[backdrop=marble,ratio=16:9]``; a job without a matrix is just its name.

    Keys are sorted, so the id does not depend on the order they are written in.
    """
    return JobIds(name)(combo)


class JobIds:
    """Ids of many combinations of one job (a hot path): each key order is sorted once."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._orders: dict[tuple[str, ...], list[tuple[str, str]]] = {}

    def __call__(self, combo: Mapping[str, Any]) -> str:
        if not combo:
            return self.name
        keys = tuple(combo)
        order = self._orders.get(keys)
        if order is None:
            order = self._orders[keys] = [(k, k + "=") for k in sorted(keys)]
        inner = []
        for k, head in order:
            v = combo[k]
            t = type(v)
            inner.append(
                head + (v if t is str else int.__repr__(v) if t is int else format_value(v))
            )
        return self.name + "[" + ",".join(inner) + "]"


def canonical_id(text: str) -> str:
    """A written job id with its ``key=value`` pairs sorted, as ``job_id`` makes them.

    Lets ``from: "shot[look=dark,angle=low]"`` find ``shot[angle=low,look=dark]``.
    Text that does not parse as ``name[k=v,...]`` is returned unchanged.
    """
    if not text.endswith("]") or "[" not in text:
        return text
    name, _, inner = text[:-1].partition("[")
    pairs = inner.split(",")
    if not all("=" in p for p in pairs):
        return text
    return f"{name}[{','.join(sorted(pairs, key=lambda p: p.split('=', 1)[0]))}]"
