"""Python ``call:`` targets: importing them, calling them, and recording what they return."""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

_path_lock = threading.Lock()


def resolve(target: str, folder: Path) -> Callable[..., Any]:
    """Import ``package.module:function`` with the manifest's folder first on ``sys.path``."""
    with _path_lock:
        entry = str(folder)
        if entry not in sys.path:
            sys.path.insert(0, entry)
    module_name, _, attribute = target.partition(":")
    found: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        found = getattr(found, part)
    if not callable(found):
        raise TypeError(f"{target} is not callable")
    return found  # type: ignore[no-any-return]


def arguments(
    func: Callable[..., Any], kwargs: Mapping[str, Any], context: Mapping[str, str]
) -> dict[str, Any]:
    """``kwargs`` plus the ``YAMLCRON_*`` values the function asks for by name or ``**``."""
    try:
        parameters = inspect.signature(func).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return dict(kwargs)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    extra = {k: v for k, v in context.items() if takes_any or k in parameters}
    return {**extra, **kwargs}


def jsonable(value: Any) -> Any:
    """The value itself when it is JSON, else its repr: what the store records as result."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def error_of(exc: BaseException) -> dict[str, Any]:
    """An exception as the run's error: type, message and traceback."""
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }
