"""The hot statements of the PostgreSQL store: a claim in one statement, batches as JSON.

The shared SQL (``yamlcron.store.firing``) claims in several statements, each a round trip,
and writes a batch as a multi-row ``VALUES`` list or one statement per row. On PostgreSQL
each round trip is a wait on the server with the connection's lock held, and a statement
of more than 50 parameters is parsed again by psycopg in Python on every call. So here:

* a claim is one statement (data-modifying CTEs): the lease check under a share lock, the
  job rows moved with ``FOR UPDATE SKIP LOCKED`` and a compare-and-set on ``next_run_at``,
  the queued fires taken, and the run rows inserted for the claims that won, in one round
  trip and one implicit transaction. A claim that also writes a final run (missed,
  skipped) updates its job's ``last_status`` after it in the same explicit transaction;
* every batch is one JSON document (``json_array_elements``): one statement text whatever
  the batch size, which psycopg converts and prepares once and the server plans once; and
  the rows are encoded (``json.dumps``) and decoded in C, where psycopg would dump a list
  parameter to an array element by element in Python.

What a claim guarantees is the shared one's (``interfaces.FiringStore.claim``): a fire is
written once whatever the timing, by the lease that was live when it was written.

Replicas share the due jobs out (``_share``): each reads the jobs whose id hashes to its
place among the live leases, and the others' once they are ``SLACK`` late, while it keeps
up with its own. Without that every replica read, decided and tried to claim every due
job, and all but one lost each race: three replicas did three times the work of one for
the same fires. The share is a preference, never a fence: the claim alone decides who runs
a fire, so a replica that died, or a view of the replicas a second old, makes fires later
by ``SLACK``, never lost or doubled.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any

from yamlcron.errors import LeaseLostError
from yamlcron.model import AppliedManifest
from yamlcron.runs import Claim, DueJob, Finish, Lease, Run, RunStatus
from yamlcron.store.codec import error_text, json_text, micros, moment, to_micros
from yamlcron.store.remote import mark_remote
from yamlcron.store.sql import Cursor
from yamlcron.store.sqlstore import SQLStore

#: The store's clock in microseconds (as ``PostgresStore.now_sql``).
NOW = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT"

#: A claim: every data-modifying part waits on ``lease`` (live, held FOR SHARE until the
#: statement ends, so a reaper that takes the row FOR UPDATE is serialised with it).
#: Each claim has a number; a run row carries its claim's and is written only if that
#: claim won (its job row moved, its queued fire taken). The first column of every row
#: says whether the lease was live; with no run written there is one row of NULLs. The
#: rows come as JSON arrays (``_claim_params``): encoded and decoded in C on both sides,
#: where psycopg dumps a Python list to an array parameter element by element in Python.
CLAIM = f"""WITH lease AS (
    SELECT token FROM nodes
    WHERE token = %(token)s AND reaped_at IS NULL AND expires_at > {NOW}
    FOR SHARE
), moves AS MATERIALIZED (
    SELECT (v->>0)::bigint AS n, v->>1 AS job_id, (v->>2)::bigint AS expected,
           (v->>3)::bigint AS next_at
    FROM json_array_elements(%(moves)s::json) AS v
), locked AS MATERIALIZED (
    -- The rows no other replica is claiming, as they are now; ours until the statement ends.
    SELECT id, next_run_at FROM jobs
    WHERE id IN (SELECT job_id FROM moves) AND EXISTS (SELECT FROM lease)
    ORDER BY id FOR UPDATE SKIP LOCKED
), moved AS (
    UPDATE jobs SET next_run_at = m.next_at FROM locked, moves AS m
    WHERE jobs.id = locked.id AND m.job_id = locked.id AND m.expected = locked.next_run_at
    RETURNING jobs.id
), dequeued AS (
    DELETE FROM queue USING (
        SELECT id FROM queue
        WHERE id = ANY(%(queued)s::bigint[]) AND EXISTS (SELECT FROM lease)
        ORDER BY id FOR UPDATE SKIP LOCKED) AS held
    WHERE queue.id = held.id
    RETURNING queue.id
), taken AS (
    SELECT (v->>0)::bigint AS n FROM json_array_elements(%(claims)s::json) AS v
    WHERE EXISTS (SELECT FROM lease)
      AND (NOT (v->>1)::boolean
           OR (v->>0)::bigint IN (SELECT m.n FROM moves AS m JOIN moved ON moved.id = m.job_id))
      AND (v->>2 IS NULL OR (v->>2)::bigint IN (SELECT id FROM dequeued))
), made AS (
    INSERT INTO runs (job_id, scheduled_at, attempt, status, started_at, finished_at, error,
                      node, lease, cause_run_id, manifest_digest, manifest_commit)
    SELECT r.v->>1, (r.v->>2)::bigint, (r.v->>3)::integer, r.v->>4, (r.v->>5)::bigint,
           CASE WHEN r.v->>4 = 'running' THEN NULL ELSE (r.v->>5)::bigint END, r.v->>6,
           %(node)s, %(token)s, (r.v->>7)::bigint, %(digest)s, %(commit)s
    FROM json_array_elements(%(runs)s::json) WITH ORDINALITY AS r(v, n)
    WHERE (r.v->>0)::bigint IN (SELECT n FROM taken)
    ORDER BY r.n
    ON CONFLICT (job_id, scheduled_at, attempt) DO NOTHING
    RETURNING id, job_id, scheduled_at, attempt
)
SELECT EXISTS (SELECT FROM lease), made.id, made.job_id, made.scheduled_at, made.attempt
FROM (SELECT 1) AS one LEFT JOIN made ON true
"""

#: The final runs a claim wrote set their job's last status (as the shared claim does).
LAST_STATUS = (
    "UPDATE jobs SET last_status = s.status "
    "FROM unnest(%s::text[], %s::text[]) AS s(id, status) WHERE jobs.id = s.id"
)

#: Runs' outcomes, only where the run is still ``running`` under the lease that claimed it.
RECORD = f"""UPDATE runs SET status = u.v->>2, started_at = (u.v->>3)::bigint,
       finished_at = (u.v->>4)::bigint, exit_code = (u.v->>5)::integer, result = u.v->>6,
       error = u.v->>7, output = u.v->>8, recorded_at = {NOW}
FROM json_array_elements(%s::json) AS u(v)
WHERE runs.id = (u.v->>0)::bigint AND runs.lease = (u.v->>1)::bigint
  AND runs.status = 'running'
"""

#: Each job's history trimmed to its newest ``keep`` runs (those under way are kept).
PRUNE = """DELETE FROM runs USING
    (SELECT v->>0 AS job_id, (v->>1)::integer AS keep
     FROM json_array_elements(%s::json) AS v) AS k,
    LATERAL (SELECT id FROM runs AS newest WHERE newest.job_id = k.job_id
             ORDER BY id DESC OFFSET k.keep - 1 LIMIT 1) AS edge
WHERE runs.job_id = k.job_id AND runs.status != 'running' AND runs.id < edge.id
"""

#: How late another replica's share of the due jobs is before this one takes it too: long
#: enough that a live owner has claimed its fires (it claims them ahead of their time), far
#: below any misfire grace worth setting.
SLACK = timedelta(milliseconds=250)
#: How long the list of live replicas is kept before it is read again.
SHARES_AGE = 1.0
#: Whose share a job is: its id's hash modulo the live replicas, as an SQL condition.
_MINE = "mod(hashtext(id) & 2147483647, %(count)s) = %(place)s"
_DUE = (
    "SELECT id, digest, next_run_at, anchor FROM jobs WHERE next_run_at <= %(now)s "
    "AND (paused_override IS NULL OR paused_override = 0) "
    f"AND {_MINE} ORDER BY next_run_at LIMIT %(limit)s"
)
#: The others' due jobs this replica takes too: those ``SLACK`` late.
_LATE = (
    "SELECT id, digest, next_run_at, anchor FROM jobs WHERE next_run_at <= %(late)s "
    "AND (paused_override IS NULL OR paused_override = 0) "
    f"AND NOT {_MINE} ORDER BY next_run_at LIMIT %(limit)s"
)
#: The first fire time of this replica's share, and of the others' plus ``SLACK``.
_WAKE = (
    "SELECT min(at) FROM ("
    "(SELECT next_run_at AS at FROM jobs WHERE next_run_at IS NOT NULL "
    f"AND (paused_override IS NULL OR paused_override = 0) AND {_MINE} "
    "ORDER BY next_run_at LIMIT 1) UNION ALL "
    "(SELECT next_run_at + %(slack)s FROM jobs WHERE next_run_at IS NOT NULL "
    "AND (paused_override IS NULL OR paused_override = 0) ORDER BY next_run_at LIMIT 1) "
    "UNION ALL (SELECT due_at FROM queue ORDER BY due_at LIMIT 1)) AS firsts"
)


class PostgresFiring(SQLStore):
    """The shared SQL store with PostgreSQL's claim, outcome writes and id lists."""

    def __init__(self) -> None:
        super().__init__()
        self._token: int | None = None  # this process's lease, once it joined
        self._shares: tuple[float, int, int] = (0.0, 0, 1)  # read at, place, count

    def _execute(self, sql: str, params: Any = ()) -> Cursor:
        """Also with named parameters (``%(name)s``) and a dict: the dialect's."""
        raise NotImplementedError

    def join(self, node: str, ttl: float) -> Lease:
        lease = super().join(node, ttl)
        self._token, self._shares = lease.token, (0.0, 0, 1)
        return lease

    def _share(self) -> tuple[int, int]:
        """This replica's place among the live ones and their count; (0, 1) when alone."""
        read_at, place, count = self._shares
        if self._token is None or time.monotonic() - read_at < SHARES_AGE:
            return place, count
        tokens = [
            row[0]
            for row in self._execute(
                f"SELECT token FROM nodes WHERE reaped_at IS NULL AND expires_at > {NOW} "
                "ORDER BY token"
            ).fetchall()
        ]
        place, count = (tokens.index(self._token), len(tokens)) if self._token in tokens else (0, 1)
        self._shares = (time.monotonic(), place, count)
        return place, count

    def due(self, now: datetime, limit: int) -> list[DueJob]:
        with self._reading():
            place, count = self._share()
            late = to_micros(now - SLACK)
            share = {"now": to_micros(now), "late": late, "count": count, "place": place}
            rows = self._execute(_DUE, {**share, "limit": limit}).fetchall()
            # The others' late jobs only while this replica keeps up with its own: when all
            # fall behind (too many fires for them), taking each other's jobs only adds
            # races, and each replica falls further behind.
            if count > 1 and len(rows) < limit and (not rows or rows[0][2] > late):
                rows += self._execute(_LATE, {**share, "limit": limit - len(rows)}).fetchall()
            return self._due_jobs(rows)

    def next_wakeup(self) -> datetime | None:
        with self._reading():
            place, count = self._share()
            slack = SLACK // timedelta(microseconds=1)
            row = self._execute(_WAKE, {"count": count, "place": place, "slack": slack}).fetchone()
        return moment(row[0] if row else None)

    def claim(self, claims: list[Claim], lease: Lease, source: AppliedManifest | None) -> list[Run]:
        params = _claim_params(claims, lease, source)
        finals = any(new.status != RunStatus.RUNNING for c in claims for new in c.runs)
        remote = {(n.job_id, n.scheduled_at, n.attempt) for c in claims for n in c.runs if n.remote}
        if not finals and not remote:  # one statement: its own transaction, one round trip
            with self._reading():
                rows = self._execute(CLAIM, params).fetchall()
            return _made(claims, lease, source, rows)
        with self._transaction():
            rows = self._execute(CLAIM, params).fetchall()
            made = _made(claims, lease, source, rows)
            # Remote runs get their references before anything is sent (yamlcron.remote).
            mark_remote(self, [r for r in made if (r.job_id, r.scheduled_at, r.attempt) in remote])
            final = [(r.job_id, r.status.value) for r in made if r.status != RunStatus.RUNNING]
            if final:
                ids, statuses = zip(*final, strict=True)
                self._execute(LAST_STATUS, (list(ids), list(statuses)))
        return made

    def _record_ends(self, ended: list[Finish]) -> None:
        if ended:
            rows = [
                (
                    i.run.id,
                    i.lease.token,
                    i.run.status.value,
                    micros(i.run.started_at),
                    micros(i.run.finished_at),
                    i.run.exit_code,
                    json_text(i.run.result),
                    error_text(i.run.error),
                    i.run.output,
                )
                for i in ended
            ]
            self._execute(RECORD, (json.dumps(rows),))
        followups = [q for i in ended for q in i.followups]
        if followups:
            self._enqueue(followups)
        keep = {i.run.job_id: i.keep for i in ended if i.keep}
        if keep:
            self._execute(PRUNE, (json.dumps(list(keep.items())),))

    def _rows_in(self, sql: str, ids: list[Any]) -> list[Any]:
        """The rows of ``sql`` (with ``IN ({})``) for ``ids``, as one array parameter."""
        if not ids:
            return []
        # As JSON (see CLAIM); the elements typed as the ids are, numbers or text.
        elements = "SELECT json_array_elements_text(?::json)"
        if isinstance(ids[0], int):
            elements = "SELECT json_array_elements_text(?::json)::bigint"
        return self._execute(
            sql.replace("IN ({})", f"IN ({elements})"), (json.dumps(ids),)
        ).fetchall()


def _claim_params(claims: list[Claim], lease: Lease, source: AppliedManifest | None) -> Any:
    """The parameters of ``CLAIM``: its rows as JSON arrays, claims numbered from 1."""
    moves: list[tuple[Any, ...]] = []
    listed: list[tuple[Any, ...]] = []
    runs: list[tuple[Any, ...]] = []
    for n, c in enumerate(claims, 1):
        if c.expected is not None:
            moves.append((n, c.job_id, to_micros(c.expected), micros(c.next_run_at)))
        listed.append((n, c.expected is not None, c.queued_id))
        runs += [
            (
                n,
                new.job_id,
                to_micros(new.scheduled_at),
                new.attempt,
                new.status.value,
                micros(new.started_at),
                error_text(new.error),
                new.cause_run_id,
            )
            for new in c.runs
        ]
    return {
        "token": lease.token,
        "node": lease.node,
        "digest": source.digest if source else None,
        "commit": source.commit if source else None,
        "moves": json.dumps(moves),
        "queued": [c.queued_id for c in claims if c.queued_id],
        "claims": json.dumps(listed),
        "runs": json.dumps(runs),
    }


def _made(
    claims: list[Claim], lease: Lease, source: AppliedManifest | None, rows: list[Any]
) -> list[Run]:
    """The runs ``CLAIM`` wrote, in the claims' order; LeaseLostError if the lease was not live."""
    if not rows or not rows[0][0]:
        raise LeaseLostError(
            f"the lease of {lease.node} (token {lease.token}) expired and was taken over"
        )
    ids = {(job_id, at, attempt): run_id for _, run_id, job_id, at, attempt in rows if run_id}
    digest, commit = (source.digest, source.commit) if source else (None, None)
    made: list[Run] = []
    for claim in claims:
        for new in claim.runs:
            run_id = ids.get((new.job_id, to_micros(new.scheduled_at), new.attempt))
            if run_id is None:
                continue  # this fire was claimed before, or its claim lost
            made.append(new.written(run_id, lease.node, digest, commit))
    return made
