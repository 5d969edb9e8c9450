"""Packaging: one version, a license, typed, and the pre-commit hook."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

import seedrun
from seedrun import cli

ROOT = Path(__file__).resolve().parents[1]


def test_the_version_is_written_once() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "seedrun.__version__"}
    hits = [
        p.relative_to(ROOT)
        for p in (ROOT / "seedrun").rglob("*.py")
        if re.search(r"""^__version__\s*=""", p.read_text(encoding="utf-8"), re.M)
    ]
    assert hits == [Path("seedrun/__init__.py")]


def test_version_flag_reads_the_package_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "seedrun", "--version"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0
    assert out.stdout == f"seedrun {seedrun.__version__}\n"


def test_license_classifiers_and_urls() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert "Typing :: Typed" in project["classifiers"]
    assert set(project["urls"]) == {"Homepage", "Source", "Issues", "Changelog"}
    assert (ROOT / "seedrun" / "py.typed").exists()


def test_pre_commit_hook_validates_every_staged_spec(tmp_path: Path) -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["id"] == "seedrun-validate"
    assert hook["language"] == "python"
    assert re.search(hook["files"], "campaigns/jobs.yaml")
    good = tmp_path / "jobs.yaml"
    good.write_text("version: 1\njobs:\n  - {name: a, prompt: hi}\n", encoding="utf-8")
    bad = tmp_path / "other" / "jobs.yml"
    bad.parent.mkdir()
    bad.write_text("version: 1\njobs:\n  - {name: a, promt: hi}\n", encoding="utf-8")
    argv = hook["entry"].split()[1:]  # pre-commit appends the file names
    assert cli.main([*argv, str(good)]) == 0
    assert cli.main([*argv, str(good), str(bad)]) == 2
