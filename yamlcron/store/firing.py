"""The firing role of the SQL store: what is due, claiming fires, recording their ends.

Claims and results are fenced by leases: a claim or a result is accepted only while its
lease is live by the database's clock (``_hold_lease``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from yamlcron.errors import LeaseLostError
from yamlcron.giveway import give_way
from yamlcron.model import AppliedManifest, JobSpec
from yamlcron.runs import Claim, DueJob, Finish, Lease, NewRun, Queued, Run, RunStatus
from yamlcron.store.codec import (
    QUEUE_COLUMNS,
    error_text,
    from_micros,
    json_text,
    micros,
    moment,
    queue_row,
    to_micros,
)
from yamlcron.store.remote import mark_remote
from yamlcron.store.sql import ROWS_PER_STATEMENT, SQLBase


class _LeaseEnded(Exception):
    """A lease ended during ``finish_many``'s transaction: roll it back and write again."""


class FiringSQL(SQLBase):
    """``interfaces.FiringStore`` in the shared SQL."""

    def due(self, now: datetime, limit: int) -> list[DueJob]:
        with self._reading():
            rows = self._execute(
                "SELECT id, digest, next_run_at, anchor FROM jobs WHERE next_run_at <= ? "
                "AND (paused_override IS NULL OR paused_override = 0) "
                "ORDER BY next_run_at LIMIT ?",
                (to_micros(now), limit),
            ).fetchall()
            return self._due_jobs(rows)

    def _due_jobs(self, rows: list[Any]) -> list[DueJob]:
        """Due jobs from (id, digest, next_run_at, anchor) rows, in their order.

        The spec text is read only for jobs not parsed before: most ticks read none. Its
        own digest comes with it, in case an apply changed the job between the two reads.
        """
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
                if (spec := self._spec(job_id, digest, text)) is not None:  # None: unreadable
                    found.setdefault(upstream, []).append(spec)
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
        return moment(min((row[0] for row in (job, queued) if row), default=None))

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
                    (micros(c.next_run_at), c.job_id, to_micros(c.expected))
                    for c in taken
                    if c.expected is not None
                ],
            )
            self._executemany(
                "DELETE FROM queue WHERE id = ?", [(c.queued_id,) for c in taken if c.queued_id]
            )
            made = self._insert_runs([new for c in taken for new in c.runs], lease, digest, commit)
            remote = {
                (n.job_id, n.scheduled_at, n.attempt) for c in taken for n in c.runs if n.remote
            }
            if remote:  # their references, before anything is sent (yamlcron.remote)
                mark_remote(
                    self, [r for r in made if (r.job_id, r.scheduled_at, r.attempt) in remote]
                )
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
        for start in range(0, len(runs), ROWS_PER_STATEMENT):
            chunk = runs[start : start + ROWS_PER_STATEMENT]
            values: list[Any] = []
            for new in chunk:
                give_way()  # a claim's rows are a long stretch (yamlcron.giveway)
                final = new.status != RunStatus.RUNNING
                values += (
                    new.job_id,
                    to_micros(new.scheduled_at),
                    new.attempt,
                    new.status.value,
                    micros(new.started_at),
                    micros(new.started_at) if final else None,
                    error_text(new.error),
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
                made.append(new.written(run_id, lease.node, digest, commit))
        return made

    def _lock_rows(self, table: str, ids: list[Any], column: str = "id") -> dict[Any, Any]:
        """Lock the rows of ``ids`` that no other transaction holds; ``column`` of each.

        On SQLite the write transaction itself is exclusive, so every id that exists is ours.
        """
        return self._select_in(
            f"SELECT id, {column} FROM {table} WHERE id IN ({{}}) ORDER BY id{self.skip_locked}",
            ids,
        )

    def finish_many(self, items: list[Finish]) -> list[str | LeaseLostError | None]:
        leases = {i.lease.token: i.lease for i in items}
        refused: dict[int, LeaseLostError | None] = {}
        while True:
            try:
                with self._transaction():
                    for token, lease in leases.items():
                        if refused.get(token) is None:
                            refused[token] = self._lease_error(lease)
                    results = self._finish(items, refused)
                    # Checked again, last: a process frozen (SIGSTOP, a stalled VM) between
                    # the first check and here must not record results past its lease's
                    # end. The first check's row lock kept a reaper waiting, so nothing ran
                    # twice; this keeps every recorded_at within its lease too.
                    ended = {
                        token: error
                        for token, lease in leases.items()
                        if refused[token] is None and (error := self._lease_error(lease))
                    }
                    if not ended:
                        return results
                    refused.update(ended)
                    raise _LeaseEnded
            except _LeaseEnded:
                continue  # rolled back: written again, refusing the ended leases' results

    def _lease_error(self, lease: Lease) -> LeaseLostError | None:
        """Inside a transaction: why ``lease`` may not write (``_hold_lease``), None if it may."""
        try:
            self._hold_lease(lease)
        except LeaseLostError as exc:
            return exc
        return None

    def _finish(
        self, items: list[Finish], refused: dict[int, LeaseLostError | None]
    ) -> list[str | LeaseLostError | None]:
        """Inside a transaction: record the ends of ``items`` whose lease is not ``refused``."""
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
            give_way()  # a batch of ends is a long stretch (yamlcron.giveway)
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
        # for a run that ended as the last one did dominated the recorder's time
        # (bench/README.md, "Measured in the store").
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
                    micros(i.run.started_at),
                    micros(i.run.finished_at),
                    i.run.exit_code,
                    json_text(i.run.result),
                    error_text(i.run.error),
                    i.run.output,
                    i.run.id,
                    i.lease.token,
                )
                for i in ended
            ],
        )
        self._executemany(
            f"INSERT INTO queue ({QUEUE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            [queue_row(q) for i in ended for q in i.followups],
        )
        for job_id, keep in {i.run.job_id: i.keep for i in ended if i.keep}.items():
            self._prune(job_id, keep)

    def _enqueue(self, items: list[Queued]) -> list[int]:
        return [
            self._execute(
                f"INSERT INTO queue ({QUEUE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                queue_row(i),
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

    def _prune(self, job_id: str, keep: int) -> int:
        return int(
            self._execute(
                "DELETE FROM runs WHERE job_id = ? AND status != 'running' AND id < ("
                "SELECT MIN(id) FROM (SELECT id FROM runs WHERE job_id = ? "
                "ORDER BY id DESC LIMIT ?) AS newest)",
                (job_id, job_id, keep),
            ).rowcount
        )
