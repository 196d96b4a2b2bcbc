"""The ``thread`` executor: a ``call:`` target in the scheduler's worker pool.

The return value is the run's result (JSON when it can be, else its repr); an exception is
the run's error, with its traceback. A thread cannot be killed: on ``timeout`` the run is
recorded as ``timeout`` and the call is left to finish in the background. Use the
``process`` executor when a timeout must really stop the work, or when the job sets
``env`` (a thread shares the process's environment).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from yamlcron.callables import arguments, error_of, jsonable, resolve
from yamlcron.hookspecs import hookimpl
from yamlcron.runs import Executor, Outcome, RunContext, RunStatus


class ThreadExecutor:
    """Calls Python functions in the worker thread that runs the job."""

    def execute(self, context: RunContext) -> Outcome:
        run = context.job.run
        if run.env:
            message = "'env' needs a process of its own: use executor: process"
            return Outcome(
                status=RunStatus.FAILURE,
                error={"type": "ConfigError", "message": message, "traceback": None},
            )
        try:
            func = resolve(run.call or "", context.folder)
            kwargs = arguments(func, run.kwargs, context.env)
        except Exception as exc:  # an import error is the job's failure, recorded as data
            return Outcome(status=RunStatus.FAILURE, error=error_of(exc))
        if run.timeout is None:
            return _call(func, run.args, kwargs)
        box: list[Outcome] = []
        worker = threading.Thread(
            target=lambda: box.append(_call(func, run.args, kwargs)),
            name=f"yamlcron-call-{context.run_id}",
            daemon=True,
        )
        worker.start()
        worker.join(run.timeout)
        if box:
            return box[0]
        message = f"timed out after {run.timeout} s (a thread cannot be stopped; it runs on)"
        return Outcome(
            status=RunStatus.TIMEOUT,
            error={"type": "Timeout", "message": message, "traceback": None},
        )


def _call(func: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Outcome:
    try:
        value = func(*args, **kwargs)
    except Exception as exc:  # the job's own failure, recorded as data
        return Outcome(status=RunStatus.FAILURE, error=error_of(exc))
    return Outcome(status=RunStatus.SUCCESS, result=jsonable(value))


@hookimpl
def yamlcron_executors() -> Mapping[str, Executor]:
    return {"thread": ThreadExecutor()}
