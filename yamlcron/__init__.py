"""yamlcron: a declarative YAML cron and workflow runner.

Importing the package loads no plugin and runs no hook.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from yamlcron.app import RunHandle, Yamlcron
from yamlcron.hookspecs import hookimpl
from yamlcron.runs import Run, RunStatus

try:
    __version__ = version("yamlcron")
except PackageNotFoundError:  # a source checkout that was never installed
    __version__ = "0.0.0"

__all__ = ["Run", "RunHandle", "RunStatus", "Yamlcron", "__version__", "hookimpl"]
