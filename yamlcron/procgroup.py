"""Child processes in groups of their own: stopped whole, their output's tail kept."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable


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
        room = max(0, self.limit - len(_cut_marker(total - self.limit)))
        tail = bytes(self._data[len(self._data) - room :]).decode("utf-8", errors="replace")
        return _cut_marker(total - room) + tail


def _cut_marker(cut: int) -> str:
    return f"[... {size_text(cut)} cut ...]\n"


def size_text(size: int) -> str:
    """A byte count for people: ``900 bytes``, ``64.0 kB``, ``1.2 MB`` (powers of 1000)."""
    value, unit = float(size), "bytes"
    for bigger in ("kB", "MB", "GB", "TB"):
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"


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
