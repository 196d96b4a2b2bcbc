"""The SQL job store, with SQLite built in.

Only JSON goes in, never pickle: a job row holds its canonical spec (``model.JobSpec``),
that spec's digest and its runtime state. Instants are integers, microseconds since the
Unix epoch in UTC: exact (so ``UNIQUE (job_id, scheduled_at, attempt)`` on runs really
claims one fire once), indexable and the same in every SQL dialect.

Each write method is one transaction (``BEGIN IMMEDIATE`` on SQLite, so a writer never
upgrades a read lock into a deadlock), and the database runs in WAL mode with
``synchronous=FULL``: a crash loses no committed apply.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from yamlcron.errors import StoreError
from yamlcron.model import AppliedManifest, JobSpec, JobWrite, StoredJob

SCHEMA_VERSION = 1

#: Migration ``n`` takes a store from version ``n`` to ``n + 1``.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        digest TEXT NOT NULL,
        next_run_at INTEGER,
        anchor INTEGER NOT NULL,
        paused_override INTEGER,
        last_status TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX jobs_due ON jobs (next_run_at) WHERE next_run_at IS NOT NULL;
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL,
        scheduled_at INTEGER NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 1,
        status TEXT NOT NULL,
        started_at INTEGER,
        finished_at INTEGER,
        exit_code INTEGER,
        result TEXT,
        error TEXT,
        output TEXT,
        node TEXT,
        manifest_digest TEXT,
        cause_run_id INTEGER,
        UNIQUE (job_id, scheduled_at, attempt)
    );
    CREATE INDEX runs_by_job ON runs (job_id, id);
    CREATE TABLE applies (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        digest TEXT NOT NULL,
        path TEXT NOT NULL,
        applied_at INTEGER NOT NULL
    );
    """,
)


def to_micros(moment: datetime) -> int:
    """An aware datetime as microseconds since the epoch."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    """Microseconds since the epoch as an aware UTC datetime."""
    return datetime.fromtimestamp(value // 1_000_000, UTC).replace(microsecond=value % 1_000_000)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def default_store_path(manifest: Path) -> Path:
    """``.yamlcron/state.db`` beside the manifest."""
    return manifest.resolve().parent / ".yamlcron" / "state.db"


class SQLiteStore:
    """A ``model.Store`` in one SQLite file, shared by the threads of one process."""

    def __init__(self, path: Path | None, *, create: bool = True) -> None:
        """Open (and with ``create``, make and migrate) the store at ``path``.

        Without ``create`` a missing file reads as an empty store and nothing is written:
        ``plan`` and ``next`` use this. ``None`` opens a private in-memory store.
        """
        self.path = path
        self._lock = threading.RLock()
        exists = path is not None and path.exists()
        try:
            if path is not None and create and not exists:
                _make_folder(path.parent)
            target = str(path) if path is not None and (create or exists) else ":memory:"
            self._db = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout = 10000")
            if target != ":memory:":
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = FULL")
            self._migrate(writable=create or not exists)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {path}: {exc}") from None

    def _migrate(self, *, writable: bool) -> None:
        version = self._version()
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the store {self.path} has schema version {version}, newer than this "
                f"yamlcron understands ({SCHEMA_VERSION}); upgrade yamlcron"
            )
        if not writable:
            raise StoreError(f"the store {self.path} needs an upgrade; run 'yamlcron apply'")
        with self._transaction() as db:
            for script in MIGRATIONS[version:]:
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )

    def _version(self) -> int:
        found = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        if not found:
            return 0
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def load_jobs(self) -> dict[str, StoredJob]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, spec, next_run_at, anchor, paused_override, last_status FROM jobs"
            ).fetchall()
        return {
            job_id: StoredJob(
                spec=JobSpec.from_canonical(job_id, json.loads(spec)),
                next_run_at=None if next_at is None else from_micros(next_at),
                anchor=from_micros(anchor),
                paused_override=None if paused is None else bool(paused),
                last_status=last_status,
            )
            for job_id, spec, next_at, anchor, paused, last_status in rows
        }

    def apply(self, writes: list[JobWrite], removals: list[str], record: AppliedManifest) -> None:
        now = to_micros(record.applied_at)
        rows = [
            (
                w.spec.id,
                json.dumps(w.spec.canonical, sort_keys=True, separators=(",", ":")),
                w.spec.digest,
                None if w.next_run_at is None else to_micros(w.next_run_at),
                now,
                int(w.reschedule),
            )
            for w in writes
        ]
        try:
            with self._transaction() as db:
                db.executemany(
                    "INSERT INTO jobs (id, spec, digest, next_run_at, anchor, created_at, "
                    "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?5) "
                    "ON CONFLICT (id) DO UPDATE SET spec = excluded.spec, "
                    "digest = excluded.digest, updated_at = excluded.updated_at, "
                    "next_run_at = CASE WHEN ?6 THEN excluded.next_run_at "
                    "ELSE jobs.next_run_at END",
                    rows,
                )
                db.executemany("DELETE FROM jobs WHERE id = ?", [(r,) for r in removals])
                db.execute(
                    "INSERT INTO applies (digest, path, applied_at) VALUES (?, ?, ?)",
                    (record.digest, record.path, now),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write the store {self.path}: {exc}") from None

    def last_applied(self) -> AppliedManifest | None:
        with self._lock:
            row = self._db.execute(
                "SELECT digest, path, applied_at FROM applies ORDER BY id DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        return AppliedManifest(digest=row[0], path=row[1], applied_at=from_micros(row[2]))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _make_folder(folder: Path) -> None:
    """Create the store's folder; a ``.yamlcron`` folder gets a ``.gitignore`` of ``*``."""
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if folder.name == ".yamlcron" and not ignore.exists():
        ignore.write_text("# yamlcron's state: never commit it\n*\n", encoding="utf-8")
