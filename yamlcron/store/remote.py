"""The remote-runs role of the SQL store: references, sends and adoption (``yamlcron.remote``).

A remote run's reference is written in the claim's own transaction (``mark_remote``, called
by ``claim``), so a crash between the claim and the send leaves a run that the next
scheduler recognises, adopts and sends. ``remote_sent`` tells one that reached its engine.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from yamlcron.remote import Adopted, reference
from yamlcron.runs import Lease, Run
from yamlcron.store.codec import RUN_COLUMNS, run_from_row
from yamlcron.store.sql import SQLBase


def mark_remote(sql: SQLBase, runs: list[Run]) -> None:
    """Inside the claim's transaction: give each new remote run its reference."""
    if not runs:
        return
    row = sql._execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
    identity = uuid.uuid4().hex if row is None else str(row[0])
    if row is None:  # a claim before anyone asked store_identity: made in this transaction
        sql._execute("INSERT INTO meta (key, value) VALUES ('store_id', ?)", (identity,))
    sql._executemany(
        "UPDATE runs SET remote = ? WHERE id = ?",
        [(reference(identity, r.job_id, r.scheduled_at, r.attempt), r.id) for r in runs],
    )


class RemoteSQL(SQLBase):
    """``remote.RemoteStore`` in the shared SQL."""

    _store_id: str | None = None

    def store_identity(self) -> str:
        if self._store_id is None:
            with self._transaction():
                self._execute(
                    "INSERT INTO meta (key, value) VALUES ('store_id', ?) "
                    "ON CONFLICT (key) DO NOTHING",
                    (uuid.uuid4().hex,),
                )
                row = self._execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
            self._store_id = str(row[0])
        return self._store_id

    def mark_sent(self, run_ids: Collection[int]) -> None:
        if not run_ids:
            return
        with self._transaction():
            self._executemany(
                "UPDATE runs SET remote_sent = 1 WHERE id = ?", [(i,) for i in sorted(run_ids)]
            )

    def adopt_remote(self, lease: Lease) -> list[Adopted]:
        with self._transaction():
            rows: list[Any] = self._execute(
                "UPDATE runs SET lease = ?, node = ? WHERE status = 'running' "
                "AND remote IS NOT NULL AND (lease IS NULL OR lease IN "
                "(SELECT token FROM nodes WHERE reaped_at IS NOT NULL)) "
                f"RETURNING {RUN_COLUMNS}, remote, remote_sent",
                (lease.token, lease.node),
            ).fetchall()
        adopted = [
            Adopted(run=run_from_row(row[:-2]), reference=str(row[-2]), sent=bool(row[-1]))
            for row in rows
        ]
        return sorted(adopted, key=lambda a: a.run.id)
