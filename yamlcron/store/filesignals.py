"""Coordination through files beside a SQLite store: one daemon at a time, and a doorbell.

A daemon holds an exclusive ``flock`` on ``<db>.daemon`` (holding its pid) for as long as
it runs, so a second one refuses to start and ``trigger`` knows to go through it. An apply
holds ``<db>.apply`` from reading the store to writing it, so two applies never interleave.
Other
processes ring the doorbell, ``<db>.changed``, after they write (an apply, a trigger, a
pause); the daemon watches it with watchdog, so it wakes at once without polling the
database.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from yamlcron.errors import StoreError
from yamlcron.store.filewatch import watch_file
from yamlcron.store.private import describe_os_error, open_private

log = logging.getLogger("yamlcron.store")


def _private(path: Path, mode: str) -> IO[str]:
    """The store file ``path`` opened private (``private.open_private``) as a text file."""
    flags = os.O_RDWR if "+" in mode else os.O_RDONLY
    return open(open_private(path, flags), mode, encoding="utf-8")


#: The locks this process holds: a forked child closes its copies (``_forget_locks``).
_holders: weakref.WeakSet[FileSignals] = weakref.WeakSet()


class FileSignals:
    """The daemon lock and the doorbell of the store at ``db``."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self._lock_file = db.with_name(db.name + ".daemon")
        self._doorbell = db.with_name(db.name + ".changed")
        self._held: IO[str] | None = None

    def lock_daemon(self) -> None:
        """Take the daemon lock; StoreError naming the holder if another process has it."""
        handle = _private(self._lock_file, "r+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StoreError(
                f"the store {self.db} is in use by another 'yamlcron run' ({holder})"
            ) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
        except OSError as exc:  # a full disk: the lock is not worth a traceback
            handle.close()
            raise StoreError(f"cannot write {self._lock_file}: {describe_os_error(exc)}") from None
        self._held = handle
        _holders.add(self)

    @contextmanager
    def applying(self) -> Iterator[None]:
        """Hold the apply lock, waiting for another process's apply to end."""
        with _private(self.db.with_name(self.db.name + ".apply"), "r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield  # closing the file releases the lock

    @property
    def holds_daemon_lock(self) -> bool:
        """Whether this process took the daemon lock (``lock_daemon``) and still has it."""
        return self._held is not None

    def daemon_alive(self) -> bool:
        """Whether some process holds the daemon lock now."""
        if not self._lock_file.exists():
            return False
        # Read-only: a reader (``replicas``, ``trigger``) may stand on a read-only disk.
        with _private(self._lock_file, "r") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            return False

    def ring(self) -> None:
        """Tell a watching daemon that the store changed."""
        try:
            with _private(self._doorbell, "r+") as handle:
                handle.truncate()
                handle.write(str(time.time_ns()))
        except OSError as exc:  # the write it announces is done: say so, do not fail it
            log.warning(
                "could not ring %s (%s); a running daemon sees the change at its next pass",
                self._doorbell,
                describe_os_error(exc),
            )

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` on every ring; returns the function that stops watching."""
        # The database's own name too: deleted (``rm -rf .yamlcron``), the daemon must
        # notice at once and stop, not sleep until its next fire time.
        return watch_file(self._doorbell, callback, gone=self.db)

    def close(self) -> None:
        """Release the daemon lock if this process holds it."""
        if self._held is not None:
            self._held.close()
            self._held = None


def _forget_locks() -> None:
    """In a forked child: the lock is its parent's, so the child's copy must not keep it.

    An ``flock`` lasts while any copy of its descriptor is open: a child that kept one
    would hold the lock after its parent died, with no scheduler behind it.
    """
    for signals in list(_holders):
        if signals._held is not None:
            signals._held.close()
            signals._held = None


os.register_at_fork(after_in_child=_forget_locks)
