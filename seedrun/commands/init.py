"""``seedrun init [DIR]``: a starter campaign repository.

Writes a spec that validates (with the schema comment editors use for
completion, and the schema beside it), ``.gitattributes`` naming the lockfile
merge driver, ``.gitignore`` for outputs and run files, and the GitHub Actions
workflow. A file that exists is left alone; ``.gitignore`` and
``.gitattributes`` only get the lines they lack. Nothing is sent anywhere.
"""

from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path

from seedrun.errors import EXIT_OK, ConfigError
from seedrun.spec import schema

HELP = "write a starter campaign: spec, .gitattributes, .gitignore, GitHub Actions workflow"

SPEC_NAME = "jobs.yaml"
SCHEMA_NAME = "seedrun.schema.json"
WORKFLOW = ".github/workflows/seedrun.yml"
MERGE_DRIVER = (
    'git config merge.seedrun.name "seedrun lockfile merge"',
    'git config merge.seedrun.driver "seedrun lock merge --base %O %A %B -o %A"',
)

STARTER_SPEC = f"""\
# yaml-language-server: $schema=./{SCHEMA_NAME}
# A seedrun campaign. `seedrun plan {SPEC_NAME}` shows what it would make and cost;
# `seedrun apply {SPEC_NAME} --sim` runs it against the built-in simulator (no key);
# `seedrun apply {SPEC_NAME}` makes the videos (SEEDRUN_API_KEY in the environment).
version: 1
defaults:
  model: doubao-seedance-2.0
  duration: 5
  ratio: "16:9"
  resolution: 720p
  watermark: false
vars:
  product: lantern
jobs:
  - name: hero
    prompt: "A slow push-in on a {{{{ product }}}} on a {{{{ backdrop }}}} table, morning light"
    matrix:
      backdrop: [oak, marble]
settings:
  max_in_flight: 10
  # price_per_million_tokens: 1.0   # your price: plan and status then show money
outputs:
  dir: outputs
"""
GITATTRIBUTES = """\
# seedrun lockfiles merge with seedrun's own driver. Enable it once per clone:
#   {}
#   {}
*.lock merge=seedrun
""".format(*MERGE_DRIVER)
GITIGNORE = """\
# seedrun: videos and run files stay out of git; the lockfile (jobs.lock) goes in.
outputs/
report.html
*.report.html
*.lock.journal
*.lock.journal.reserve
*.lock.lck
*.lock.lck.pid
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", nargs="?", default=".", help="where to write (default: here)")


def starter_files() -> dict[str, str]:
    """Relative path -> text of every file ``init`` writes."""
    workflow = resources.files("seedrun").joinpath("templates/github-workflow.yml").read_text()
    return {
        SPEC_NAME: STARTER_SPEC,
        SCHEMA_NAME: json.dumps(schema(), indent=2) + "\n",
        ".gitattributes": GITATTRIBUTES,
        ".gitignore": GITIGNORE,
        WORKFLOW: workflow,
    }


def run(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder}: not a folder")
    for rel, text in starter_files().items():
        path = folder / rel
        if rel in (".gitignore", ".gitattributes"):
            print(f"{_merge_lines(path, text):<7} {path}")
        elif path.exists():
            print(f"{'exists':<7} {path} (left alone)")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"{'wrote':<7} {path}")
    print("\nTo merge lockfiles with seedrun's driver, run once in this clone:")
    for line in MERGE_DRIVER:
        print(f"  {line}")
    spec = folder / SPEC_NAME
    print(f"\nNext: seedrun plan {spec}, then seedrun apply {spec} --sim")
    return EXIT_OK


def _merge_lines(path: Path, text: str) -> str:
    """Add to ``path`` the lines of ``text`` it lacks; say what was done."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return "wrote"
    old = path.read_text(encoding="utf-8")
    have = {line.strip() for line in old.splitlines()}
    missing = [ln for ln in text.splitlines() if ln.strip() and ln.strip() not in have]
    if not any(not ln.startswith("#") for ln in missing):
        return "exists"
    sep = "" if old.endswith("\n") or not old else "\n"
    path.write_text(old + sep + "\n" + "\n".join(missing) + "\n", encoding="utf-8")
    return "added"
