"""The built-in SQLite dialect of the SQL store (``sqlstore.SQLStore``).

One file, shared by the threads of one process and by the short-lived CLI commands beside
one ``yamlcron run``. Each write is a ``BEGIN IMMEDIATE`` transaction (a writer never
upgrades a read lock into a deadlock), in WAL mode with ``synchronous=FULL``: a crash loses
no committed apply. Reads outside a transaction go through a second connection: in WAL
mode they need not wait for a write's disk flush, so the scheduler's loop reads what is due
while the recorder commits what ended. Coordination between processes goes through files
beside the database (``filesignals``): the daemon lock, the apply lock and the doorbell.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from yamlcron.errors import StoreError, StoreGoneError
from yamlcron.giveway import give_way
from yamlcron.runs import Lease, Replica
from yamlcron.store import schema
from yamlcron.store.filesignals import FileSignals
from yamlcron.store.private import guard_store
from yamlcron.store.sqlstore import SQLStore

#: SQLite's errors that a user can act on, said plainly (its own words follow).
_PLAIN = {
    sqlite3.SQLITE_FULL: "the disk is full",
    sqlite3.SQLITE_READONLY: "the store is read-only",
}
#: Seconds between two checks that the store's file is still the one opened: a ``stat``
#: before every read and write was a system call per statement, on every fire's path.
IDENTITY_EVERY = 0.05
#: Rows written by one ``executemany`` call before the writer may give way (``giveway``).
_GIVE_WAY_ROWS = 8
#: SQLite's words in the shared DDL: its INTEGER is 64 bits; AUTOINCREMENT never reuses
#: the id of a deleted row (a pruned run's id stays unique).
WORDS = schema.DDLWords(bigint="INTEGER", serial="INTEGER PRIMARY KEY AUTOINCREMENT")


def default_store_path(manifest: Path) -> Path:
    """``.yamlcron/state.db`` beside the manifest.

    Beside the path as given, not its symlink target: a Kubernetes ConfigMap's file is a
    link into a folder that is swapped on every update.
    """
    return manifest.absolute().parent / ".yamlcron" / "state.db"


class SQLiteStore(SQLStore):
    """A ``interfaces.Store`` in one SQLite file (or, for ``None``, in memory)."""

    errors = (sqlite3.Error,)
    migrations = schema.migrations(WORDS)
    # The store's clock: julianday has millisecond precision, plenty for leases.
    now_sql = "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)"

    def __init__(self, path: Path | None, *, create: bool = True) -> None:
        """Open (and with ``create``, make and migrate) the store at ``path``.

        Without ``create`` a missing file reads as an empty store and nothing is written:
        ``plan`` and ``next`` use this. ``None`` opens a private in-memory store.
        """
        super().__init__()
        self.path = path
        self.name = str(path) if path is not None else ":memory:"
        self._signals = None if path is None else FileSignals(path)
        self._applying = threading.Lock()  # in memory: the one process is all there is
        exists = path is not None and path.exists()
        if path is not None:
            guard_store(path, create=create)
        target = str(path) if path is not None and (create or exists) else ":memory:"
        # Reading needs no write access: on a read-only filesystem a reader opens the file
        # read-only, and immutable if SQLite cannot share its WAL index there.
        read_only = path is not None and exists and not create and not _writable(path.parent)
        try:
            self._db = _connect(target, read_only=read_only)
            if target != ":memory:" and not read_only:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {path}: {self._detail(exc)}") from None
        #: The file this store opened: deleted or replaced under a daemon, it must stop.
        self._identity = None if target == ":memory:" else _identity(Path(target))
        self._checked = -IDENTITY_EVERY  # monotonic time of the last check: check at once
        self._local = _ThreadState()
        self._read_lock = threading.RLock()
        self._reader: sqlite3.Connection | None = None
        try:
            with self._errors_as_store_errors():
                self._migrate(writable=create or not exists)
        except StoreError:
            self._db.close()  # a store refused (too new, needs an upgrade) keeps no connection
            raise
        with self._errors_as_store_errors():
            # In memory there is one database per connection: one connection does both.
            self._reader = None if target == ":memory:" else _connect(target, read_only=read_only)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._local.writing += 1
        try:
            with super()._transaction():
                yield
        finally:
            self._local.writing -= 1

    @contextmanager
    def _reading(self) -> Iterator[None]:
        self._ensure_connected()
        # Inside its own transaction a thread reads what it wrote: the writer connection.
        if self._reader is None or self._local.writing:
            with super()._reading():
                yield
            return
        with self._read_lock, self._errors_as_store_errors():
            outer = self._local.reader
            self._local.reader = self._reader
            try:
                yield
            finally:
                self._local.reader = outer

    def _ensure_connected(self) -> None:
        """Before each transaction and read: the file opened is still the store's file.

        ``rm -rf .yamlcron`` under a daemon left it writing history into a deleted file
        while a second daemon started on a new store, and every fire ran twice. Checked
        at most every ``IDENTITY_EVERY`` seconds: a daemon stops that much later, long
        before a second one can start.
        """
        if self._identity is None or self.path is None:
            return
        clock = time.monotonic()
        if clock - self._checked < IDENTITY_EVERY:
            return
        self._checked = clock
        try:
            now = _identity(self.path)
        except FileNotFoundError:
            now = None
        if now != self._identity:
            what = "deleted" if now is None else "replaced by another file"
            raise StoreGoneError(
                f"the store {self.path} was {what} while this process had it open; "
                "stopping, so that a new store beside it cannot run every job a second time"
            )

    def _detail(self, exc: Exception) -> str:
        detail = super()._detail(exc)
        code = getattr(exc, "sqlite_errorcode", None) or 0
        said = _PLAIN.get(code)
        # A full disk also shows as an I/O error (the WAL index cannot be mapped): SQLite
        # does not say why, the filesystem does.
        if said is None and code & 0xFF == sqlite3.SQLITE_IOERR and self._disk_full():
            said = _PLAIN[sqlite3.SQLITE_FULL]
        return f"{said} ({detail})" if said else detail

    def _disk_full(self) -> bool:
        if self.path is None:
            return False
        try:
            return os.statvfs(self.path.parent).f_bavail == 0
        except OSError:
            return False

    def _execute(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> sqlite3.Cursor:
        cursor = (self._local.reader or self._db).execute(sql, params)
        give_way()  # a transaction's statements keep the interpreter lock busy: see giveway
        return cursor

    def _executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        for start in range(0, len(rows), _GIVE_WAY_ROWS):  # each row a step: see giveway
            self._db.executemany(sql, rows[start : start + _GIVE_WAY_ROWS])
            give_way()

    def _begin(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def _version(self) -> int:
        found = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        return self._meta_version() if found else 0

    @contextmanager
    def applying(self) -> Iterator[None]:
        if self._signals is None:
            with self._applying:
                yield
        else:
            with self._signals.applying():
                yield

    def join(self, node: str, ttl: float) -> Lease:
        """One scheduler at a time holds a SQLite store, so a new one ends the leases before it.

        Under the daemon lock the lease is held (never expires, never renewed): no other
        scheduler can take this store while the lock's process lives, so a heartbeat would
        guard against nobody, and an idle daemon would still write every ten seconds.
        """
        held = self._signals is not None and self._signals.holds_daemon_lock
        lease = self._join(node, None if held else ttl)
        with self._transaction():
            self._execute(
                f"UPDATE nodes SET expires_at = {self.now_sql} "
                f"WHERE token != ? AND reaped_at IS NULL",
                (lease.token,),
            )
        return lease

    def lock_daemon(self) -> None:
        if self._signals is not None:
            self._signals.lock_daemon()

    def daemon_alive(self) -> bool:
        return self._signals is not None and self._signals.daemon_alive()

    def replicas(self) -> list[Replica]:
        """The live leases; a held one only while its daemon still holds the lock."""
        live = super().replicas()
        if self.daemon_alive():
            return live
        return [r for r in live if r.expires_at is not None]  # its daemon died: the next ends it

    def ring(self) -> None:
        if self._signals is not None:
            self._signals.ring()

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        if self._signals is None:
            return lambda: None

        def changed() -> None:
            # The file's deletion calls too: the pass it wakes must look at the file, even
            # within IDENTITY_EVERY of the last look (a daemon deleted just after its
            # start otherwise slept on until its next fire time).
            self._checked = -IDENTITY_EVERY
            callback()

        return self._signals.watch(changed)

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._db.close()
            if self._reader is not None:
                self._reader.close()
            if self._signals is not None:
                self._signals.close()


class _ThreadState(threading.local):
    """Which connection this thread's statements go to."""

    writing = 0  # depth of this thread's transactions: reads in one see its writes
    reader: sqlite3.Connection | None = None  # inside ``_reading`` outside a transaction


def _connect(target: str, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), shared by threads."""
    if read_only:
        db = _connect_read_only(target)
    else:
        db = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout = 10000")
    return db


def _connect_read_only(target: str) -> sqlite3.Connection:
    """Read-only; immutable when the WAL index cannot be made (a read-only filesystem).

    Immutable reads what the last checkpoint wrote to the database file: a daemon that
    stopped cleanly checkpointed everything.
    """
    uri = Path(target).absolute().as_uri()
    for options in ("mode=ro", "mode=ro&immutable=1"):
        db = sqlite3.connect(
            f"{uri}?{options}", uri=True, isolation_level=None, check_same_thread=False
        )
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            db.close()
            continue
        return db
    raise sqlite3.OperationalError("unable to open the database file read-only")


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK)


def _identity(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_dev, info.st_ino
