"""The connection, transactions and schema of the SQL store, which every role builds on.

Statements use ``?`` placeholders and the SQL that SQLite and PostgreSQL share; a dialect
subclass supplies the connection, its migrations (``schema.migrations`` in its words), how
a transaction begins, the store's clock as an SQL expression and its row locks (none on
SQLite, whose write transactions are serial anyway).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, Protocol

from yamlcron.errors import CorruptJobError, StoreError
from yamlcron.model import JobSpec
from yamlcron.store.codec import parse_spec
from yamlcron.store.schema import SCHEMA_VERSION

log = logging.getLogger("yamlcron.store")

#: Parsed specs kept by (id, digest); the loop re-reads the same due jobs all day.
_SPEC_CACHE = 50_000
#: Rows per multi-row statement: 12 parameters a row stays far below both drivers' limits.
ROWS_PER_STATEMENT = 512


class Cursor(Protocol):
    """What both drivers' cursors offer."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class SQLBase:
    """One connection shared by the threads of one process, and what every role needs of it.

    Subclasses set ``errors`` (the driver's exception base), ``migrations``, ``now_sql``
    (the store's clock in microseconds), ``share_lock``/``skip_locked`` (row-lock
    suffixes) and implement the connection-level methods below.
    """

    errors: tuple[type[Exception], ...] = ()
    migrations: tuple[str, ...] = ()
    now_sql = ""
    share_lock = ""
    skip_locked = ""
    name = ""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._specs: dict[tuple[str, str], JobSpec | None] = {}

    # -- what a dialect provides ---------------------------------------------------------

    def _execute(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> Cursor:
        raise NotImplementedError

    def _executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def _begin(self) -> None:
        self._execute("BEGIN")

    def _version(self) -> int:
        raise NotImplementedError

    def _lock_schema(self) -> None:
        """Inside a migration's transaction: wait for another process migrating."""

    def _ensure_connected(self) -> None:
        """Before a transaction or a read: reconnect if the connection was lost."""

    def _split(self, script: str) -> list[str]:
        return [s for s in script.split(";") if s.strip()]

    # -- transactions and schema ---------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock, self._errors_as_store_errors():
            self._ensure_connected()
            self._begin()
            try:
                yield
            except BaseException:
                self._rollback()
                raise
            self._execute("COMMIT")

    @contextmanager
    def _reading(self) -> Iterator[None]:
        with self._lock, self._errors_as_store_errors():
            self._ensure_connected()
            yield

    @contextmanager
    def _errors_as_store_errors(self) -> Iterator[None]:
        try:
            yield
        except self.errors as exc:
            raise StoreError(f"the store {self.name}: {self._detail(exc)}") from None

    def _rollback(self) -> None:
        """End a failed transaction, keeping its error: the one the user must see.

        SQLite has already rolled back after some errors (a full disk): a ROLLBACK then
        fails with "no transaction is active", which would hide why the write failed; a
        connection the server ended cannot roll back either.
        """
        with suppress(*self.errors):
            self._execute("ROLLBACK")

    def _detail(self, exc: Exception) -> str:
        """The driver's error in one line, as a message may show it."""
        return " ".join(str(exc).split())

    def _migrate(self, *, writable: bool) -> None:
        """Bring the schema to ``SCHEMA_VERSION``, or refuse a store too new for us."""
        version = self._version()
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the store {self.name} has schema version {version}, newer than this "
                f"yamlcron understands ({SCHEMA_VERSION}); upgrade yamlcron"
            )
        if not writable:
            raise StoreError(f"the store {self.name} needs an upgrade; run 'yamlcron apply'")
        with self._transaction():
            self._lock_schema()  # two replicas starting at once migrate once
            version = self._version()
            for script in self.migrations[version:]:
                for statement in self._split(script):
                    self._execute(statement)
            self._execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )

    def _meta_version(self) -> int:
        row = self._execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _spec(self, job_id: str, digest: str, text: str) -> JobSpec | None:
        """Parse a stored spec once per content: the hot loop reads the same jobs again.

        None for a row that cannot be read: reported once, and the other jobs go on.
        """
        key = (job_id, digest)
        if key in self._specs:
            return self._specs[key]
        try:
            spec: JobSpec | None = parse_spec(job_id, text, digest)
        except CorruptJobError as exc:
            log.error("%s; it does not fire until then", exc)
            spec = None
        if len(self._specs) >= _SPEC_CACHE:
            self._specs.pop(next(iter(self._specs)))
        self._specs[key] = spec
        return spec

    def _rows_in(self, sql: str, ids: list[Any]) -> list[Any]:
        """The distinct rows of ``sql`` (with ``{}`` for a list of ids), asked in chunks."""
        rows: list[Any] = []
        for start in range(0, len(ids), ROWS_PER_STATEMENT):
            chunk = ids[start : start + ROWS_PER_STATEMENT]
            rows += self._execute(sql.format(", ".join("?" * len(chunk))), chunk).fetchall()
        return rows

    def _select_in(self, sql: str, ids: list[Any]) -> dict[Any, Any]:
        """Two-column rows of ``sql`` (with ``{}`` for a list of ids) as a dict."""
        return dict(self._rows_in(sql, ids))
