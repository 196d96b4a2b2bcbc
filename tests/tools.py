"""Helpers for tests that need an external tool, and a small HTTP client for the daemon's server.

A tool that is missing skips its tests with a reason on a newcomer's machine, and fails
them under ``YAMLCRON_TEST_STRICT=1`` (``.ci/run`` sets it and installs the tools).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

#: The project's top folder (the tests live in folders of their own below it).
ROOT = Path(__file__).resolve().parent.parent

STRICT_ENV = "YAMLCRON_TEST_STRICT"


def strict() -> bool:
    """Whether a missing tool fails the test instead of skipping it."""
    return os.environ.get(STRICT_ENV, "") not in ("", "0")


def missing(reason: str) -> None:
    """Skip (or, strict, fail) the calling test because ``reason``."""
    if strict():
        pytest.fail(f"{reason} ({STRICT_ENV} is set: CI must have it)")
    pytest.skip(reason)


def require(ok: bool, reason: str) -> None:
    """Skip (or, strict, fail) the calling test with ``reason`` unless ``ok``."""
    if not ok:
        missing(reason)


def need(module: str, install: str) -> ModuleType:
    """``module``, imported; if it is missing, skip (or, strict, fail) saying how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        missing(f"{module} is not installed: {install}")
        raise  # not reached: missing() skips or fails


def require_modules(*names: str) -> None:
    """The test needs these Python packages (the ``test`` extra installs them)."""
    absent = [n for n in names if importlib.util.find_spec(n) is None]
    require(not absent, f"needs {', '.join(absent)}: pip install -e '.[test]'")


def tool(name: str, package: str | None = None) -> str:
    """The path of the program ``name``; skip, or fail under strict, when it is not installed."""
    found = shutil.which(name)
    if found is None:
        missing(f"{name} is not installed (apt-get install {package or name})")
    assert found is not None
    return found


def free_port() -> int:
    """A TCP port nobody listens on now, for a program that cannot be given port 0."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: Message  # looked up whatever the case

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    url: str,
    method: str = "GET",
    *,
    token: str | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One HTTP request; every status comes back as a ``Reply`` (errors are not raised)."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return Reply(response.status, response.read(), response.headers)
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, error.read(), error.headers)
