"""The pure core stays pure: importing it loads no storage, image, network or trio code.

Each module is imported in a fresh interpreter, so what one test imported cannot hide
what another module pulls in.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE = (
    "spec",
    "matrix",
    "render",
    "requests",
    "plan",
    "lockfile",
    "diff",
    "merge",
    "catalog",
    "localrefs",
    "campaign",
    "media",
    "expand",
)
SHELL_ONLY = ("boto3", "botocore", "PIL", "httpx", "trio")


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_shell_library(module: str) -> None:
    code = (
        f"import sys, seedrun.{module}\n"
        f"print(','.join(m for m in {SHELL_ONLY!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
