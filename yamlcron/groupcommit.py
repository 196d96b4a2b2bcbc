"""Group commit: items handed in from many threads are written in batches, by one thread.

A durable commit costs a disk flush (a fraction of a millisecond to a few, the same for
SQLite and PostgreSQL), so committing each finished run alone caps a scheduler near a
thousand runs a second. Here a worker hands its item in and goes back to work at once; the
writer thread takes everything waiting, writes it in one call, then reports each item's
result to ``done``. Alone, an item is written at once (no timer, no added latency); under
load, batches grow by themselves.

Workers do not wait for the write: with dozens of them waiting on one condition, waking
them all after each flush cost more than the flush and starved the scheduler's loop.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: Most items in one write: bounds a transaction and the delay before the first is reported.
MAX_BATCH = 500


class GroupCommit(Generic[T, R]):
    """Calls ``write(items) -> results`` (one per item, in order) on a thread of its own.

    ``done(item, result, error)`` hears of every item once it was written (``error`` is
    what ``write`` raised for its batch, else None), on the writer thread, in order.
    ``settled(items)``, when given, hears of each batch once all its items were reported:
    what costs a lock per call is done once per batch there.
    """

    def __init__(
        self,
        write: Callable[[list[T]], Sequence[R]],
        done: Callable[[T, R | None, BaseException | None], None],
        name: str = "yamlcron-recorder",
        settled: Callable[[list[T]], None] | None = None,
    ) -> None:
        self._write = write
        self._done = done
        self._settled = settled
        self._name = name
        self._queue: queue.SimpleQueue[T | None] = queue.SimpleQueue()  # None: end the thread
        self._idle = threading.Condition()
        self._pending = 0
        self._thread: threading.Thread | None = None

    def put(self, item: T) -> None:
        """Queue ``item`` for the next write; returns at once."""
        with self._idle:
            self._pending += 1
            if self._thread is None:  # started on first use: a CLI that never runs jobs
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        self._queue.put(item)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every item put so far was written and reported; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float | None = None) -> None:
        """Write what is queued (up to ``timeout``), then end the writer thread."""
        self.flush(timeout)
        with self._idle:
            if self._thread is not None:
                self._queue.put(None)
                self._thread = None

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:  # closing: write this batch, then stop
                    self._queue.put(None)
                    break
                batch.append(item)
            self._write_batch(batch)
            with self._idle:
                self._pending -= len(batch)
                self._idle.notify_all()

    def _write_batch(self, batch: list[T]) -> None:
        try:
            results: Sequence[R | None] = self._write(batch)
            error: BaseException | None = None
        except Exception as exc:  # every item of the batch hears of it
            results, error = [None] * len(batch), exc
        for item, result in zip(batch, results, strict=True):
            try:
                self._done(item, result, error)
            except Exception:  # one report that fails must not lose the others
                log.exception("reporting a written item failed; carrying on")
        if self._settled is not None:
            try:
                self._settled(batch)
            except Exception:  # the writer must go on
                log.exception("settling a written batch failed; carrying on")
