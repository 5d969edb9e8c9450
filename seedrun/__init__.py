"""seedrun: declarative, version-controlled batch runs of Seedance video tasks.

The Python API (see ``seedrun.api``): ``seedrun.load("jobs.yaml")`` gives a
``Campaign`` to ``validate()``, ``plan()``, ``apply()``, ``status()`` and ``diff()``.
"""

from __future__ import annotations

__version__ = "0.1.0"  # the one place the version is written (pyproject.toml reads it)

from typing import TYPE_CHECKING, Any

# The names below load on first use (PEP 562): importing a pure core module such
# as ``seedrun.lockfile`` must not pull in the shell (trio, httpx, boto3, Pillow).
_EXPORTS = {
    "ApplyResult": "seedrun.api",
    "Campaign": "seedrun.api",
    "PlanResult": "seedrun.api",
    "Validation": "seedrun.api",
    "load": "seedrun.api",
    "Estimate": "seedrun.cost",
    "LockDiff": "seedrun.diff",
    "ApiError": "seedrun.errors",
    "ConfigError": "seedrun.errors",
    "LockError": "seedrun.errors",
    "SeedrunError": "seedrun.errors",
    "SpecError": "seedrun.errors",
    "Lock": "seedrun.lockfile",
    "LockEntry": "seedrun.lockfile",
    "PlanItem": "seedrun.plan",
}

if TYPE_CHECKING:
    from seedrun.api import ApplyResult, Campaign, PlanResult, Validation, load
    from seedrun.cost import Estimate
    from seedrun.diff import LockDiff
    from seedrun.errors import ApiError, ConfigError, LockError, SeedrunError, SpecError
    from seedrun.lockfile import Lock, LockEntry
    from seedrun.plan import PlanItem


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'seedrun' has no attribute {name!r}")


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
