"""yamlcron: a declarative YAML cron and workflow runner.

Importing the package loads no plugin and runs no hook. The public names are imported
on first use (PEP 562), so that ``yamlcron --help`` or a plugin's ``from yamlcron import
hookimpl`` does not pay for the scheduler and the store.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from yamlcron.app import Yamlcron
    from yamlcron.handle import RunHandle
    from yamlcron.hookspecs import hookimpl
    from yamlcron.runs import Run, RunStatus

#: Each public name and the module that defines it.
_PUBLIC = {
    "RunHandle": "yamlcron.handle",
    "Yamlcron": "yamlcron.app",
    "hookimpl": "yamlcron.hookspecs",
    "Run": "yamlcron.runs",
    "RunStatus": "yamlcron.runs",
}

__all__ = ["Run", "RunHandle", "RunStatus", "Yamlcron", "__version__", "hookimpl"]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(import_module(_PUBLIC[name]), name)
    elif name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("yamlcron")
        except PackageNotFoundError:  # a source checkout that was never installed
            value = "0.0.0"
    else:
        raise AttributeError(f"module 'yamlcron' has no attribute {name!r}")
    globals()[name] = value  # looked up once
    return value
