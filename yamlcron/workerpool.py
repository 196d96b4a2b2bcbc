"""The threads that run jobs: a fixed pool fed by one queue.

``concurrent.futures.ThreadPoolExecutor`` builds a future, a condition and a work item per
call and wakes a thread through a semaphore: at ten thousand runs a second that was a
tenth of the scheduler's time, for futures nobody read. Here a submit is one put on a
``SimpleQueue``.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class WorkerPool:
    """``size`` daemon threads running the callables submitted, in order of submission."""

    def __init__(self, size: int, name: str = "yamlcron-worker") -> None:
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True)
            for i in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, work: Callable[[], None]) -> None:
        """Run ``work`` on the next free thread."""
        self._queue.put(work)

    def shutdown(self) -> None:
        """Let the threads end once the work queued before this is done; returns at once."""
        for _ in self._threads:
            self._queue.put(None)

    def _work(self) -> None:
        while (work := self._queue.get()) is not None:
            try:
                work()
            except Exception:  # a bug in one unit of work must not shrink the pool
                log.exception("a worker's task failed; carrying on")
