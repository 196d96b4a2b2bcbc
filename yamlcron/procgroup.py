"""Child processes in groups of their own: stopped whole, their output's tail kept."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import time
from collections.abc import Callable

from yamlcron.interfaces import RunContext
from yamlcron.limits import cut_mark
from yamlcron.limits import size_text as size_text  # still importable from here
from yamlcron.runs import RunStatus

#: How often a quiet run checks its timeout and the shutdown flag.
_TICK = 0.2
#: Bytes read from a run's output at a time; only ``OutputTail``'s limit is kept.
_CHUNK = 65536


class OutputTail:
    """The last ``limit`` bytes of a stream, decoded leniently at the end.

    Output that did not fit is marked at the head of the text, ``[... 1.2 MB cut ...]``,
    so that whoever reads the stored output (history, JSON, the status page) knows.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._data = bytearray()
        self._dropped = 0

    def add(self, chunk: bytes) -> None:
        self._data += chunk
        if len(self._data) > 2 * self.limit:  # trim in bulk, not on every chunk
            cut = len(self._data) - self.limit
            del self._data[:cut]
            self._dropped += cut

    def text(self) -> str:
        total = self._dropped + len(self._data)
        if total <= self.limit:
            return self._data.decode("utf-8", errors="replace")
        # The marker takes the place of as many bytes of output: what is kept stays in limit.
        room = max(0, self.limit - len(cut_mark(total - self.limit)))
        tail = bytes(self._data[len(self._data) - room :]).decode("utf-8", errors="replace")
        return cut_mark(total - room) + tail


def group_alive(pgid: int) -> bool:
    """Whether any process of group ``pgid`` is left."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def terminate_group(pgid: int, grace: float, reap: Callable[[], object] = lambda: None) -> None:
    """SIGTERM the whole group, then SIGKILL what is left after ``grace`` seconds.

    Waiting polls the group every 50 ms, only while something is left running. ``reap``
    collects the group leader if it is our child: an unreaped zombie still counts as a
    member of its group.
    """
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        reap()
        if not group_alive(pgid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def exit_code(returncode: int) -> int:
    """A shell's view of how a process ended: 128 + N when killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def supervise(
    pid: int, fd: int, poll: Callable[[], int | None], context: RunContext
) -> tuple[RunStatus | None, str]:
    """Stream the output of group ``pid`` from ``fd`` until it closes, keeping its tail.

    Stops the group on timeout or shutdown (the status returned, else None). ``poll`` is
    None while the leader runs. When the leader has exited but something still holds the
    pipe, that is given ``kill_grace`` seconds, and whatever is left of the group is
    stopped: no grandchild outlives its run. Memory stays within the output limit however
    much is printed.
    """
    tail = OutputTail(context.output_limit)
    timeout = context.job.run.timeout
    deadline = None if timeout is None else time.monotonic() + timeout
    stopped: RunStatus | None = None
    exited_at: float | None = None
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            if selector.select(_TICK):
                chunk = os.read(fd, _CHUNK)
                if not chunk:
                    break
                tail.add(chunk)
                continue
            now = time.monotonic()
            if stopped is None and deadline is not None and now >= deadline:
                stopped = RunStatus.TIMEOUT
            elif stopped is None and context.cancel.is_set():
                stopped = RunStatus.INTERRUPTED
            elif poll() is None:
                continue
            elif exited_at is None:  # the leader is gone; what holds the pipe is left over
                exited_at = now
            elif now - exited_at > context.kill_grace:
                break  # held by a process outside the group: stop reading
            else:
                continue
            terminate_group(pid, context.kill_grace, poll)
    return stopped, tail.text()


def end_group(pid: int, poll: Callable[[], int | None], grace: float) -> None:
    """Stop what the leader ``pid`` left in its group (its output sent elsewhere)."""
    if group_alive(pid):
        terminate_group(pid, grace, poll)
