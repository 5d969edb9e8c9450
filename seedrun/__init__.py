"""seedrun: declarative, version-controlled batch runs of Seedance video tasks.

The Python API (see ``seedrun.api``): ``seedrun.load("jobs.yaml")`` gives a
``Campaign`` to ``validate()``, ``plan()``, ``apply()``, ``status()`` and ``diff()``.
"""

from __future__ import annotations

__version__ = "0.1.0"  # the one place the version is written (pyproject.toml reads it)

# After __version__: the modules below may read it while they load.
from seedrun.api import ApplyResult, Campaign, PlanResult, Validation, load
from seedrun.cost import Estimate
from seedrun.diff import LockDiff
from seedrun.errors import (
    ApiError,
    ConfigError,
    LockError,
    SeedrunError,
    SpecError,
)
from seedrun.lockfile import Lock, LockEntry
from seedrun.plan import PlanItem

__all__ = [
    "ApiError",
    "ApplyResult",
    "Campaign",
    "ConfigError",
    "Estimate",
    "Lock",
    "LockDiff",
    "LockEntry",
    "LockError",
    "PlanItem",
    "PlanResult",
    "SeedrunError",
    "SpecError",
    "Validation",
    "__version__",
    "load",
]
