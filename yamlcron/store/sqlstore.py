"""The SQL store, written once for every dialect (SQLite here, PostgreSQL in a plugin).

A job row holds its canonical spec (``model.JobSpec``), that spec's digest and its runtime
state; ``codec`` says how values become rows and ``schema`` holds the tables. The store is
its roles (``interfaces.Store``'s parts), each in a module of its own over the connection and
transactions of ``sql.SQLBase``; a dialect subclass supplies the connection and the few
words that differ.

Leases (the ``nodes`` table) are how schedulers take part: every claimed run carries its
scheduler's token, and a claim or a result is accepted only while that lease is live by
the database's clock, checked under a share lock on the lease row so that the reaper,
which takes the row for update, and the owner can never both win.
"""

from __future__ import annotations

from collections.abc import Callable

from yamlcron.store.firing import FiringSQL
from yamlcron.store.history import HistorySQL
from yamlcron.store.jobs import JobsSQL
from yamlcron.store.leases import LeasesSQL
from yamlcron.store.remote import RemoteSQL


class SQLStore(JobsSQL, FiringSQL, LeasesSQL, HistorySQL, RemoteSQL):
    """A ``interfaces.Store`` over one connection shared by the threads of one process.

    A dialect subclass overrides the doorbell (``ring``, ``watch``) where it has the means
    and implements ``applying`` and ``close``.
    """

    def ring(self) -> None:
        """No doorbell by default: a scheduler wakes at its next fire time."""

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        return lambda: None
