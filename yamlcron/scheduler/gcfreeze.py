"""Keep the full garbage collections of a long-running daemon short.

The specs, schedules and modules a daemon loads live as long as it does, yet every full
collection of CPython's cyclic collector walks them all, stopping every thread meanwhile:
40 ms with 10,000 jobs loaded, every few seconds at 10,000 fires a second, which set the
p99 lateness. ``gc.freeze`` moves what is alive now into a generation the collector
ignores. Reference counting still frees those objects as usual; what freezing gives up is
collecting a reference cycle that was alive when frozen and is dropped later. So freezes
come at doubling intervals, from a second after start to at most one an hour: they follow
the loading of a daemon's working set, and afterwards cost almost nothing.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

FIRST = 1.0
LAST = 3600.0


class Freezer:
    """Call after each pass of the loop; freezes when the next interval has passed."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._every = FIRST
        self._next = clock() + FIRST

    def __call__(self) -> bool:
        """Freeze if due; True when it did."""
        now = self._clock()
        if now < self._next:
            return False
        gc.freeze()
        self._next = now + self._every
        self._every = min(self._every * 2, LAST)
        return True
