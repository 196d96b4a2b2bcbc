"""The ``process`` executor: a ``call:`` target in a fresh Python process of its own.

Like ``thread`` (the return value is the result, an exception the error), but the call
runs in a spawned interpreter leading a process group of its own, so a ``timeout`` or a
shutdown really stops it (SIGTERM, then SIGKILL), ``env`` applies to it alone, and what
it prints is the run's output, read from a pipe as it comes (the last 64 KiB are kept, so
memory does not grow with it). The outcome comes back in a small file, already cut to
``yamlcron.limits`` by the child.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from yamlcron import limits
from yamlcron.hookspecs import hookimpl
from yamlcron.interfaces import Executor, Outcome, RunContext
from yamlcron.procgroup import end_group, exit_code, supervise
from yamlcron.runs import RunError, RunStatus
from yamlcron.templates import expand

_spawn = multiprocessing.get_context("spawn")


class ProcessExecutor:
    """Calls Python functions in child interpreters that can be stopped."""

    def execute(self, context: RunContext) -> Outcome:
        run = context.job.run
        environ = dict(os.environ)
        env = {**{k: expand(v, environ) for k, v in run.env.items()}, **context.env}
        with tempfile.TemporaryDirectory(prefix="yamlcron-run-") as scratch:
            answer = Path(scratch) / "answer.json"
            reader, writer = os.pipe()
            try:
                # A Connection pickles as a copy of its descriptor for the spawned child.
                sink = Connection(writer, readable=False)
                child = _spawn.Process(
                    target=_child,
                    args=(
                        str(context.folder),
                        run.call,
                        run.args,
                        dict(run.kwargs),
                        env,
                        dict(context.env),
                        str(answer),
                        sink,
                    ),
                    name=f"yamlcron-run-{context.run_id}",
                    daemon=False,
                )
                try:
                    child.start()
                finally:
                    sink.close()
                pid = child.pid
                assert pid is not None  # started
                with context.tracked(pid):
                    stopped, output = supervise(pid, reader, _poll(child), context)
                    child.join()
                    end_group(pid, _poll(child), context.kill_grace)
            finally:
                os.close(reader)
            message = _answer(answer)
        return _outcome(stopped, message, child.exitcode, output, run.timeout)


def _poll(child: Any) -> Callable[[], int | None]:
    """``Popen.poll`` for a multiprocessing child: None while it runs, then its exit code."""
    return lambda: None if child.is_alive() else child.exitcode


def _answer(path: Path) -> tuple[str, Any] | None:
    """What the child wrote before it exited; None if it died first."""
    try:
        kind, value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if kind == "ok":
        return (kind, value)
    error = RunError.from_json(value["error"]) if value["error"] else None
    status = RunStatus(value["status"])
    return (kind, Outcome(status=status, exit_code=value["exit_code"], error=error))


def _outcome(
    stopped: RunStatus | None,
    message: tuple[str, Any] | None,
    code: int | None,
    output: str,
    timeout: float | None,
) -> Outcome:
    if stopped is not None:
        text = (
            f"timed out after {timeout} s"
            if stopped == RunStatus.TIMEOUT
            else "yamlcron shut down during the run"
        )
        return Outcome(
            status=stopped,
            output=output,
            error=RunError(
                type=stopped.value.capitalize(), message=f"{text}; the process was stopped"
            ),
        )
    if message is None:
        died = exit_code(code if code is not None else -9)
        error = RunError(type="Crashed", message=f"the process died with code {died}")
        return Outcome(status=RunStatus.FAILURE, exit_code=died, output=output, error=error)
    kind, value = message
    if kind == "ok":
        return Outcome(status=RunStatus.SUCCESS, exit_code=0, result=value, output=output)
    ended: Outcome = value  # callables.ended_by's: sys.exit(n) is exit code n, else 1
    return replace(
        ended, exit_code=1 if ended.exit_code is None else ended.exit_code, output=output
    )


def _child(
    folder: str,
    target: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    env: dict[str, str],
    offered: dict[str, str],
    answer: str,
    sink: Connection,
) -> None:
    """Runs in the spawned interpreter; ``offered``: the ``YAMLCRON_*`` values, not ``env:``.

    The outcome goes to the ``answer`` file, already cut to ``limits`` (a 50 MB result is
    not sent to the scheduler whole); the output goes to ``sink``, the scheduler's pipe.
    """
    os.setpgrp()
    os.dup2(sink.fileno(), 1)
    os.dup2(sink.fileno(), 2)
    sink.close()
    os.environ.update(env)
    from yamlcron.callables import arguments, ended_by, jsonable, resolve

    try:
        func = resolve(target, Path(folder))
        value = func(*args, **arguments(func, kwargs, offered))
        message: tuple[str, Any] = ("ok", limits.bounded_result(jsonable(value)))
    except BaseException as exc:  # the job's own failure, reported to the parent as data
        ended = ended_by(exc)  # sys.exit() reads as on the thread executor
        error = ended.error.to_json() if ended.error else None
        message = ("ended", {"status": ended.status, "exit_code": ended.exit_code, "error": error})
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    Path(answer).write_text(json.dumps(message, ensure_ascii=False))


@hookimpl
def yamlcron_executors() -> Mapping[str, Executor]:
    return {"process": ProcessExecutor()}
