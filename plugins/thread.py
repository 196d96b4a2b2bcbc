"""The ``thread`` executor: a ``call:`` target in the scheduler's worker pool.

The return value is the run's result (JSON when it can be, else its repr); an exception is
the run's error, with its traceback; ``sys.exit()`` ends the run as a process's exit would
(``callables.ended_by``) and never the worker thread. What the call writes to ``sys.stdout`` and
``sys.stderr`` from its own thread is the run's output (the last 64 KiB), as a
subprocess's is: while thread runs are under way both streams are stand-ins that send a
run's thread to its output and every other thread to the real stream. A thread cannot be
killed: on ``timeout`` the run is recorded as ``timeout`` (with the output so far) and the
call is left to finish in the background. Use the ``process`` executor when a timeout must
really stop the work, when the job sets ``env`` (a thread shares the process's
environment), or when it may end the interpreter (``os._exit``, a crash in C code): in a
thread that ends the scheduler with it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from yamlcron.callables import arguments, ended_by, jsonable, resolve
from yamlcron.hookspecs import hookimpl
from yamlcron.interfaces import Executor, Outcome, RunContext
from yamlcron.procgroup import OutputTail
from yamlcron.runs import RunError, RunStatus


class ThreadExecutor:
    """Calls Python functions in the worker thread that runs the job."""

    def execute(self, context: RunContext) -> Outcome:
        run = context.job.run
        if run.env:
            message = "'env' needs a process of its own: use executor: process"
            return Outcome(
                status=RunStatus.FAILURE,
                error=RunError(type="ConfigError", message=message),
            )
        try:
            func = resolve(run.call or "", context.folder)
            kwargs = arguments(func, run.kwargs, context.env)
        # The executor boundary: an import error, or a sys.exit() at import, is the job's end.
        except BaseException as exc:
            return ended_by(exc)
        tail = OutputTail(context.output_limit)
        if run.timeout is None:
            return _call(func, run.args, kwargs, tail, context.cancel)
        box: list[Outcome] = []
        worker = threading.Thread(
            target=lambda: box.append(_call(func, run.args, kwargs, tail, context.cancel)),
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
            error=RunError(type="Timeout", message=message),
            output=tail.text(),
        )


def _call(
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    tail: OutputTail,
    cancel: threading.Event,
) -> Outcome:
    """Call ``func`` on this thread, what it prints going to ``tail``; ``cancel``: stopping."""
    _capture(tail)
    try:
        value = func(*args, **kwargs)
    # The executor boundary: whatever the job raised (sys.exit() too) is its end, as data.
    except BaseException as exc:
        return ended_by(exc, tail.text(), stopping=cancel.is_set())
    finally:
        _release()
    return Outcome(status=RunStatus.SUCCESS, result=jsonable(value), output=tail.text())


class _ThreadOutput:
    """A stand-in for ``sys.stdout`` or ``sys.stderr``: a run's thread writes to its output."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        tail: OutputTail | None = getattr(_runs, "tail", None)
        if tail is None:
            return self.stream.write(text)
        tail.add(text.encode("utf-8", errors="replace"))
        return len(text)

    def flush(self) -> None:
        if getattr(_runs, "tail", None) is None:
            self.stream.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno...: the real stream's
        return getattr(self.stream, name)


_runs = threading.local()  # .tail: the output of the run on this thread, if any
_lock = threading.Lock()
_under_way = 0  # thread runs capturing now: the stand-ins are in place while there are any
_STREAMS = ("stdout", "stderr")


def _capture(tail: OutputTail) -> None:
    """Send this thread's writes to ``tail``, putting the stand-ins in place if needed."""
    global _under_way
    with _lock:
        _under_way += 1
        for name in _STREAMS:  # again if replaced meanwhile (a test's capture, a web server)
            stream = getattr(sys, name)
            if not isinstance(stream, _ThreadOutput):
                setattr(sys, name, _ThreadOutput(stream))
    _runs.tail = tail


def _release() -> None:
    """Stop capturing this thread; the last run under way puts the real streams back."""
    global _under_way
    _runs.tail = None
    with _lock:
        _under_way -= 1
        for name in _STREAMS if _under_way == 0 else ():
            stream = getattr(sys, name)
            if isinstance(stream, _ThreadOutput):  # not if something replaced it since
                setattr(sys, name, stream.stream)


@hookimpl
def yamlcron_executors() -> Mapping[str, Executor]:
    return {"thread": ThreadExecutor()}
