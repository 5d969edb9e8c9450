"""Matrix expansion with GitHub Actions semantics.

- The product of the axes is taken in declared key order.
- An ``exclude`` entry drops every combination it partially matches.
- An ``include`` entry extends every original combination whose original
  values it does not contradict (values added by earlier includes may be
  overwritten); an entry that extends none becomes a new combination.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

Combo = dict[str, Any]


def expand(matrix: Mapping[str, Any]) -> list[Combo]:
    """All combinations of ``matrix``, in a stable, documented order."""
    axes = [(k, v) for k, v in matrix.items() if k not in ("include", "exclude")]
    excludes: Sequence[Mapping[str, Any]] = matrix.get("exclude") or []
    includes: Sequence[Mapping[str, Any]] = matrix.get("include") or []

    combos: list[Combo] = []
    if axes:
        names = [k for k, _ in axes]
        for values in itertools.product(*(v for _, v in axes)):
            combo = dict(zip(names, values, strict=True))
            if not any(_matches(combo, ex) for ex in excludes):
                combos.append(combo)
    original_keys = {k for k, _ in axes}
    originals = list(combos)

    for entry in includes:
        extended = False
        for combo in originals:
            if all(combo[k] == v for k, v in entry.items() if k in original_keys):
                combo.update(entry)
                extended = True
        if not extended:
            combos.append(dict(entry))
    return combos


def _matches(combo: Combo, partial: Mapping[str, Any]) -> bool:
    return all(k in combo and combo[k] == v for k, v in partial.items())


def format_value(value: Any) -> str:
    """How a matrix value appears inside a job id."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def job_id(name: str, combo: Mapping[str, Any]) -> str:
    """``spin[backdrop=marble,ratio=16:9]``; a job without a matrix is just its name."""
    if not combo:
        return name
    inner = ",".join(f"{k}={format_value(v)}" for k, v in combo.items())
    return f"{name}[{inner}]"
