"""The jobs role of the SQL store: the applied jobs, their pauses and the apply record."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime

from yamlcron.canonical import canonical_json
from yamlcron.model import AppliedManifest, JobWrite, StoredJob
from yamlcron.store.codec import (
    APPLIED_COLUMNS,
    JOB_COLUMNS,
    applied_from_row,
    applied_row,
    intact,
    micros,
    stored_job_from_row,
    to_micros,
)
from yamlcron.store.sql import SQLBase


class JobsSQL(SQLBase):
    """``interfaces.JobStore`` in the shared SQL."""

    def load_jobs(self, ids: Collection[str] | None = None) -> dict[str, StoredJob]:
        with self._reading():
            if ids is None:
                rows = self._execute(f"SELECT {JOB_COLUMNS} FROM jobs").fetchall()
            else:  # in chunks of ids, not a statement per job: a reap reads them in its transaction
                rows = self._rows_in(
                    f"SELECT {JOB_COLUMNS} FROM jobs WHERE id IN ({{}})", list(dict.fromkeys(ids))
                )
        return dict(map(stored_job_from_row, rows))

    def apply(self, writes: list[JobWrite], removals: list[str], record: AppliedManifest) -> None:
        now = to_micros(record.applied_at)
        rows = [
            (
                w.spec.id,
                canonical_json(w.spec.canonical),
                w.spec.digest,
                micros(w.next_run_at),
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
                f"INSERT INTO applies ({APPLIED_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                applied_row(record),
            )

    def unreadable(self) -> list[str]:
        with self._reading():
            rows = self._execute("SELECT id, digest, spec FROM jobs").fetchall()
        return sorted(job_id for job_id, digest, text in rows if not intact(text, digest))

    def last_applied(self) -> AppliedManifest | None:
        with self._reading():
            row = self._execute(
                f"SELECT {APPLIED_COLUMNS} FROM applies ORDER BY id DESC LIMIT 1"
            ).fetchone()
        return None if row is None else applied_from_row(row)

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
                (None if paused is None else int(paused), micros(next_run_at), job_id),
            )
