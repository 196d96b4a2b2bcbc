"""Python ``call:`` targets: importing them, calling them, and recording what they return."""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

_path_lock = threading.Lock()


@functools.lru_cache(maxsize=1024)
def resolve(target: str, folder: Path) -> Callable[..., Any]:
    """Import ``package.module:function`` with the manifest's folder first on ``sys.path``.

    Cached (a failure is not): an imported module is not imported again anyway, and the
    lookup and its lock cost more than calling a small job.
    """
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
        wanted = _wanted(func)
    except TypeError:  # an unhashable callable object: read its signature every time
        wanted = _wanted.__wrapped__(func)
    if wanted is None:
        return dict(kwargs)
    if wanted is True:
        return {**context, **kwargs}
    extra = {k: v for k, v in context.items() if k in wanted}
    return {**extra, **kwargs}


@functools.lru_cache(maxsize=1024)
def _wanted(func: Callable[..., Any]) -> frozenset[str] | Literal[True] | None:
    """The parameter names of ``func``, True if it takes ``**``, None without a signature.

    Cached: reading a signature costs more than calling a small job.
    """
    try:
        parameters = inspect.signature(func).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return True
    return frozenset(parameters)


def jsonable(value: Any) -> Any:
    """The value itself when it is JSON, else its repr: what the store records as result."""
    if value is None or type(value) in (str, int, bool):  # what most jobs return
        return value
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value
