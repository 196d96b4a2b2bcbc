"""A scheduler's lease on its store: joined on first use, renewed by a heartbeat thread.

The lease is what lets several replicas share one PostgreSQL store: each run is claimed
under a lease's token, and when a replica stops renewing (killed, frozen, cut off) the
others reap its lease after ``ttl`` seconds, marking its running runs ``interrupted`` so
their retry policy applies. A replica that finds its own lease gone joins again with a
new token; the runs of the old one are no longer its to finish.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from yamlcron.errors import StoreError
from yamlcron.interfaces import LeaseStore
from yamlcron.runs import Lease

log = logging.getLogger(__name__)

#: Beats a lease's ttl: a missed one (a cut connection) leaves two more before it expires.
BEATS = 3
#: Tries a lease's ttl after a beat the store refused: a cut connection costs a tenth of the
#: lease, not a third (see ``beat_delay``).
RETRIES = 10


def beat_delay(ttl: float, spent: float, failed: bool) -> float:
    """Seconds to wait after a beat that took ``spent`` seconds before the next one.

    Beats are ``ttl / BEATS`` apart from start to start, so a slow reap after the renewal
    (a loaded machine) does not push the next renewal back; after a beat the store refused,
    the next try comes ``ttl / RETRIES`` later, so two cut connections in a row do not cost
    the lease. A chaos run saw a replica lose its 3 s lease without being stopped, while
    connections were cut every 4 s on a loaded machine; each of its beats had waited a
    third of the lease after the end of the one before, refused or not.
    """
    return max(ttl / (RETRIES if failed else BEATS) - spent, 0.0)


class LeaseKeeper:
    """One scheduler's lease: joins, renews, rejoins and leaves. Thread-safe."""

    def __init__(
        self, store: LeaseStore, node: str, ttl: float, on_beat: Callable[[], object] = lambda: None
    ) -> None:
        """``on_beat`` runs after every heartbeat (the scheduler reaps dead replicas there)."""
        self.store = store
        self.node = node
        self.ttl = ttl
        self.on_beat = on_beat
        self._lease: Lease | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._starting = threading.Lock()
        self._thread: threading.Thread | None = None

    def current(self) -> Lease:
        """The current lease, joining the store the first time."""
        with self._lock:
            if self._lease is None:
                self._lease = self.store.join(self.node, self.ttl)
            return self._lease

    def rejoin(self, lost: Lease) -> Lease:
        """Replace ``lost`` with a new lease (once, however many threads noticed)."""
        with self._lock:
            if self._lease is None or self._lease.token == lost.token:
                self._lease = self.store.join(self.node, self.ttl)
                log.warning(
                    "lease %s of %s was lost (not renewed within %s s); joined again as %s",
                    lost.token,
                    self.node,
                    self.ttl,
                    self._lease.token,
                )
            return self._lease

    def beat(self) -> None:
        """Renew the lease (or join again if it was lost), then call ``on_beat``."""
        lease = self.current()
        if not self.store.renew(lease):
            self.rejoin(lease)
        self.on_beat()

    def start(self) -> None:
        """Beat on a thread of its own, every third of the ttl (``beat_delay``), until ``stop``.

        A held lease (``ttl`` None: a SQLite daemon's) never expires, so nothing beats, and
        there are no other replicas to reap: the next daemon to start reaps this one's runs.
        """
        if self.current().ttl is None:
            return
        with self._starting:  # a ``stop`` on another thread comes before this or after it
            if self._stop.is_set():
                return
            self._thread = threading.Thread(target=self._beat_forever, name="yamlcron-lease")
            self._thread.daemon = True
            self._thread.start()

    def _beat_forever(self) -> None:
        delay = self.ttl / BEATS
        while not self._stop.wait(delay):
            began = time.monotonic()
            try:
                self.beat()
                failed = False
            except StoreError as exc:  # the database is away: keep trying, the loop does too
                log.error("cannot renew the lease of %s: %s", self.node, exc)
                failed = True
            delay = beat_delay(self.ttl, time.monotonic() - began, failed)

    def stop(self) -> None:
        """Stop beating and end the lease, so nobody waits for it to expire."""
        with self._starting:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            lease, self._lease = self._lease, None
        if lease is not None:
            self.store.leave(lease)
