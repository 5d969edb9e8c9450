"""seedrun: declarative, version-controlled batch runs of Seedance video tasks."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
