"""The ``subprocess`` executor: ``command:`` without a shell, ``shell:`` with ``/bin/sh -c``.

Each run is a process group of its own (a new session), so a timeout or a shutdown stops
the whole group: SIGTERM, then SIGKILL ``kill_grace`` seconds later. When the main process
exits, anything it left running in its group is stopped the same way, so no grandchild
outlives its run (``setsid`` is the way out for a job that must leave a daemon behind).
Output is stdout and stderr interleaved, of which the last 64 KiB are kept.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

from yamlcron.hookspecs import hookimpl
from yamlcron.interfaces import Executor, Outcome, RunContext
from yamlcron.procgroup import end_group, exit_code, supervise
from yamlcron.runs import RunError, RunStatus
from yamlcron.templates import expand


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
            # As written: ``${VAR}`` expanded here may be a secret, and this is stored.
            shown = run.command[0] if run.kind == "command" else argv[0]
            where = run.cwd or "the manifest's folder"
            message = f"cannot start {shown!r} in {where}: {exc.strerror}"
            error = RunError(type=type(exc).__name__, message=message)
            return Outcome(status=RunStatus.FAILURE, error=error)
        assert proc.stdout is not None
        with context.tracked(proc.pid):
            status, output = supervise(proc.pid, proc.stdout.fileno(), proc.poll, context)
            proc.stdout.close()
            proc.wait()
            end_group(proc.pid, proc.poll, context.kill_grace)
        code = exit_code(proc.returncode)
        if status is None:
            status = RunStatus.SUCCESS if code == 0 else RunStatus.FAILURE
        return Outcome(
            status=status, exit_code=code, output=output, error=_error(status, code, run.timeout)
        )


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
