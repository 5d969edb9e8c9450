"""Files we ship: every example spec validates, and the JSON Schemas are sound."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from seedrun import api_facts
from seedrun.files import read_spec
from seedrun.lockfile import lock_schema
from seedrun.spec import load_spec, schema

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def _is_spec(path: Path) -> bool:
    """A spec is a YAML mapping with top-level ``version:`` and ``jobs:``."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        return False
    return isinstance(data, dict) and "version" in data and "jobs" in data


def _example_specs() -> list[Path]:
    found = sorted(
        {
            p
            for pattern in ("*.yaml", "**/*.yaml", "*.yml", "**/*.yml")
            for p in EXAMPLES.glob(pattern)
        }
    )
    # examples/ci/ also holds CI workflows and the like; elsewhere every YAML file is a spec.
    return [p for p in found if _is_spec(p) or EXAMPLES / "ci" not in p.parents]


SPECS = _example_specs()


def test_there_are_examples() -> None:
    assert EXAMPLES / "full.yaml" in SPECS


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_validates(path: Path) -> None:
    spec = read_spec(path)  # as the CLI reads it: local files are checked too
    assert spec.jobs


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_schema_comment_points_at_the_schema(path: Path) -> None:
    match = re.search(r"\$schema=(\S+)", path.read_text(encoding="utf-8"))
    if match is None:
        return
    target = (path.parent / match.group(1)).resolve()
    assert target == (REPO / "seedrun/schemas/seedrun.schema.json").resolve()


def test_full_example_uses_every_feature() -> None:
    text = (EXAMPLES / "full.yaml").read_text(encoding="utf-8")
    spec = load_spec(text, "examples/full.yaml")
    kinds = {j.kind for j in spec.jobs}
    apis = {j.api for j in spec.jobs}
    assert kinds == {"video", "draft", "final"}
    assert apis == {"official", "unified"}
    assert any(j.deps and j.kind != "final" for j in spec.jobs)  # a chain
    assert any(j.moderated_urls for j in spec.jobs)
    for word in ("include:", "exclude:", "extra:", "first_frame", "last_frame", "promote:"):
        assert word in text


# ---------------------------------------------------------------- schemas


@pytest.mark.parametrize("loaded", [schema(), lock_schema()], ids=["spec", "lock"])
def test_schemas_are_valid_draft_2020_12(loaded: dict[str, Any]) -> None:
    assert loaded["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(loaded)


def test_schema_enums_are_the_api_facts() -> None:
    defs = schema()["$defs"]
    media = schema()["properties"]["jobs"]["items"]["properties"]["media"]["items"]
    assert tuple(defs["ratio"]["enum"]) == api_facts.RATIOS
    assert tuple(defs["resolution"]["enum"]) == api_facts.RESOLUTIONS
    assert tuple(defs["api"]["enum"]) == api_facts.APIS
    assert tuple(defs["service_tier"]["enum"]) == api_facts.SERVICE_TIERS
    assert (defs["duration"]["minimum"], defs["duration"]["maximum"]) == (
        api_facts.DURATION_MIN,
        api_facts.DURATION_MAX,
    )
    assert (
        defs["execution_expires_after"]["minimum"],
        defs["execution_expires_after"]["maximum"],
    ) == (api_facts.EXECUTION_EXPIRES_MIN, api_facts.EXECUTION_EXPIRES_MAX)
    assert defs["model"]["examples"] == [api_facts.MODEL]
    assert tuple(media["properties"]["role"]["enum"]) == api_facts.ROLES
    assert tuple(media["properties"]["type"]["enum"]) == api_facts.MEDIA_TYPES
    assets = schema()["properties"]["assets"]["additionalProperties"]
    assert tuple(assets["properties"]["type"]["enum"]) == api_facts.MEDIA_TYPES


def test_every_request_parameter_is_in_defaults_jobs_and_matrix() -> None:
    from seedrun.requests import PARAMS

    props = schema()["properties"]
    job = props["jobs"]["items"]["properties"]
    matrix = job["matrix"]["properties"]
    entry = matrix["include"]["items"]["properties"]
    for param in PARAMS:
        assert props["defaults"]["properties"][param] == {"$ref": f"#/$defs/{param}"}
        assert job[param] == {"$ref": f"#/$defs/{param}"}
        assert matrix[param]["items"] == {"$ref": f"#/$defs/{param}"}
        assert entry[param] == {"$ref": f"#/$defs/{param}"}


def test_lock_schema_statuses_are_the_lockfile_statuses() -> None:
    from seedrun.lockfile import STATUSES

    status = lock_schema()["properties"]["jobs"]["additionalProperties"]["properties"]["status"]
    assert tuple(status["enum"]) == STATUSES


@pytest.mark.parametrize("name", ["seedrun.schema.json", "seedrun.lock.schema.json"])
def test_schema_symlinks_resolve_to_the_packaged_files(name: str) -> None:
    link = REPO / "schemas" / name
    assert link.is_symlink()
    assert link.resolve() == (REPO / "seedrun" / "schemas" / name).resolve()
    assert json.loads(link.read_text(encoding="utf-8")) == (
        schema() if name == "seedrun.schema.json" else lock_schema()
    )
