"""Tests that need a tool this machine may lack: skipped for a newcomer, failed in CI.

``.ci/run`` sets ``YAMLCRON_TEST_STRICT=1``: there a missing tool is a failure, so a test
cannot pass by never running.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

STRICT_ENV = "YAMLCRON_TEST_STRICT"


def require(present: bool, reason: str) -> None:
    """Skip the test with ``reason`` unless ``present``; fail instead in strict runs."""
    if present:
        return
    if os.environ.get(STRICT_ENV) == "1":
        pytest.fail(f"{reason} ({STRICT_ENV}=1: a missing tool fails)")
    pytest.skip(reason)


def require_modules(*names: str) -> None:
    """The test needs these Python packages (the ``test`` extra installs them)."""
    missing = [n for n in names if importlib.util.find_spec(n) is None]
    require(not missing, f"needs {', '.join(missing)}: pip install -e '.[test]'")


def require_program(name: str) -> str:
    """The test needs this program on PATH; returns its path."""
    found = shutil.which(name)
    require(found is not None, f"needs the program {name!r} on PATH")
    assert found is not None
    return found
