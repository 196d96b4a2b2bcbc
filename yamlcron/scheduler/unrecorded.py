"""Ends of runs the store could not record, held in memory and offered again with backoff.

A store error while a run's end is written (a PostgreSQL connection cut, a full disk)
must not leave the run ``running`` for good: its row would count against
``max_instances`` and a restart would run it again. So the outcome is kept here, and the
scheduler's loop writes it again once its time has come: after 1 s, then twice as long
each time the store refuses again, at most ``RETRY_CAP``. Nothing is ever dropped: an
end is only let go once written (or refused for a lost lease, which is logged).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from yamlcron.scheduler.parts import Record

log = logging.getLogger("yamlcron.scheduler")

#: The first wait before writing held ends again; each refusal doubles it.
RETRY_FIRST = 1.0
#: The longest wait between two tries: a store that comes back is written to soon.
RETRY_CAP = 60.0


class Unrecorded:
    """The held ends of one runner. Thread-safe: the recorder holds, the loop takes."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        """Nothing held yet; ``clock`` decides when the next try is due."""
        self._clock = clock
        self._lock = threading.Lock()
        self._items: list[Record] = []
        self._refusals = 0  # tries refused in a row: the backoff's exponent
        self._due: datetime | None = None

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def hold(self, item: Record, error: BaseException) -> None:
        """Keep ``item``, whose write failed with ``error``, for the next try."""
        run = item[0].run
        with self._lock:
            self._items.append(item)
            if self._due is None:
                self._due = self._clock() + timedelta(seconds=self._wait())
            wait = (self._due - self._clock()).total_seconds()
        log.error(
            "cannot record the end of run %s of %s (%s), kept in memory, "
            "trying again in %.0f s: %s",
            run.id,
            run.job_id,
            run.status.value,
            max(wait, 0.0),
            error,
        )

    def take(self, *, now: datetime | None = None) -> list[Record]:
        """The held items if their try is due at ``now`` (None: due whatever the time)."""
        with self._lock:
            if not self._items or (now is not None and self._due and now < self._due):
                return []
            items, self._items, self._due = self._items, [], None
            return items

    def tried(self, refused: list[Record], error: BaseException | None, written: int) -> None:
        """The outcome of a try: ``refused`` are held again, with a longer wait."""
        if not refused:
            with self._lock:
                self._refusals = 0
            if written:
                log.warning("recorded %d run end(s) the store had refused before", written)
            return
        with self._lock:
            self._refusals += 1
            self._items = refused + self._items
            wait = self._wait()
            self._due = self._clock() + timedelta(seconds=wait)
            held = len(self._items)
        log.error(
            "the store still refuses %d run end(s) (oldest: run %s of %s), kept in memory, "
            "trying again in %.0f s: %s",
            held,
            refused[0][0].run.id,
            refused[0][0].run.job_id,
            wait,
            error,
        )

    def due_in(self, now: datetime) -> float | None:
        """Seconds until the next try (0 when due), None when nothing is held."""
        with self._lock:
            if self._due is None or not self._items:
                return None
            return max((self._due - now).total_seconds(), 0.0)

    def items(self) -> list[Record]:
        """The ends held now."""
        with self._lock:
            return list(self._items)

    def jobs(self) -> Counter[str]:
        """How many held ends each job has: runs the store still shows ``running``."""
        with self._lock:
            return Counter(finish.run.job_id for finish, _, _ in self._items)

    def give_up(self) -> None:
        """At exit: say, for each end still held, what could not be recorded."""
        for item in self.take():
            run = item[0].run
            log.error(
                "the end of run %s of %s (%s) could not be recorded before exit; the store "
                "keeps it running until a scheduler marks it interrupted",
                run.id,
                run.job_id,
                run.status.value,
            )

    def _wait(self) -> float:
        return min(RETRY_FIRST * 2.0**self._refusals, RETRY_CAP)
