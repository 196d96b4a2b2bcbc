"""The ``process`` executor: a ``call:`` target in a fresh Python process of its own.

Like ``thread`` (the return value is the result, an exception the error), but the call
runs in a spawned interpreter leading a process group of its own, so a ``timeout`` or a
shutdown really stops it (SIGTERM, then SIGKILL), ``env`` applies to it alone, and what
it prints is the run's output (the last 64 KiB).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from yamlcron.hookspecs import hookimpl
from yamlcron.interfaces import Executor, Outcome, RunContext
from yamlcron.procgroup import OutputTail, exit_code, terminate_group
from yamlcron.runs import RunError, RunStatus
from yamlcron.templates import expand

_TICK = 0.2
_spawn = multiprocessing.get_context("spawn")


class ProcessExecutor:
    """Calls Python functions in child interpreters that can be stopped."""

    def execute(self, context: RunContext) -> Outcome:
        run = context.job.run
        environ = dict(os.environ)
        env = {**{k: expand(v, environ) for k, v in run.env.items()}, **context.env}
        receive, send = _spawn.Pipe(duplex=False)
        with tempfile.TemporaryDirectory(prefix="yamlcron-run-") as scratch:
            output = Path(scratch) / "output"
            child = _spawn.Process(
                target=_child,
                args=(
                    str(context.folder),
                    run.call,
                    run.args,
                    dict(run.kwargs),
                    env,
                    dict(context.env),
                    send,
                    str(output),
                ),
                name=f"yamlcron-run-{context.run_id}",
                daemon=False,
            )
            child.start()
            send.close()
            stopped = _wait(child, receive, context)
            message = _receive(receive)
            child.join()
            tail = OutputTail(context.output_limit)
            if output.exists():
                tail.add(output.read_bytes())
        receive.close()
        return _outcome(stopped, message, child.exitcode, tail.text(), run.timeout)


def _receive(receive: Connection) -> tuple[str, Any] | None:
    try:
        if receive.poll():
            message: tuple[str, Any] = receive.recv()
            return message
    except (EOFError, OSError):  # the child died before it could answer
        pass
    return None


def _wait(child: Any, receive: Connection, context: RunContext) -> RunStatus | None:
    timeout = context.job.run.timeout
    deadline = None if timeout is None else time.monotonic() + timeout
    while child.is_alive() and not receive.poll(_TICK):
        stop = None
        if deadline is not None and time.monotonic() >= deadline:
            stop = RunStatus.TIMEOUT
        elif context.cancel.is_set():
            stop = RunStatus.INTERRUPTED
        if stop is not None:
            terminate_group(child.pid, context.kill_grace, child.is_alive)
            return stop
    return None


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
    send: Connection,
    output: str,
) -> None:
    """Runs in the spawned interpreter; ``offered``: the ``YAMLCRON_*`` values, not ``env:``."""
    os.setpgrp()
    sink = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(sink, 1)
    os.dup2(sink, 2)
    os.environ.update(env)
    from yamlcron.callables import arguments, ended_by, jsonable, resolve

    try:
        func = resolve(target, Path(folder))
        value = func(*args, **arguments(func, kwargs, offered))
        send.send(("ok", jsonable(value)))
    except BaseException as exc:  # the job's own failure, reported to the parent as data
        send.send(("ended", ended_by(exc)))  # sys.exit() reads as the thread executor's
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


@hookimpl
def yamlcron_executors() -> Mapping[str, Executor]:
    return {"process": ProcessExecutor()}
