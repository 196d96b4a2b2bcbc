"""The leases role of the SQL store: how schedulers join, renew, leave and are reaped.

Every claimed run carries its scheduler's token; the reaper takes an expired lease's row
for update while its owner holds it with a share lock, so the two can never both win.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from yamlcron.runs import Lease, Queued, Replica, Run, RunError
from yamlcron.store.codec import (
    QUEUE_COLUMNS,
    RUN_COLUMNS,
    error_text,
    from_micros,
    queue_row,
    run_from_row,
    to_micros,
)
from yamlcron.store.sql import SQLBase

#: ``nodes.expires_at`` of a held lease (``Lease.ttl`` None): the largest BIGINT.
_HELD = 2**63 - 1


class LeasesSQL(SQLBase):
    """``interfaces.LeaseStore`` in the shared SQL."""

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

    def reap(
        self, now: datetime, followups: Callable[[list[Run]], list[Queued]] | None = None
    ) -> list[Run]:
        error = error_text(
            RunError(
                type="Interrupted", message="the scheduler running it stopped or lost its lease"
            )
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
                f"recorded_at = {self.now_sql} WHERE status = 'running' AND remote IS NULL AND "
            )
            # Runs without a lease come from a store written before leases existed.
            rows: list[Any] = self._execute(
                f"{interrupt}lease IS NULL RETURNING {RUN_COLUMNS}", (to_micros(now), error)
            ).fetchall()
            for token in tokens:
                self._execute(
                    f"UPDATE nodes SET reaped_at = {self.now_sql} WHERE token = ?", (token,)
                )
                rows += self._execute(
                    f"{interrupt}lease = ? RETURNING {RUN_COLUMNS}", (to_micros(now), error, token)
                ).fetchall()
            for row in rows:
                self._execute("UPDATE jobs SET last_status = 'interrupted' WHERE id = ?", (row[1],))
            reaped = sorted((run_from_row(r) for r in rows), key=lambda r: r.id)
            # Their retries with them: a reaper cut off between the two would leave runs
            # interrupted that nobody ever retries.
            queued = followups(reaped) if followups is not None and reaped else []
            self._executemany(
                f"INSERT INTO queue ({QUEUE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                [queue_row(q) for q in queued],
            )
        return reaped

    def claimed(self, lease: Lease) -> list[Run]:
        with self._reading():
            rows = self._execute(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE lease = ? AND status = 'running' "
                "ORDER BY id",
                (lease.token,),
            ).fetchall()
        return [run_from_row(r) for r in rows]

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

    # -- the rest of the protocol: overridden where a dialect has the means ------------------

    def lock_daemon(self) -> None:
        """Nothing to lock where several schedulers may share the store."""

    def daemon_alive(self) -> bool:
        return bool(self.replicas())
