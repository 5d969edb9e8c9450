"""``seedrun init``: a starter campaign that validates, and the git and CI files."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

from seedrun import cli

WORKFLOW = Path(__file__).resolve().parents[1] / "examples" / "ci" / "seedrun.yml"


def test_init_writes_a_campaign_that_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "campaign"
    assert cli.main(["init", str(target)]) == 0
    out = capsys.readouterr().out
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert files == [
        ".gitattributes",
        ".github/workflows/seedrun.yml",
        ".gitignore",
        "jobs.yaml",
        "seedrun.schema.json",
    ]
    assert f"wrote   {target / 'jobs.yaml'}" in out.splitlines()
    assert '  git config merge.seedrun.driver "seedrun lock merge --base %O %A %B -o %A"' in out

    spec = target / "jobs.yaml"
    assert cli.main(["validate", str(spec)]) == 0
    assert capsys.readouterr().out == f"{spec}: valid, 2 jobs\n"
    # The editor's view: the comment names the schema written beside the spec.
    first = spec.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=./seedrun.schema.json"
    schema = json.loads((target / "seedrun.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(yaml.safe_load(spec.read_text(encoding="utf-8")), schema)


def test_init_git_files(tmp_path: Path) -> None:
    assert cli.main(["init", str(tmp_path)]) == 0
    attributes = (tmp_path / ".gitattributes").read_text(encoding="utf-8").splitlines()
    assert "*.lock merge=seedrun" in attributes
    assert '#   git config merge.seedrun.name "seedrun lockfile merge"' in attributes
    ignored = (tmp_path / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert {"outputs/", "report.html", "*.lock.journal", "*.lock.lck"} <= set(ignored)
    assert "jobs.lock" not in ignored  # the lockfile is committed
    workflow = (tmp_path / ".github" / "workflows" / "seedrun.yml").read_text(encoding="utf-8")
    assert workflow == WORKFLOW.read_text(encoding="utf-8")


def test_init_leaves_existing_files_alone_and_adds_missing_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "jobs.yaml").write_text("mine\n", encoding="utf-8")
    (tmp_path / ".gitignore").write_text("node_modules/\noutputs/", encoding="utf-8")
    assert cli.main(["init", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert (tmp_path / "jobs.yaml").read_text(encoding="utf-8") == "mine\n"
    assert f"exists  {tmp_path / 'jobs.yaml'} (left alone)" in out
    assert f"added   {tmp_path / '.gitignore'}" in out
    ignored = (tmp_path / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ignored[:2] == ["node_modules/", "outputs/"]
    assert ignored.count("outputs/") == 1 and "*.lock.journal" in ignored
    # a second init changes nothing
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert cli.main(["init", str(tmp_path)]) == 0
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_init_into_a_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "file"
    target.write_text("x", encoding="utf-8")
    assert cli.main(["init", str(target)]) == 2
    assert capsys.readouterr().err == f"seedrun: {target}: not a folder\n"


def test_the_workflow_template_is_packaged() -> None:
    assert resources.files("seedrun").joinpath("templates/github-workflow.yml").is_file()
