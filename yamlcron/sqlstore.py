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
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from yamlcron.canonical import canonical_json, job_from_json, notify_from_json, notify_to_json
from yamlcron.errors import LeaseLostError, StoreError
from yamlcron.model import AppliedManifest, JobSpec, JobWrite, StoredJob
from yamlcron.runs import Claim, DueJob, Finish, Lease, NewRun, Queued, Replica, Run, RunStatus

SCHEMA_VERSION = 3
#: Parsed specs kept by (id, digest); the loop re-reads the same due jobs all day.
_SPEC_CACHE = 50_000
#: Rows per multi-row statement: 12 parameters a row stays far below both drivers' limits.
_ROWS_PER_STATEMENT = 500


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
                digest=digest,
                # Not through the cache: listing every job must not keep every job in memory.
                read_spec=partial(_parse_spec, job_id, spec, digest),
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
                canonical_json(w.spec.canonical),
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
            notify = None if record.notify is None else [notify_to_json(n) for n in record.notify]
            self._execute(
                "INSERT INTO applies (digest, path, applied_at, commit_id, rules, notify) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.digest,
                    record.path,
                    now,
                    record.commit,
                    record.rules,
                    None if notify is None else json.dumps(notify),
                ),
            )

    def last_applied(self) -> AppliedManifest | None:
        with self._reading():
            row = self._execute(
                "SELECT digest, path, applied_at, commit_id, rules, notify FROM applies "
                "ORDER BY id DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        notify = None if row[5] is None else json.loads(row[5])
        return AppliedManifest(
            digest=row[0],
            path=row[1],
            applied_at=from_micros(row[2]),
            commit=row[3],
            rules=row[4],
            notify=None if notify is None else tuple(map(notify_from_json, notify)),
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
            spec = _parse_spec(job_id, text, digest)
            if len(self._specs) >= _SPEC_CACHE:
                self._specs.pop(next(iter(self._specs)))
            self._specs[key] = spec
        return spec

    def due(self, now: datetime, limit: int) -> list[DueJob]:
        with self._reading():
            rows = self._execute(
                "SELECT id, digest, next_run_at, anchor FROM jobs WHERE next_run_at <= ? "
                "AND (paused_override IS NULL OR paused_override = 0) "
                "ORDER BY next_run_at LIMIT ?",
                (to_micros(now), limit),
            ).fetchall()
            # The spec text only for jobs not parsed before: most ticks read none. Its own
            # digest comes with it, in case an apply changed the job between the two reads.
            specs = {job_id: self._specs.get((job_id, digest)) for job_id, digest, _, _ in rows}
            unread = [job_id for job_id, spec in specs.items() if spec is None]
            for job_id, digest, text in self._rows_in(
                "SELECT id, digest, spec FROM jobs WHERE id IN ({})", unread
            ):
                specs[job_id] = self._spec(job_id, digest, text)
            return [
                DueJob(spec=spec, next_run_at=from_micros(next_at), anchor=from_micros(anchor))
                for job_id, _, next_at, anchor in rows
                if (spec := specs[job_id]) is not None  # None: removed since the first read
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

    def steps(self) -> dict[str, list[JobSpec]]:
        with self._reading():
            rows = self._execute(
                "SELECT upstream, id, digest, spec FROM jobs WHERE upstream IS NOT NULL ORDER BY id"
            ).fetchall()
            found: dict[str, list[JobSpec]] = {}
            for upstream, job_id, digest, text in rows:
                found.setdefault(upstream, []).append(self._spec(job_id, digest, text))
            return found

    def next_wakeup(self) -> datetime | None:
        # Each the first row of its index in order: MIN() under a WHERE read every job.
        with self._reading():
            job = self._execute(
                "SELECT next_run_at FROM jobs WHERE next_run_at IS NOT NULL "
                "AND (paused_override IS NULL OR paused_override = 0) "
                "ORDER BY next_run_at LIMIT 1"
            ).fetchone()
            queued = self._execute("SELECT due_at FROM queue ORDER BY due_at LIMIT 1").fetchone()
        return _moment(min((row[0] for row in (job, queued) if row), default=None))

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
        # Set-based: a tick of a thousand fires is a handful of statements, not thousands.
        digest, commit = (source.digest, source.commit) if source else (None, None)
        with self._transaction():
            self._hold_lease(lease)
            # The fire times as they are now, of the rows no other replica is claiming.
            held = self._lock_rows(
                "jobs", [c.job_id for c in claims if c.expected is not None], "next_run_at"
            )
            queued = self._lock_rows("queue", [c.queued_id for c in claims if c.queued_id])
            taken = [
                c
                for c in claims
                if (c.expected is None or held.get(c.job_id, -1) == to_micros(c.expected))
                and (c.queued_id is None or c.queued_id in queued)
            ]
            self._executemany(
                "UPDATE jobs SET next_run_at = ? WHERE id = ? AND next_run_at = ?",
                [
                    (_micros(c.next_run_at), c.job_id, to_micros(c.expected))
                    for c in taken
                    if c.expected is not None
                ],
            )
            self._executemany(
                "DELETE FROM queue WHERE id = ?", [(c.queued_id,) for c in taken if c.queued_id]
            )
            made = self._insert_runs([new for c in taken for new in c.runs], lease, digest, commit)
            self._executemany(
                "UPDATE jobs SET last_status = ? WHERE id = ?",
                [(r.status.value, r.job_id) for r in made if r.status != RunStatus.RUNNING],
            )
        return made

    def _insert_runs(
        self, runs: list[NewRun], lease: Lease, digest: str | None, commit: str | None
    ) -> list[Run]:
        """Write run rows, skipping fires claimed before (never run one twice)."""
        made: list[Run] = []
        for start in range(0, len(runs), _ROWS_PER_STATEMENT):
            chunk = runs[start : start + _ROWS_PER_STATEMENT]
            values: list[Any] = []
            for new in chunk:
                final = new.status != RunStatus.RUNNING
                values += (
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
                )
            marks = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
            rows = self._execute(
                "INSERT INTO runs (job_id, scheduled_at, attempt, status, started_at, "
                "finished_at, error, node, lease, cause_run_id, manifest_digest, "
                f"manifest_commit) VALUES {marks} "
                "ON CONFLICT (job_id, scheduled_at, attempt) DO NOTHING "
                "RETURNING id, job_id, scheduled_at, attempt",
                values,
            ).fetchall()
            ids = {(job_id, at, attempt): run_id for run_id, job_id, at, attempt in rows}
            for new in chunk:
                run_id = ids.get((new.job_id, to_micros(new.scheduled_at), new.attempt))
                if run_id is None:
                    continue  # this fire was claimed before
                final = new.status != RunStatus.RUNNING
                made.append(
                    Run(
                        id=run_id,
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

    def _lock_rows(self, table: str, ids: list[Any], column: str = "id") -> dict[Any, Any]:
        """Lock the rows of ``ids`` that no other transaction holds; ``column`` of each.

        On SQLite the write transaction itself is exclusive, so every id that exists is ours.
        """
        return self._select_in(
            f"SELECT id, {column} FROM {table} WHERE id IN ({{}}) ORDER BY id{self.skip_locked}",
            ids,
        )

    def finish(self, run: Run, followups: list[Queued], lease: Lease) -> str | None:
        [result] = self.finish_many([Finish(run=run, followups=tuple(followups), lease=lease)])
        if isinstance(result, LeaseLostError):
            raise result
        return result

    def finish_many(self, items: list[Finish]) -> list[str | LeaseLostError | None]:
        with self._transaction():
            refused: dict[int, LeaseLostError | None] = {}
            for token, lease in {i.lease.token: i.lease for i in items}.items():
                try:
                    self._hold_lease(lease)
                    refused[token] = None
                except LeaseLostError as exc:
                    refused[token] = exc
            # Only runs still ``running`` under the lease that claimed them are ours to end.
            owners = self._select_in(
                "SELECT id, lease FROM runs WHERE status = 'running' AND id IN ({})",
                [i.run.id for i in items if refused[i.lease.token] is None],
            )
            # Each job's (last_status, last_final), as read and as the batch leaves it.
            read = {
                job_id: (status, final)
                for job_id, status, final in self._rows_in(
                    "SELECT id, last_status, last_final FROM jobs WHERE id IN ({})",
                    list({i.run.job_id for i in items}),
                )
            }
            last = dict(read)
            results: list[str | LeaseLostError | None] = []
            ended: list[Finish] = []
            for item in items:
                run = item.run
                if refused[item.lease.token] is not None:
                    results.append(refused[item.lease.token])
                elif owners.get(run.id) != item.lease.token:
                    results.append(LeaseLostError(f"run {run.id} of {run.job_id} was taken over"))
                else:
                    state = last.get(run.job_id)  # None: the job was removed since
                    previous = state[1] if state else None
                    results.append(None if previous is None else str(previous))
                    if state:
                        status = run.status.value
                        last[run.job_id] = (status, previous if item.retrying else status)
                    ended.append(item)
            self._record_ends(ended)
            # Only the jobs whose status changed: rewriting a job's row (its spec with it)
            # for a run that ended as the last one did was a third of the recorder's time.
            self._executemany(
                "UPDATE jobs SET last_status = ?, last_final = ? WHERE id = ?",
                [(*state, job_id) for job_id, state in last.items() if state != read[job_id]],
            )
        return results

    def _record_ends(self, ended: list[Finish]) -> None:
        """Inside a transaction: write the outcomes of runs known to be ours."""
        self._executemany(
            f"UPDATE runs SET status = ?, started_at = ?, finished_at = ?, exit_code = ?, "
            f"result = ?, error = ?, output = ?, recorded_at = {self.now_sql} "
            f"WHERE id = ? AND lease = ? AND status = 'running'",
            [
                (
                    i.run.status.value,
                    _micros(i.run.started_at),
                    _micros(i.run.finished_at),
                    i.run.exit_code,
                    _json(i.run.result),
                    _json(i.run.error),
                    i.run.output,
                    i.run.id,
                    i.lease.token,
                )
                for i in ended
            ],
        )
        self._executemany(
            "INSERT INTO queue (job_id, due_at, scheduled_at, attempt, reason, cause_run_id) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [_queue_row(q) for i in ended for q in i.followups],
        )
        for job_id, keep in {i.run.job_id: i.keep for i in ended if i.keep}.items():
            self._prune(job_id, keep)

    def _rows_in(self, sql: str, ids: list[Any]) -> list[Any]:
        """The rows of ``sql`` (with ``{}`` for a list of ids), asked in chunks."""
        rows: list[Any] = []
        for start in range(0, len(ids), _ROWS_PER_STATEMENT):
            chunk = ids[start : start + _ROWS_PER_STATEMENT]
            rows += self._execute(sql.format(", ".join("?" * len(chunk))), chunk).fetchall()
        return rows

    def _select_in(self, sql: str, ids: list[Any]) -> dict[Any, Any]:
        """Two-column rows of ``sql`` (with ``{}`` for a list of ids) as a dict."""
        return dict(self._rows_in(sql, ids))

    def _enqueue(self, items: list[Queued]) -> list[int]:
        return [
            self._execute(
                "INSERT INTO queue (job_id, due_at, scheduled_at, attempt, reason, cause_run_id) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                _queue_row(i),
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
        return self._join(node, ttl)

    def _join(self, node: str, ttl: float | None) -> Lease:
        """A new lease; a held one (``ttl`` None) expires at the end of time."""
        life = _HELD if ttl is None else f"t + {int(ttl * 1_000_000)}"
        with self._transaction():
            token = self._execute(
                f"INSERT INTO nodes (name, started_at, heartbeat_at, expires_at) "
                f"SELECT ?, t, t, {life} FROM (SELECT {self.now_sql} AS t) AS clock "
                f"RETURNING token",
                (node,),
            ).fetchone()[0]
        return Lease(token=int(token), node=node, ttl=ttl)

    def renew(self, lease: Lease) -> bool:
        if lease.ttl is None:  # held: nothing to extend, only whether it still stands
            with self._reading():
                return bool(
                    self._execute(
                        "SELECT 1 FROM nodes WHERE token = ? AND reaped_at IS NULL "
                        f"AND expires_at = {_HELD}",
                        (lease.token,),
                    ).fetchone()
                )
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
                expires_at=None if expires == _HELD else from_micros(expires),
                running=tuple(jobs.get(token, ())),
            )
            for token, node, started, beat, expires in rows
        ]

    # -- history -----------------------------------------------------------------------------

    def runs(
        self,
        job_id: str | None = None,
        limit: int = 50,
        scheduled_at: datetime | None = None,
        *,
        statuses: Collection[str] = (),
        since: datetime | None = None,
    ) -> list[Run]:
        clauses: list[str] = []
        args: list[object] = []
        if job_id is not None:
            clauses.append("job_id = ?")
            args.append(job_id)
        if scheduled_at is not None:
            clauses.append("scheduled_at = ?")
            args.append(to_micros(scheduled_at))
        if statuses:
            clauses.append(f"status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        if since is not None:
            clauses.append("scheduled_at >= ?")
            args.append(to_micros(since))
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
            return self._prune(job_id, keep)

    def _prune(self, job_id: str, keep: int) -> int:
        return int(
            self._execute(
                "DELETE FROM runs WHERE job_id = ? AND status != 'running' AND id < ("
                "SELECT MIN(id) FROM (SELECT id FROM runs WHERE job_id = ? "
                "ORDER BY id DESC LIMIT ?) AS newest)",
                (job_id, job_id, keep),
            ).rowcount
        )

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
#: ``nodes.expires_at`` of a held lease (``Lease.ttl`` None): the largest BIGINT.
_HELD = 2**63 - 1


def to_micros(moment: datetime) -> int:
    """An aware datetime as microseconds since the epoch."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    """Microseconds since the epoch as an aware UTC datetime."""
    # Exact, and half the time of fromtimestamp + replace: a claimed fire reads several.
    return _EPOCH + timedelta(microseconds=value)


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


def _parse_spec(job_id: str, text: str, digest: str) -> JobSpec:
    return job_from_json(job_id, json.loads(text), digest)


def _queue_row(item: Queued) -> tuple[Any, ...]:
    return (
        item.job_id,
        to_micros(item.due_at),
        to_micros(item.scheduled_at),
        item.attempt,
        item.reason,
        item.cause_run_id,
    )


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=repr)
