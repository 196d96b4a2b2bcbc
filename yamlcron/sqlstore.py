"""The SQL job store, written once for every dialect (SQLite here, PostgreSQL in a plugin).

Only JSON goes in, never pickle: a job row holds its canonical spec (``model.JobSpec``),
that spec's digest and its runtime state. Instants are integers, microseconds since the
Unix epoch in UTC: exact (so ``UNIQUE (job_id, scheduled_at, attempt)`` on runs really
claims one fire once), indexable and the same in every dialect.

Statements use ``?`` placeholders and the SQL that SQLite and PostgreSQL share; a dialect
subclass supplies the connection, its schema scripts, how a transaction begins, the
store's clock as an SQL expression and its row locks (none on SQLite, whose write
transactions are serial anyway).

Leases (the ``nodes`` table) are how schedulers take part: every claimed run carries its
scheduler's token, and a claim or a result is accepted only while that lease is live by
the database's clock, checked under a share lock on the lease row so that the reaper,
which takes the row for update, and the owner can never both win.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

from yamlcron.errors import LeaseLostError, StoreError
from yamlcron.model import AppliedManifest, JobSpec, JobWrite, StoredJob
from yamlcron.runs import Claim, DueJob, Lease, Queued, Replica, Run, RunStatus

SCHEMA_VERSION = 2
#: Parsed specs kept by (id, digest); the loop re-reads the same due jobs all day.
_SPEC_CACHE = 50_000


class Cursor(Protocol):
    """What both drivers' cursors offer."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class SQLStore:
    """A ``runs.Store`` over one connection shared by the threads of one process.

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
        self._specs: dict[tuple[str, str], JobSpec] = {}

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
                self._execute("ROLLBACK")
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
            detail = " ".join(str(exc).split())
            raise StoreError(f"the store {self.name}: {detail}") from None

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

    # -- jobs and applies ----------------------------------------------------------------

    def load_jobs(self, ids: Collection[str] | None = None) -> dict[str, StoredJob]:
        columns = "id, digest, spec, next_run_at, anchor, paused_override, last_status"
        with self._reading():
            if ids is None:
                rows = self._execute(f"SELECT {columns} FROM jobs").fetchall()
            else:
                rows = [
                    row
                    for job_id in dict.fromkeys(ids)
                    for row in self._execute(
                        f"SELECT {columns} FROM jobs WHERE id = ?", (job_id,)
                    ).fetchall()
                ]
        return {
            job_id: StoredJob(
                # Not through the cache: listing every job must not keep every job in memory.
                spec=JobSpec.from_canonical(job_id, json.loads(spec)),
                next_run_at=_moment(next_at),
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
                _micros(w.next_run_at),
                now,
                now,
                now,
                w.spec.trigger.after,
                w.reschedule,
            )
            for w in writes
        ]
        with self._transaction():
            self._executemany(
                "INSERT INTO jobs (id, spec, digest, next_run_at, anchor, created_at, "
                "updated_at, upstream) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET spec = excluded.spec, "
                "upstream = excluded.upstream, "
                "digest = excluded.digest, updated_at = excluded.updated_at, "
                "next_run_at = CASE WHEN ? THEN excluded.next_run_at "
                "ELSE jobs.next_run_at END",
                rows,
            )
            self._executemany("DELETE FROM jobs WHERE id = ?", [(r,) for r in removals])
            self._execute(
                "INSERT INTO applies (digest, path, applied_at, commit_id, rules) "
                "VALUES (?, ?, ?, ?, ?)",
                (record.digest, record.path, now, record.commit, record.rules),
            )

    def last_applied(self) -> AppliedManifest | None:
        with self._reading():
            row = self._execute(
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
        with self._reading():
            count = self._execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
            rows = self._execute(
                "SELECT id, paused_override, spec FROM jobs WHERE paused_override IS NOT NULL"
            ).fetchall()
        drift = {
            job_id: bool(paused)
            for job_id, paused, spec in rows
            if bool(paused) != bool(json.loads(spec).get("paused", False))
        }
        return int(count), drift

    def set_paused(self, job_id: str, paused: bool | None, next_run_at: datetime | None) -> None:
        with self._transaction():
            self._execute(
                "UPDATE jobs SET paused_override = ?, next_run_at = ? WHERE id = ?",
                (None if paused is None else int(paused), _micros(next_run_at), job_id),
            )

    # -- what is due -----------------------------------------------------------------------

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
        with self._reading():
            rows = self._execute(
                "SELECT id, digest, spec, next_run_at, anchor FROM jobs WHERE next_run_at <= ? "
                "AND (paused_override IS NULL OR paused_override = 0) "
                "ORDER BY next_run_at LIMIT ?",
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
        with self._reading():
            rows = self._execute(
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
        with self._reading():
            rows = self._execute(
                "SELECT id, digest, spec FROM jobs WHERE upstream = ?", (job_id,)
            ).fetchall()
            return [self._spec(i, d, t) for i, d, t in rows]

    def next_wakeup(self) -> datetime | None:
        with self._reading():
            row = self._execute(
                "SELECT MIN(t) FROM (SELECT MIN(next_run_at) AS t FROM jobs WHERE "
                "paused_override IS NULL OR paused_override = 0 "
                "UNION ALL SELECT MIN(due_at) AS t FROM queue) AS wakeups"
            ).fetchone()
        return _moment(row[0])

    def running(self) -> dict[str, int]:
        with self._reading():
            rows = self._execute(
                "SELECT job_id, COUNT(*) FROM runs WHERE status = 'running' GROUP BY job_id"
            ).fetchall()
        return {job_id: int(count) for job_id, count in rows}

    # -- claiming and finishing --------------------------------------------------------------

    def _hold_lease(self, lease: Lease) -> None:
        """Inside a transaction: fail unless ``lease`` is live, and keep it so until commit."""
        row = self._execute(
            f"SELECT 1 FROM nodes WHERE token = ? AND reaped_at IS NULL "
            f"AND expires_at > {self.now_sql}{self.share_lock}",
            (lease.token,),
        ).fetchone()
        if row is None:
            raise LeaseLostError(
                f"the lease of {lease.node} (token {lease.token}) expired and was taken over"
            )

    def claim(self, claims: list[Claim], lease: Lease, source: AppliedManifest | None) -> list[Run]:
        made: list[Run] = []
        digest, commit = (source.digest, source.commit) if source else (None, None)
        with self._transaction():
            self._hold_lease(lease)
            mine = self._lock_rows("jobs", [c.job_id for c in claims if c.expected is not None])
            queued = self._lock_rows("queue", [c.queued_id for c in claims if c.queued_id])
            for claim in claims:
                if claim.expected is not None:
                    if claim.job_id not in mine:
                        continue  # another replica is claiming this job right now
                    moved = self._execute(
                        "UPDATE jobs SET next_run_at = ? WHERE id = ? AND next_run_at = ?",
                        (_micros(claim.next_run_at), claim.job_id, to_micros(claim.expected)),
                    ).rowcount
                    if not moved:
                        continue
                if claim.queued_id is not None:
                    if claim.queued_id not in queued:
                        continue
                    taken = self._execute("DELETE FROM queue WHERE id = ?", (claim.queued_id,))
                    if not taken.rowcount:
                        continue
                for new in claim.runs:
                    final = new.status != RunStatus.RUNNING
                    row = self._execute(
                        "INSERT INTO runs (job_id, scheduled_at, attempt, status, started_at, "
                        "finished_at, error, node, lease, cause_run_id, manifest_digest, "
                        "manifest_commit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (job_id, scheduled_at, attempt) DO NOTHING RETURNING id",
                        (
                            new.job_id,
                            to_micros(new.scheduled_at),
                            new.attempt,
                            new.status.value,
                            _micros(new.started_at),
                            _micros(new.started_at) if final else None,
                            _json(new.error),
                            lease.node,
                            lease.token,
                            new.cause_run_id,
                            digest,
                            commit,
                        ),
                    ).fetchone()
                    if row is None:
                        continue  # this fire was claimed before: never run it twice
                    if final:
                        self._execute(
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
                            node=lease.node,
                            cause_run_id=new.cause_run_id,
                            manifest_digest=digest,
                            manifest_commit=commit,
                        )
                    )
        return made

    def _lock_rows(self, table: str, ids: list[Any]) -> set[Any]:
        """Lock the rows of ``ids`` that no other transaction holds; return those ids.

        On SQLite the write transaction itself is exclusive, so every id that exists is ours.
        """
        found: set[Any] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self._execute(
                f"SELECT id FROM {table} WHERE id IN ({marks}) ORDER BY id{self.skip_locked}",
                chunk,
            ).fetchall()
            found.update(r[0] for r in rows)
        return found

    def finish(self, run: Run, followups: list[Queued], lease: Lease) -> str | None:
        [result] = self.finish_many([(run, followups, lease)])
        if isinstance(result, LeaseLostError):
            raise result
        return result

    def finish_many(
        self, items: list[tuple[Run, list[Queued], Lease]]
    ) -> list[str | LeaseLostError | None]:
        results: list[str | LeaseLostError | None] = []
        with self._transaction():
            leases: dict[int, LeaseLostError | None] = {}
            for run, followups, lease in items:
                if lease.token not in leases:
                    try:
                        self._hold_lease(lease)
                        leases[lease.token] = None
                    except LeaseLostError as exc:
                        leases[lease.token] = exc
                refused = leases[lease.token]
                results.append(refused or self._finish(run, followups, lease))
        return results

    def _finish(
        self, run: Run, followups: list[Queued], lease: Lease
    ) -> str | LeaseLostError | None:
        """Inside a transaction, under ``lease``: record one run's end."""
        retrying = any(f.job_id == run.job_id and f.reason == "retry" for f in followups)
        written = self._execute(
            f"UPDATE runs SET status = ?, started_at = ?, finished_at = ?, exit_code = ?, "
            f"result = ?, error = ?, output = ?, recorded_at = {self.now_sql} "
            f"WHERE id = ? AND lease = ? AND status = 'running'",
            (
                run.status.value,
                _micros(run.started_at),
                _micros(run.finished_at),
                run.exit_code,
                _json(run.result),
                _json(run.error),
                run.output,
                run.id,
                lease.token,
            ),
        ).rowcount
        if not written:
            return LeaseLostError(f"run {run.id} of {run.job_id} was taken over")
        previous = self._execute(
            "SELECT last_final FROM jobs WHERE id = ?", (run.job_id,)
        ).fetchone()
        self._execute(
            "UPDATE jobs SET last_status = ?, "
            "last_final = CASE WHEN ? THEN last_final ELSE ? END WHERE id = ?",
            (run.status.value, retrying, run.status.value, run.job_id),
        )
        self._enqueue(followups)
        return None if previous is None or previous[0] is None else str(previous[0])

    def _enqueue(self, items: list[Queued]) -> list[int]:
        return [
            self._execute(
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
        with self._transaction():
            return self._enqueue([item])[0]

    def pending(self, job_id: str, scheduled_at: datetime) -> bool:
        with self._reading():
            row = self._execute(
                "SELECT 1 FROM queue WHERE job_id = ? AND scheduled_at = ?",
                (job_id, to_micros(scheduled_at)),
            ).fetchone()
        return row is not None

    # -- leases ------------------------------------------------------------------------------

    def join(self, node: str, ttl: float) -> Lease:
        with self._transaction():
            token = self._execute(
                f"INSERT INTO nodes (name, started_at, heartbeat_at, expires_at) "
                f"SELECT ?, t, t, t + ? FROM (SELECT {self.now_sql} AS t) AS clock "
                f"RETURNING token",
                (node, int(ttl * 1_000_000)),
            ).fetchone()[0]
        return Lease(token=int(token), node=node, ttl=ttl)

    def renew(self, lease: Lease) -> bool:
        with self._transaction():
            return bool(
                self._execute(
                    f"UPDATE nodes SET heartbeat_at = clock.t, expires_at = clock.t + ? "
                    f"FROM (SELECT {self.now_sql} AS t) AS clock "
                    f"WHERE token = ? AND reaped_at IS NULL AND expires_at > clock.t",
                    (int(lease.ttl * 1_000_000), lease.token),
                ).rowcount
            )

    def leave(self, lease: Lease) -> None:
        with self._transaction():
            self._execute(
                f"UPDATE nodes SET expires_at = {self.now_sql} WHERE token = ? "
                f"AND reaped_at IS NULL",
                (lease.token,),
            )

    def reap(self, now: datetime) -> list[Run]:
        error = _json(
            {
                "type": "Interrupted",
                "message": "the scheduler running it stopped or lost its lease",
                "traceback": None,
            }
        )
        with self._transaction():
            tokens = [
                row[0]
                for row in self._execute(
                    f"SELECT token FROM nodes WHERE reaped_at IS NULL "
                    f"AND expires_at <= {self.now_sql} ORDER BY token{self.skip_locked}"
                ).fetchall()
            ]
            interrupt = (
                f"UPDATE runs SET status = 'interrupted', finished_at = ?, error = ?, "
                f"recorded_at = {self.now_sql} WHERE status = 'running' AND "
            )
            # Runs without a lease come from a store written before leases existed.
            rows: list[Any] = self._execute(
                f"{interrupt}lease IS NULL RETURNING {_RUN_COLUMNS}", (to_micros(now), error)
            ).fetchall()
            for token in tokens:
                self._execute(
                    f"UPDATE nodes SET reaped_at = {self.now_sql} WHERE token = ?", (token,)
                )
                rows += self._execute(
                    f"{interrupt}lease = ? RETURNING {_RUN_COLUMNS}", (to_micros(now), error, token)
                ).fetchall()
            for row in rows:
                self._execute("UPDATE jobs SET last_status = 'interrupted' WHERE id = ?", (row[1],))
        return sorted((_run_from_row(r) for r in rows), key=lambda r: r.id)

    def replicas(self) -> list[Replica]:
        with self._reading():
            rows = self._execute(
                f"SELECT token, name, started_at, heartbeat_at, expires_at FROM nodes "
                f"WHERE reaped_at IS NULL AND expires_at > {self.now_sql} ORDER BY token"
            ).fetchall()
            running = self._execute(
                "SELECT lease, job_id FROM runs WHERE status = 'running' ORDER BY job_id"
            ).fetchall()
        jobs: dict[int, list[str]] = {}
        for token, job_id in running:
            jobs.setdefault(token, []).append(job_id)
        return [
            Replica(
                token=token,
                node=node,
                started_at=from_micros(started),
                heartbeat_at=from_micros(beat),
                expires_at=from_micros(expires),
                running=tuple(jobs.get(token, ())),
            )
            for token, node, started, beat, expires in rows
        ]

    # -- history -----------------------------------------------------------------------------

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
        with self._reading():
            rows = self._execute(
                f"SELECT {_RUN_COLUMNS} FROM runs {where} ORDER BY id DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [_run_from_row(r) for r in rows]

    def run(self, run_id: int) -> Run | None:
        with self._reading():
            row = self._execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
        return None if row is None else _run_from_row(row)

    def prune(self, job_id: str, keep: int) -> int:
        with self._transaction():
            return self._execute(
                "DELETE FROM runs WHERE job_id = ? AND status != 'running' AND id < ("
                "SELECT MIN(id) FROM (SELECT id FROM runs WHERE job_id = ? "
                "ORDER BY id DESC LIMIT ?) AS newest)",
                (job_id, job_id, keep),
            ).rowcount

    # -- the rest of the protocol: overridden where a dialect has the means ------------------

    def lock_daemon(self) -> None:
        """Nothing to lock where several schedulers may share the store."""

    def daemon_alive(self) -> bool:
        return bool(self.replicas())

    def ring(self) -> None:
        """No doorbell by default: a scheduler wakes at its next fire time."""

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        return lambda: None

    def close(self) -> None:
        raise NotImplementedError


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(moment: datetime) -> int:
    """An aware datetime as microseconds since the epoch."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    """Microseconds since the epoch as an aware UTC datetime."""
    return datetime.fromtimestamp(value // 1_000_000, UTC).replace(microsecond=value % 1_000_000)


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
