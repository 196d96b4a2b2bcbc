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
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from yamlcron.errors import StoreError
from yamlcron.filesignals import FileSignals
from yamlcron.model import AppliedManifest, JobSpec, JobWrite, StoredJob
from yamlcron.runs import Claim, DueJob, Queued, Run, RunStatus

SCHEMA_VERSION = 1
#: Parsed specs kept by (id, digest); the loop re-reads the same due jobs all day.
_SPEC_CACHE = 50_000

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
        upstream TEXT,
        last_status TEXT,
        last_final TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX jobs_due ON jobs (next_run_at) WHERE next_run_at IS NOT NULL;
    CREATE INDEX jobs_upstream ON jobs (upstream) WHERE upstream IS NOT NULL;
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
        manifest_commit TEXT,
        cause_run_id INTEGER,
        UNIQUE (job_id, scheduled_at, attempt)
    );
    CREATE INDEX runs_by_job ON runs (job_id, id);
    CREATE INDEX runs_running ON runs (status) WHERE status = 'running';
    CREATE TABLE queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL,
        due_at INTEGER NOT NULL,
        scheduled_at INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        reason TEXT NOT NULL,
        cause_run_id INTEGER
    );
    CREATE INDEX queue_due ON queue (due_at);
    CREATE TABLE applies (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        digest TEXT NOT NULL,
        path TEXT NOT NULL,
        applied_at INTEGER NOT NULL,
        commit_id TEXT,
        rules TEXT
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
    """``.yamlcron/state.db`` beside the manifest.

    Beside the path as given, not its symlink target: a Kubernetes ConfigMap's file is a
    link into a folder that is swapped on every update.
    """
    return manifest.absolute().parent / ".yamlcron" / "state.db"


class SQLiteStore:
    """A ``runs.Store`` in one SQLite file, shared by the threads of one process."""

    def __init__(self, path: Path | None, *, create: bool = True) -> None:
        """Open (and with ``create``, make and migrate) the store at ``path``.

        Without ``create`` a missing file reads as an empty store and nothing is written:
        ``plan`` and ``next`` use this. ``None`` opens a private in-memory store.
        """
        self.path = path
        self._lock = threading.RLock()
        self._specs: dict[tuple[str, str], JobSpec] = {}
        self._signals = None if path is None else FileSignals(path)
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

    def load_jobs(self, ids: Collection[str] | None = None) -> dict[str, StoredJob]:
        columns = "id, digest, spec, next_run_at, anchor, paused_override, last_status"
        with self._lock:
            if ids is None:
                rows = self._db.execute(f"SELECT {columns} FROM jobs").fetchall()
            else:
                rows = [
                    row
                    for job_id in dict.fromkeys(ids)
                    for row in self._db.execute(
                        f"SELECT {columns} FROM jobs WHERE id = ?", (job_id,)
                    ).fetchall()
                ]
        return {
            job_id: StoredJob(
                # Not through the cache: listing every job must not keep every job in memory.
                spec=JobSpec.from_canonical(job_id, json.loads(spec)),
                next_run_at=None if next_at is None else from_micros(next_at),
                anchor=from_micros(anchor),
                paused_override=None if paused is None else bool(paused),
                last_status=last_status,
            )
            for job_id, digest, spec, next_at, anchor, paused, last_status in rows
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
                w.spec.trigger.after,
            )
            for w in writes
        ]
        try:
            with self._transaction() as db:
                db.executemany(
                    "INSERT INTO jobs (id, spec, digest, next_run_at, anchor, created_at, "
                    "updated_at, upstream) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?5, ?7) "
                    "ON CONFLICT (id) DO UPDATE SET spec = excluded.spec, "
                    "upstream = excluded.upstream, "
                    "digest = excluded.digest, updated_at = excluded.updated_at, "
                    "next_run_at = CASE WHEN ?6 THEN excluded.next_run_at "
                    "ELSE jobs.next_run_at END",
                    rows,
                )
                db.executemany("DELETE FROM jobs WHERE id = ?", [(r,) for r in removals])
                db.execute(
                    "INSERT INTO applies (digest, path, applied_at, commit_id, rules) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (record.digest, record.path, now, record.commit, record.rules),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write the store {self.path}: {exc}") from None

    def last_applied(self) -> AppliedManifest | None:
        with self._lock:
            row = self._db.execute(
                "SELECT digest, path, applied_at, commit_id, rules FROM applies "
                "ORDER BY id DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        return AppliedManifest(
            digest=row[0],
            path=row[1],
            applied_at=from_micros(row[2]),
            commit=row[3],
            rules=row[4],
        )

    def overview(self) -> tuple[int, dict[str, bool]]:
        with self._lock:
            count = self._db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
            rows = self._db.execute(
                "SELECT id, paused_override FROM jobs WHERE paused_override IS NOT NULL "
                "AND paused_override != json_extract(spec, '$.paused')"
            ).fetchall()
        return int(count), {job_id: bool(paused) for job_id, paused in rows}

    def _spec(self, job_id: str, digest: str, text: str) -> JobSpec:
        """Parse a stored spec once per content: the hot loop reads the same jobs again."""
        key = (job_id, digest)
        spec = self._specs.get(key)
        if spec is None:
            spec = JobSpec.from_canonical(job_id, json.loads(text))
            if len(self._specs) >= _SPEC_CACHE:
                self._specs.pop(next(iter(self._specs)))
            self._specs[key] = spec
        return spec

    def due(self, now: datetime, limit: int) -> list[DueJob]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, digest, spec, next_run_at, anchor FROM jobs WHERE next_run_at <= ? "
                "AND paused_override IS NOT 1 ORDER BY next_run_at LIMIT ?",
                (to_micros(now), limit),
            ).fetchall()
            return [
                DueJob(
                    spec=self._spec(job_id, digest, text),
                    next_run_at=from_micros(next_at),
                    anchor=from_micros(anchor),
                )
                for job_id, digest, text, next_at, anchor in rows
            ]

    def due_queued(self, now: datetime, limit: int) -> list[tuple[Queued, JobSpec | None]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT q.id, q.job_id, q.due_at, q.scheduled_at, q.attempt, q.reason, "
                "q.cause_run_id, j.digest, j.spec FROM queue q LEFT JOIN jobs j ON j.id = q.job_id "
                "WHERE q.due_at <= ? ORDER BY q.due_at, q.id LIMIT ?",
                (to_micros(now), limit),
            ).fetchall()
            return [
                (
                    Queued(
                        id=i,
                        job_id=j,
                        due_at=from_micros(d),
                        scheduled_at=from_micros(s),
                        attempt=a,
                        reason=r,
                        cause_run_id=c,
                    ),
                    None if text is None else self._spec(j, digest, text),
                )
                for i, j, d, s, a, r, c, digest, text in rows
            ]

    def downstream(self, job_id: str) -> list[JobSpec]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, digest, spec FROM jobs WHERE upstream = ?", (job_id,)
            ).fetchall()
            return [self._spec(i, d, t) for i, d, t in rows]

    def lock_daemon(self) -> None:
        if self._signals is not None:
            self._signals.lock_daemon()

    def daemon_alive(self) -> bool:
        return self._signals is not None and self._signals.daemon_alive()

    def ring(self) -> None:
        if self._signals is not None:
            self._signals.ring()

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        if self._signals is None:
            return lambda: None
        return self._signals.watch(callback)

    def next_wakeup(self) -> datetime | None:
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(t) FROM (SELECT MIN(next_run_at) AS t FROM jobs WHERE "
                "paused_override IS NOT 1 UNION ALL SELECT MIN(due_at) FROM queue)"
            ).fetchone()
        return None if row[0] is None else from_micros(row[0])

    def claim(self, claims: list[Claim], node: str, source: AppliedManifest | None) -> list[Run]:
        made: list[Run] = []
        digest, commit = (source.digest, source.commit) if source else (None, None)
        with self._transaction() as db:
            for claim in claims:
                if claim.expected is not None:
                    moved = db.execute(
                        "UPDATE jobs SET next_run_at = ? WHERE id = ? AND next_run_at = ?",
                        (_micros(claim.next_run_at), claim.job_id, to_micros(claim.expected)),
                    ).rowcount
                    if not moved:
                        continue
                if claim.queued_id is not None:
                    taken = db.execute("DELETE FROM queue WHERE id = ?", (claim.queued_id,))
                    if not taken.rowcount:
                        continue
                for new in claim.runs:
                    final = new.status != RunStatus.RUNNING
                    row = db.execute(
                        "INSERT INTO runs (job_id, scheduled_at, attempt, status, started_at, "
                        "finished_at, error, node, cause_run_id, manifest_digest, manifest_commit) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (job_id, scheduled_at, attempt) DO NOTHING RETURNING id",
                        (
                            new.job_id,
                            to_micros(new.scheduled_at),
                            new.attempt,
                            new.status.value,
                            _micros(new.started_at),
                            _micros(new.started_at) if final else None,
                            _json(new.error),
                            node,
                            new.cause_run_id,
                            digest,
                            commit,
                        ),
                    ).fetchone()
                    if row is None:
                        continue  # this fire was claimed before: never run it twice
                    if final:
                        db.execute(
                            "UPDATE jobs SET last_status = ? WHERE id = ?",
                            (new.status.value, new.job_id),
                        )
                    made.append(
                        Run(
                            id=row[0],
                            job_id=new.job_id,
                            scheduled_at=new.scheduled_at,
                            attempt=new.attempt,
                            status=new.status,
                            started_at=new.started_at,
                            finished_at=new.started_at if final else None,
                            error=new.error,
                            node=node,
                            cause_run_id=new.cause_run_id,
                            manifest_digest=digest,
                            manifest_commit=commit,
                        )
                    )
        return made

    def finish(self, run: Run, followups: list[Queued]) -> str | None:
        retrying = any(f.job_id == run.job_id and f.reason == "retry" for f in followups)
        with self._transaction() as db:
            previous = db.execute(
                "SELECT last_final FROM jobs WHERE id = ?", (run.job_id,)
            ).fetchone()
            db.execute(
                "UPDATE runs SET status = ?, started_at = ?, finished_at = ?, exit_code = ?, "
                "result = ?, error = ?, output = ? WHERE id = ?",
                (
                    run.status.value,
                    _micros(run.started_at),
                    _micros(run.finished_at),
                    run.exit_code,
                    _json(run.result),
                    _json(run.error),
                    run.output,
                    run.id,
                ),
            )
            db.execute(
                "UPDATE jobs SET last_status = ?1, "
                "last_final = CASE WHEN ?2 THEN last_final ELSE ?1 END WHERE id = ?3",
                (run.status.value, retrying, run.job_id),
            )
            self._enqueue(db, followups)
        return None if previous is None else previous[0]

    def _enqueue(self, db: sqlite3.Connection, items: list[Queued]) -> list[int]:
        return [
            db.execute(
                "INSERT INTO queue (job_id, due_at, scheduled_at, attempt, reason, cause_run_id) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    i.job_id,
                    to_micros(i.due_at),
                    to_micros(i.scheduled_at),
                    i.attempt,
                    i.reason,
                    i.cause_run_id,
                ),
            ).fetchone()[0]
            for i in items
        ]

    def enqueue(self, item: Queued) -> int:
        with self._transaction() as db:
            return self._enqueue(db, [item])[0]

    def interrupt_running(self, now: datetime) -> list[Run]:
        error = _json(
            {
                "type": "Interrupted",
                "message": "yamlcron stopped during this run",
                "traceback": None,
            }
        )
        with self._transaction() as db:
            rows = db.execute(
                f"UPDATE runs SET status = 'interrupted', finished_at = ?, error = ? "
                f"WHERE status = 'running' RETURNING {_RUN_COLUMNS}",
                (to_micros(now), error),
            ).fetchall()
            for row in rows:
                db.execute("UPDATE jobs SET last_status = 'interrupted' WHERE id = ?", (row[1],))
        return [_run_from_row(r) for r in rows]

    def runs(
        self, job_id: str | None = None, limit: int = 50, scheduled_at: datetime | None = None
    ) -> list[Run]:
        clauses: list[str] = []
        args: list[object] = []
        if job_id is not None:
            clauses.append("job_id = ?")
            args.append(job_id)
        if scheduled_at is not None:
            clauses.append("scheduled_at = ?")
            args.append(to_micros(scheduled_at))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs {where} ORDER BY id DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [_run_from_row(r) for r in rows]

    def run(self, run_id: int) -> Run | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
        return None if row is None else _run_from_row(row)

    def pending(self, job_id: str, scheduled_at: datetime) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM queue WHERE job_id = ? AND scheduled_at = ?",
                (job_id, to_micros(scheduled_at)),
            ).fetchone()
        return row is not None

    def prune(self, job_id: str, keep: int) -> int:
        with self._transaction() as db:
            return db.execute(
                "DELETE FROM runs WHERE job_id = ?1 AND status != 'running' AND id < ("
                "SELECT MIN(id) FROM (SELECT id FROM runs WHERE job_id = ?1 "
                "ORDER BY id DESC LIMIT ?2))",
                (job_id, keep),
            ).rowcount

    def set_paused(self, job_id: str, paused: bool | None, next_run_at: datetime | None) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET paused_override = ?, next_run_at = ? WHERE id = ?",
                (None if paused is None else int(paused), _micros(next_run_at), job_id),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
            if self._signals is not None:
                self._signals.close()


def _make_folder(folder: Path) -> None:
    """Create the store's folder; a ``.yamlcron`` folder gets a ``.gitignore`` of ``*``."""
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if folder.name == ".yamlcron" and not ignore.exists():
        ignore.write_text("# yamlcron's state: never commit it\n*\n", encoding="utf-8")


_RUN_COLUMNS = (
    "id, job_id, scheduled_at, attempt, status, started_at, finished_at, exit_code, result, "
    "error, output, node, cause_run_id, manifest_digest, manifest_commit"
)


def _run_from_row(row: tuple[Any, ...]) -> Run:
    (
        run_id,
        job_id,
        scheduled,
        attempt,
        status,
        started,
        finished,
        exit_code,
        result,
        error,
        output,
        node,
        cause,
        digest,
        commit,
    ) = row
    return Run(
        id=run_id,
        job_id=job_id,
        scheduled_at=from_micros(scheduled),
        attempt=attempt,
        status=RunStatus(status),
        started_at=_moment(started),
        finished_at=_moment(finished),
        exit_code=exit_code,
        result=None if result is None else json.loads(result),
        error=None if error is None else json.loads(error),
        output=output or "",
        node=node or "",
        cause_run_id=cause,
        manifest_digest=digest,
        manifest_commit=commit,
    )


def _moment(value: int | None) -> datetime | None:
    return None if value is None else from_micros(value)


def _micros(value: datetime | None) -> int | None:
    return None if value is None else to_micros(value)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=repr)
