"""The checks of a spec that need its place on disk, run by ``validate`` and
``apply`` through this one function, so ``validate`` never passes a spec that
``apply`` then refuses."""

from __future__ import annotations

from pathlib import Path

from seedrun.config import check_spec_base_url
from seedrun.outputfiles import outputs_dir
from seedrun.spec import Spec
from seedrun.storage import check_bucket_urls


def check(spec: Spec, spec_path: Path, *, allow_outside: bool = False) -> Path:
    """Raise ``ConfigError`` for what apply would refuse; return the outputs folder."""
    check_spec_base_url(spec.settings.base_url)
    check_bucket_urls(spec.settings.uploads)
    return outputs_dir(spec.outputs_dir, spec_path, allow_outside=allow_outside)
