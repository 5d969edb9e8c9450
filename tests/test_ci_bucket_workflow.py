"""examples/ci/seedrun-bucket.yml: the workflow whose shards keep their videos in a bucket."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from seedrun import cli

WORKFLOW = Path(__file__).resolve().parent.parent / "examples" / "ci" / "seedrun-bucket.yml"


def load() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return data


def steps(job: str) -> list[dict[str, Any]]:
    s: list[dict[str, Any]] = load()["jobs"][job]["steps"]
    return s


def names(job: str) -> list[str]:
    return [s.get("name", s.get("uses", "")) for s in steps(job)]


def test_shards_write_to_the_bucket_with_a_role_and_upload_only_lockfiles() -> None:
    job = load()["jobs"]["apply"]
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    creds = next(s for s in steps("apply") if s.get("uses", "").startswith("aws-actions/"))
    assert creds["with"] == {
        "role-to-assume": "${{ vars.SEEDRUN_AWS_ROLE }}",
        "aws-region": "${{ vars.AWS_REGION }}",
    }
    order = names("apply")
    assert order.index("Credentials for the bucket") < order.index("Apply this shard")
    upload = next(s for s in steps("apply") if s.get("uses", "").startswith("actions/upload"))
    assert upload["with"]["path"] == "shard-${{ matrix.shard }}.lock"
    assert "outputs/" not in WORKFLOW.read_text(encoding="utf-8")


def test_the_bucket_is_verified_after_the_lockfile_is_committed() -> None:
    order = names("merge")
    assert order[-3:] == [
        "Commit the lockfile",
        "Credentials for the bucket",
        "Check the bucket's videos against the lockfile",
    ]
    assert steps("merge")[-1]["run"] == 'seedrun status "$SPEC" --lock "$LOCK" --verify'


def test_only_the_api_key_is_a_secret() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    assert re.findall(r"secrets\.\w+", text) == ["secrets.SEEDRUN_API_KEY"]


def _scripts() -> list[str]:
    return [
        re.sub(r"\$\{\{[^}]*\}\}", "1", step["run"])
        for job in load()["jobs"].values()
        for step in job["steps"]
        if "run" in step
    ]


@pytest.mark.parametrize("script", _scripts())
def test_run_scripts_are_valid_bash(script: str) -> None:
    done = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_seedrun_commands_parse() -> None:
    seen = []
    for script in _scripts():
        script = script.replace('"${base[@]}"', "--base jobs.lock")
        for var, value in {"$SPEC": "jobs.yaml", "$LOCK": "jobs.lock", "$BASE_REF": "m"}.items():
            script = script.replace(var, value)
        for line in script.replace("\\\n", " ").splitlines():
            for part in re.split(r";|&&|\|\||\||\bthen\b|\{ | \}", line):
                if part.strip().startswith("seedrun "):
                    argv = shlex.split(part.strip().split(">")[0])[1:]
                    cli._parser()[0].parse_args(argv)
                    seen.append(argv[0])
    assert sorted(set(seen)) == ["apply", "diff", "lock", "plan", "status", "validate"]
