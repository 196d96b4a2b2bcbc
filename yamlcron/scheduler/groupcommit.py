"""Group commit: items handed in from many threads are written in batches, by one thread.

A durable commit costs a disk flush (a fraction of a millisecond to a few, the same for
SQLite and PostgreSQL), so committing each finished run alone caps a scheduler near a
thousand runs a second. Here a worker hands its item in and goes back to work at once; the
writer thread takes everything waiting, writes it in one call, then reports each item's
result to ``done``. Alone, an item is written at once (no timer, no added latency); under
load, a write follows the last one ``LINGER`` seconds later at the soonest, and takes what
came meanwhile: a thousand runs a second ending one by one are twenty transactions,
not a thousand, each with its disk flush and its lease checks.

Workers do not wait for the write: with dozens of them waiting on one condition, waking
them all after each flush cost more than the flush and starved the scheduler's loop.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

from yamlcron.errors import StoreError
from yamlcron.giveway import give_way

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
T_in = TypeVar("T_in", contravariant=True)

#: Most items in one write: bounds a transaction and the delay before the first is reported.
MAX_BATCH = 500
#: Least seconds from the end of one write to the start of the next: ends that come
#: meanwhile join the next write. Not a delay for an item alone (the last write is past).
#: 50 ms rather than 25: the recorder's CPU a fire at 1,000 fires/s fell from 65 to 50 µs,
#: the p99 lateness unchanged (bench/README.md, "Three runs before: starts before bookkeeping").
LINGER = 0.05

Write = Callable[[list[T]], Sequence[R]]
Done = Callable[[T, R | None, BaseException | None], None]
Settled = Callable[[list[T]], None]


class Committer(Protocol[T_in]):
    """Writes the items handed in and reports each (see ``GroupCommit`` for the contract)."""

    def put(self, item: T_in) -> None:
        """Hand ``item`` in for writing."""
        ...

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every item put so far was written and reported; False on timeout."""
        ...

    def close(self, timeout: float | None = None) -> None:
        """Write what is pending, then release any thread."""
        ...


class InlineCommit(Generic[T, R]):
    """A ``Committer`` that writes each item on the thread that puts it, alone.

    For a run in the caller's thread (``trigger`` without a daemon) and for tests: when
    ``put`` returns, the item is written, reported and settled.
    """

    def __init__(
        self, write: Write[T, R], done: Done[T, R], settled: Settled[T] | None = None
    ) -> None:
        self._write = write
        self._done = done
        self._settled = settled

    def put(self, item: T) -> None:
        """Write ``item`` now."""
        write_batch([item], self._write, self._done, self._settled)

    def flush(self, timeout: float | None = None) -> bool:
        """Everything put was written already."""
        return True

    def close(self, timeout: float | None = None) -> None:
        """No thread to end."""


class GroupCommit(Generic[T, R]):
    """Calls ``write(items) -> results`` (one per item, in order) on a thread of its own.

    ``done(item, result, error)`` hears of every item once it was written (``error`` is
    what ``write`` raised for its batch, else None), on the writer thread, in order.
    ``settled(items)``, when given, hears of each batch once all its items were reported, whatever
    ``write`` and ``done`` did: what costs a lock per call is done once per batch there,
    and what must never be skipped (the scheduler stops counting the runs as running).
    """

    def __init__(
        self,
        write: Write[T, R],
        done: Done[T, R],
        name: str = "yamlcron-recorder",
        settled: Settled[T] | None = None,
        linger: float = LINGER,
    ) -> None:
        self._write = write
        self._linger = linger
        self._last = -linger  # monotonic end of the last write: the first is written at once
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
        try:
            self._write_until_closed()
        except BaseException:
            # write_batch lets out only a bug of ``write``: log it, and let a new thread
            # take the next batches, as every later run's end needs one.
            log.exception("the writer thread %s died; starting another", self._name)
            with self._idle:
                if self._thread is threading.current_thread():
                    self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                    self._thread.start()

    def _write_until_closed(self) -> None:
        while (first := self._queue.get()) is not None:
            backlog = self._queue.qsize() >= MAX_BATCH  # a full batch waits for nothing
            if not backlog and (wait := pace(self._last, time.monotonic(), self._linger)) > 0:
                time.sleep(wait)  # ends coming meanwhile join this write
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
            try:
                write_batch(batch, self._write, self._done, self._settled)
            finally:  # flush() must not wait forever for a batch, whatever became of it
                self._last = time.monotonic()
                with self._idle:
                    self._pending -= len(batch)
                    self._idle.notify_all()


def pace(last: float, now: float, linger: float) -> float:
    """Seconds to wait before a write at ``now``, the last one having ended at ``last``."""
    return max(last + linger - now, 0.0)


def write_batch(
    batch: list[T], write: Write[T, R], done: Done[T, R], settled: Settled[T] | None
) -> None:
    """Write ``batch``, report each item, then settle the batch: always, whatever failed.

    A ``write`` that raises ``StoreError`` (how a store says it failed: a lost connection,
    a full disk), or returns a result count other than one per item (a store's bug), is
    reported to every item as its error. A ``done`` that raises is logged and the others
    are still reported. ``settled`` runs in any case, so an item handed in is never left
    unsettled (a run counted as running forever). Anything else ``write`` raises is a bug
    of ours: it is raised, after settling.
    """
    try:
        try:
            results: Sequence[R | None] = write(batch)
            if len(results) != len(batch):
                raise StoreError(f"{len(results)} results written for {len(batch)} items")
            error: BaseException | None = None
        except StoreError as exc:  # every item of the batch hears of it
            results, error = [None] * len(batch), exc
        for item, result in zip(batch, results, strict=True):
            give_way()  # a batch's reports are a long stretch (yamlcron.giveway)
            try:
                done(item, result, error)
            # Listener isolation: ``done`` announces each run's end to the listeners, and
            # one that fails must not keep the others from hearing of theirs.
            except Exception:
                log.exception("reporting a written item failed; carrying on")
    finally:
        if settled is not None:
            try:
                settled(batch)
            # Settling stops counting the batch's runs as running: whatever a bug in one
            # settle did, the writer goes on for the next batches, which need it too.
            except Exception:
                log.exception("settling a written batch failed; carrying on")
