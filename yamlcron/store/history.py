"""The history role of the SQL store: the recorded runs."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from yamlcron.runs import Run
from yamlcron.store.codec import RUN_COLUMNS, run_from_row, to_micros
from yamlcron.store.sql import SQLBase


class HistorySQL(SQLBase):
    """``interfaces.HistoryStore`` in the shared SQL."""

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
                f"SELECT {RUN_COLUMNS} FROM runs {where} ORDER BY id DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [run_from_row(r) for r in rows]

    def run(self, run_id: int) -> Run | None:
        with self._reading():
            row = self._execute(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
        return None if row is None else run_from_row(row)

    # -- the process groups of runs (``yamlcron.warden``) -----------------------------------

    def mark_process(self, run_id: int, pgid: int, identity: str) -> None:
        """Record the process group that run ``run_id`` leads, while it is running."""
        with self._transaction():
            self._execute(
                "UPDATE runs SET process_group = ?, process_identity = ? "
                "WHERE id = ? AND status = 'running'",
                (pgid, identity, run_id),
            )

    def process_groups(self, run_ids: Collection[int]) -> list[tuple[int, str]]:
        """The process groups recorded for ``run_ids``: (group id, identity)."""
        with self._reading():
            rows = self._rows_in(
                "SELECT id, process_group, process_identity FROM runs "
                "WHERE process_group IS NOT NULL AND id IN ({})",
                list(run_ids),
            )
        return [(int(pgid), identity) for _, pgid, identity in rows]
