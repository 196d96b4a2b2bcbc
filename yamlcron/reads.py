"""What the service reads from its store: jobs, runs, replicas, the applied manifest.

A part of ``Yamlcron`` (``yamlcron.app``) of its own: everything here is a read through
the service's ``StoreAccess``, opened on first use, and none of it needs the manifest.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, tzinfo

from yamlcron.model import AppliedManifest, StoredJob
from yamlcron.runs import Replica, Run
from yamlcron.storeaccess import StoreAccess


class StoreReads:
    """The reads of ``Yamlcron``; ``_stores`` is the service's store."""

    _stores: StoreAccess

    def jobs(self) -> list[StoredJob]:
        """The stored jobs, by id."""
        return self._stores.jobs()

    def job(self, job_id: str) -> StoredJob:
        """The stored job ``job_id``; UnknownJobError names the nearest stored id."""
        return self._stores.stored(job_id)

    def zones(self, job_ids: Collection[str]) -> dict[str, tzinfo]:
        """The time zone of each of these jobs that is still stored (a removed one has none)."""
        return self._stores.zones(job_ids)

    def history(
        self,
        job_id: str | None = None,
        limit: int = 50,
        *,
        statuses: Collection[str] = (),
        since: datetime | None = None,
        run_id: int | None = None,
    ) -> list[Run]:
        """Recorded runs, newest first; ``run_id``: that run alone (of ``job_id``, if given).

        Filters: ``job_id`` (default all), ``statuses`` (any), scheduled ``since`` (ever),
        at most ``limit``. A removed job is known by its history (which is kept);
        UnknownJobError otherwise.
        """
        return self._stores.history(job_id, limit, tuple(statuses), since, run_id)

    def jobs_by_id(self) -> dict[str, StoredJob]:
        """The stored jobs by id, unordered; a spec is parsed only when read (filter by id)."""
        return self._stores.applied().load_jobs()

    def recent_runs(
        self,
        job_ids: Collection[str],
        per_job: int,
        *,
        before: int | None = None,
        statuses: Collection[str] = (),
    ) -> dict[str, list[Run]]:
        """The newest runs of each of these jobs, without output, result or error: for pages.

        See ``interfaces.HistoryStore.recent_runs``; ``before`` a run id (the next page).
        """
        return self._stores.applied().recent_runs(
            job_ids, per_job, before=before, statuses=statuses
        )

    def applied(self) -> AppliedManifest | None:
        """The record of the manifest the store holds: digest, commit, path, when applied."""
        return self._stores.applied().last_applied()

    def replicas(self) -> list[Replica]:
        """The live ``yamlcron run`` replicas of the store."""
        return self._stores.applied().replicas()
