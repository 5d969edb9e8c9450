"""Spec file -> validated, expanded campaign. Pure: no network, no trio.

Raw YAML becomes typed records exactly once, here. Every problem found is
reported with its file, line and column, and all of them are reported at once:
schema errors first stop only the job they are in, so the lints of the other
jobs are reported alongside them.

The work is split by responsibility: ``schema_check`` (the JSON schema and its
errors), ``expand`` (matrix combinations -> jobs), ``media``, ``lints`` and
``chains`` (checks and links), ``campaign`` (the records made) and
``selection`` (picking jobs by id). This module keeps the entry point and
re-exports the names the rest of seedrun imports from it.
"""

from __future__ import annotations

import gc

from seedrun.campaign import (
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_RPS,
    FINAL_SUFFIX,
    Asset,
    Job,
    Settings,
    Spec,
)
from seedrun.errors import SpecError
from seedrun.expand import Expander
from seedrun.lints import RESERVED_VAR, ROLE_TYPES, unprintable
from seedrun.localrefs import FileLookup
from seedrun.schema_check import INTEGER_PARAMS, normalize_ints, schema, schema_problems
from seedrun.selection import glob_regex, select
from seedrun.yamlload import load_yaml

__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_RPS",
    "FINAL_SUFFIX",
    "INTEGER_PARAMS",
    "RESERVED_VAR",
    "ROLE_TYPES",
    "Asset",
    "Job",
    "Settings",
    "Spec",
    "glob_regex",
    "load_spec",
    "schema",
    "select",
]


def load_spec(text: str, file: str, files: FileLookup | None = None) -> Spec:
    """Parse, validate and expand a spec. Raises SpecError with every problem.

    ``files`` answers for the local files the spec names (see ``seedrun.localrefs``).
    """
    data, marks = load_yaml(text, file)
    if data is None:
        raise SpecError([marks.diag((), "the spec is empty; it needs `version: 1` and `jobs:`")])
    found = schema_problems(data, marks)
    if isinstance(data, dict):
        seen = {path for path, _ in found}  # the schema's "invalid name" says enough
        found += [(p, d) for p, d in unprintable(data, marks) if p not in seen]
    broken_jobs: set[int] = set()
    for path, _ in found:
        if len(path) >= 2 and path[0] == "jobs" and isinstance(path[1], int):
            broken_jobs.add(path[1])
        else:  # outside any one job: the rest cannot be read safely
            raise SpecError([d for _, d in found])
    normalize_ints(data, broken_jobs)
    # Expansion makes a few container objects per job and frees none of them, so the
    # cyclic GC would only rescan an ever larger heap: pause it (a 100k matrix: 2x faster).
    paused = gc.isenabled()
    gc.disable()
    try:
        return Expander(data, marks, [d for _, d in found], broken_jobs, files).run()
    finally:
        if paused:
            gc.enable()
