"""``yamlcron run`` as PID 1 of a container: an init that reaps orphans and forwards signals.

The first process of a PID namespace (a container's entrypoint) inherits every orphan of the
namespace: a job that starts a daemon with ``setsid``, or a shell that leaves a background
child, leaves processes whose parent is PID 1. When they exit, only PID 1 can reap them;
otherwise they stay zombies, and enough of them fill the process table. PID 1 is also
special to signals: the kernel drops a signal it has no handler for.

Reaping every child from inside the scheduler would take exit statuses from under the
executors that wait for their own runs. So, as ``tini`` and ``docker run --init`` do, PID 1
splits in two: the child goes on as ``yamlcron run``, and PID 1 stays a small init that
forwards signals to it, reaps whatever exits, and exits with the child's status.
"""

from __future__ import annotations

import contextlib
import os
import signal
from types import FrameType

#: What PID 1 passes on to the scheduler: stop, reload, and the user's own.
FORWARDED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGWINCH,
)


def init_if_pid1() -> None:
    """As PID 1, fork: return in the child (the scheduler); PID 1 reaps until it exits.

    Call it before any thread starts: only the calling thread survives a fork.
    """
    if os.getpid() != 1:
        return
    child = os.fork()
    if child == 0:
        return
    os._exit(_reap_until(child))


def _reap_until(child: int) -> int:
    """Forward signals to ``child`` and reap every process; ``child``'s exit code."""

    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):  # exited: the wait is about to see it
            os.kill(child, signum)

    for each in FORWARDED:
        signal.signal(each, forward)
    while True:
        # Signal handlers run during the wait, which is retried after them (PEP 475).
        pid, status = os.wait()
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code  # killed by a signal: 128 + its number
