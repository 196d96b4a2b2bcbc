"""Where runs are executed: a fixed pool of threads fed by one queue, or the caller's thread.

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
from typing import Protocol

log = logging.getLogger(__name__)


class Pool(Protocol):
    """Runs units of work (a claimed run each) for the scheduler."""

    def submit(self, work: Callable[[], None]) -> None:
        """Run ``work``, now or on another thread; it catches its own errors."""
        ...

    def shutdown(self) -> None:
        """Let the work submitted so far end, then release the threads; returns at once."""
        ...


class InlinePool:
    """Runs each unit of work on the thread that submits it (``trigger`` without a daemon)."""

    def submit(self, work: Callable[[], None]) -> None:
        """Run ``work`` now, here."""
        work()

    def shutdown(self) -> None:
        """Nothing to release."""


class WorkerPool:
    """``size`` daemon threads running the callables submitted, in order of submission.

    The threads start with the first submit: a scheduler that never fires starts none.
    """

    def __init__(self, size: int, name: str = "yamlcron-worker") -> None:
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._size = size
        self._name = name
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, work: Callable[[], None]) -> None:
        """Run ``work`` on the next free thread."""
        if not self._threads:
            self._start()
        self._queue.put(work)

    def shutdown(self) -> None:
        """Let the threads end once the work queued before this is done; returns at once."""
        with self._lock:
            for _ in self._threads:
                self._queue.put(None)
            self._threads = []

    def _start(self) -> None:
        with self._lock:
            if self._threads:
                return
            self._threads = [
                threading.Thread(target=self._work, name=f"{self._name}_{i}", daemon=True)
                for i in range(self._size)
            ]
            for thread in self._threads:
                thread.start()

    def _work(self) -> None:
        try:
            while (work := self._queue.get()) is not None:
                work()
        except BaseException:
            # Work catches its own errors (the runner's executor boundary catches a job's,
            # sys.exit() included): what escapes is a bug, which must not shrink the pool.
            lost = threading.current_thread()
            log.exception("worker thread %s died; starting another in its place", lost.name)
            self._replace(lost)

    def _replace(self, lost: threading.Thread) -> None:
        """Start a thread in the place of ``lost`` (unless the pool was shut down since)."""
        with self._lock:
            if lost not in self._threads:
                return
            thread = threading.Thread(target=self._work, name=lost.name, daemon=True)
            self._threads[self._threads.index(lost)] = thread
            thread.start()
