"""Python ``call:`` targets: importing them, calling them, and recording how they ended.

A call ends by returning (its value is the result), by raising an ``Exception`` (the
run's error), or by raising what is not one: ``SystemExit`` (``sys.exit()``, every click
or argparse ``main()``), ``KeyboardInterrupt`` or ``GeneratorExit``. Those would pass every
``except Exception`` of the scheduler and end the worker thread that runs the job, so the
executors catch them here too and record them as a command line's exit would read
(``ended_by``).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from yamlcron.interfaces import Outcome
from yamlcron.runs import RunError, RunStatus

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


def ended_by(exc: BaseException, output: str = "", *, stopping: bool = False) -> Outcome:
    """The outcome of a call that raised ``exc`` (``output``: what it printed).

    ``SystemExit`` reads as the process's exit would: ``sys.exit()`` and ``sys.exit(0)`` are
    a ``success`` with exit code 0; ``sys.exit(n)`` a ``failure`` with exit code ``n``;
    ``sys.exit("message")`` a ``failure`` with exit code 1 and the message as the error.
    Anything else raised (``KeyboardInterrupt`` and ``GeneratorExit`` too: job code raised
    them, no signal reached the scheduler) is a ``failure`` with the exception as its error.
    A ``KeyboardInterrupt`` while yamlcron is ``stopping`` the run is the user's second
    Ctrl-C reaching a call made in the calling thread: the run is ``interrupted``.
    """
    if stopping and isinstance(exc, KeyboardInterrupt):
        error = RunError(type="Interrupted", message="stopped by a second interrupt (Ctrl-C)")
        return Outcome(status=RunStatus.INTERRUPTED, error=error, output=output)
    if not isinstance(exc, SystemExit):
        error = RunError.of(exc)
        if not error.message and not isinstance(exc, Exception):  # a bare KeyboardInterrupt
            error = replace(error, message=f"the call raised {error.type}")
        return Outcome(status=RunStatus.FAILURE, error=error, output=output)
    code = exc.code
    if code is None or code == 0:
        return Outcome(status=RunStatus.SUCCESS, exit_code=0, output=output)
    if isinstance(code, int):
        message = f"the call exited with code {code} (SystemExit)"
        exit_code = int(code)  # sys.exit(True) is 1
    else:
        message, exit_code = str(code), 1
    error = RunError(type="SystemExit", message=message, traceback=RunError.of(exc).traceback)
    return Outcome(status=RunStatus.FAILURE, exit_code=exit_code, error=error, output=output)
