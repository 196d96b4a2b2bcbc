"""The ``subprocess`` executor: ``command:`` without a shell, ``shell:`` with ``/bin/sh -c``.

Each run is a process group of its own (a new session), so a timeout or a shutdown stops
the whole group: SIGTERM, then SIGKILL ``kill_grace`` seconds later. When the main process
exits, anything it left running in its group is stopped the same way, so no grandchild
outlives its run (``setsid`` is the way out for a job that must leave a daemon behind).
Output is stdout and stderr interleaved, of which the last 64 KiB are kept.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from collections.abc import Mapping

from yamlcron.hookspecs import hookimpl
from yamlcron.interfaces import Executor, Outcome, RunContext
from yamlcron.procgroup import OutputTail, exit_code, group_alive, terminate_group
from yamlcron.runs import RunError, RunStatus
from yamlcron.templates import expand

#: How often a quiet run checks its timeout and the shutdown flag.
_TICK = 0.2


class SubprocessExecutor:
    """Runs ``command`` or ``shell`` jobs as child processes."""

    def execute(self, context: RunContext) -> Outcome:
        run = context.job.run
        environ = dict(os.environ)
        env = {**environ, **{k: expand(v, environ) for k, v in run.env.items()}, **context.env}
        argv = (
            [expand(a, environ) for a in run.command]
            if run.kind == "command"
            else ["/bin/sh", "-c", run.shell or ""]
        )
        cwd = context.folder / expand(run.cwd, environ) if run.cwd else context.folder
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            message = f"cannot start {argv[0]!r} in {cwd}: {exc.strerror}"
            error = RunError(type=type(exc).__name__, message=message)
            return Outcome(status=RunStatus.FAILURE, error=error)
        status, output = _supervise(proc, context)
        code = exit_code(proc.returncode)
        if status is None:
            status = RunStatus.SUCCESS if code == 0 else RunStatus.FAILURE
        return Outcome(
            status=status, exit_code=code, output=output, error=_error(status, code, run.timeout)
        )


def _supervise(proc: subprocess.Popen[bytes], context: RunContext) -> tuple[RunStatus | None, str]:
    """Collect output until the pipe closes; stop the group on timeout or shutdown."""
    assert proc.stdout is not None
    tail = OutputTail(context.output_limit)
    timeout = context.job.run.timeout
    deadline = None if timeout is None else time.monotonic() + timeout
    stopped: RunStatus | None = None
    exited_at: float | None = None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        fd = proc.stdout.fileno()
        while True:
            if selector.select(_TICK):
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                tail.add(chunk)
                continue
            now = time.monotonic()
            if stopped is None and deadline is not None and now >= deadline:
                stopped = RunStatus.TIMEOUT
            elif stopped is None and context.cancel.is_set():
                stopped = RunStatus.INTERRUPTED
            elif proc.poll() is None:
                continue
            elif exited_at is None:  # the main process is gone; what holds the pipe is left over
                exited_at = now
            elif now - exited_at > context.kill_grace:
                break  # held by a process outside the group: stop reading
            else:
                continue
            terminate_group(proc.pid, context.kill_grace, proc.poll)
    proc.stdout.close()
    proc.wait()
    if group_alive(proc.pid):  # left behind with its output sent elsewhere
        terminate_group(proc.pid, context.kill_grace, proc.poll)
    return stopped, tail.text()


def _error(status: RunStatus, code: int, timeout: float | None) -> RunError | None:
    if status == RunStatus.SUCCESS:
        return None
    messages = {
        RunStatus.TIMEOUT: f"timed out after {timeout} s; the process group was stopped",
        RunStatus.INTERRUPTED: "yamlcron shut down during the run; the process group was stopped",
    }
    message = messages.get(status, f"exited with code {code}")
    return RunError(type=status.value.capitalize(), message=message)


@hookimpl
def yamlcron_executors() -> Mapping[str, Executor]:
    return {"subprocess": SubprocessExecutor()}
