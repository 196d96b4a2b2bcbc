"""Whether the scheduler loop is alive: for ``/livez``, the heartbeat ping and systemd's watchdog.

The loop is alive while it rests between passes (however long: an idle loop sleeps until its
next fire time) or while its current pass is young. A store outage does not make it stuck: a
pass the store cannot serve fails at once and the loop rests before trying again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Pulse:
    """The loop's pulse: when its current pass began, or that it rests. Thread-safe."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._passing_since: float | None = None
        self._beats = 0
        self._lock = threading.Lock()
        self.stopped = False

    def passing(self) -> None:
        """A pass begins."""
        with self._lock:
            self._passing_since = self._monotonic()
            self._beats += 1

    def resting(self) -> None:
        """A pass has ended; the loop waits for its next one."""
        with self._lock:
            self._passing_since = None

    @property
    def beats(self) -> int:
        """Passes begun so far: a watcher that sees it move knows the loop moves."""
        return self._beats

    def stuck_for(self) -> float:
        """Seconds the current pass has lasted, or 0.0 while the loop rests."""
        with self._lock:
            since = self._passing_since
        return 0.0 if since is None else self._monotonic() - since

    def alive(self, stuck_after: float) -> bool:
        """Running, and not in a pass longer than ``stuck_after`` seconds."""
        return not self.stopped and self.stuck_for() <= stuck_after
