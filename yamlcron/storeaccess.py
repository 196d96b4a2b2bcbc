"""The service's store: where it is, opened on first use, and the work done on it alone."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, tzinfo
from pathlib import Path

from yamlcron.answers import Paused
from yamlcron.errors import StoreError, UnknownJobError
from yamlcron.interfaces import Store
from yamlcron.model import AppliedManifest, StoredJob
from yamlcron.redact import redact_url
from yamlcron.registry import Registry
from yamlcron.runs import Run
from yamlcron.store.sqlite import default_store_path

#: The likely cause of an unknown job with no near name: added to the manifest, not applied.
NOT_APPLIED = "; run 'yamlcron apply' first"


class StoreAccess:
    """The store of one manifest, opened once, on first use, as little as it needs.

    Opened without ``create`` a missing SQLite file reads as an empty store and nothing
    is written: ``plan`` wants that, and a reader must not leave a store behind.
    """

    def __init__(self, registry: Registry, manifest: Path, url: str | None) -> None:
        self.registry = registry
        self.manifest = manifest
        self.given = url
        self.url = url or f"sqlite://{default_store_path(manifest)}"
        self._store: Store | None = None
        self._writable = False

    def open(self, *, create: bool) -> Store:
        """The store; with ``create``, made and migrated if it has to be."""
        if self._store is not None and (self._writable or not create):
            return self._store
        if self._store is not None:
            # Something was applied to it: it exists at the current schema and takes writes.
            if self._store.last_applied() is not None:
                self._writable = True
                return self._store
            self._store.close()
        self._store = self.registry.open_store(self.url, create=create)
        self._writable = create
        return self._store

    def applied(self) -> Store:
        """The store, which something must have been applied to (StoreError says where)."""
        store = self.open(create=False)
        if store.last_applied() is None:
            raise StoreError(self._nothing_applied())
        return store

    def for_manifest(self) -> Store:
        """The store ``plan``, ``apply`` and ``run`` reconcile the manifest with, unwritten.

        Two manifests in one folder would share the default store, and applying one would
        remove the other's jobs: without a store URL a default store that another manifest
        file of that folder was applied to is refused, naming it.
        """
        store = self.open(create=False)
        record: AppliedManifest | None = None if self.given else store.last_applied()
        if record is not None and Path(record.path).name != self.manifest.name:
            owner, name = Path(record.path).name, self.manifest.name
            raise StoreError(
                f"{self._default()} beside {self.manifest} holds the jobs of "
                f"{owner}, which applying {name} would remove; pass --store URL: a store of "
                f"its own, or this one if {name} replaces {owner}"
            )
        return store

    def stored(self, job_id: str) -> StoredJob:
        """The stored job ``job_id``; UnknownJobError names the nearest stored one."""
        store = self.applied()
        job = store.load_jobs([job_id]).get(job_id)
        if job is None:
            raise self.unknown_job(job_id)
        return job

    def unknown_job(self, job_id: str) -> UnknownJobError:
        """The error for a job id the store does not hold, with the nearest one it does."""
        from yamlcron.schema import did_you_mean

        # The nearest stored id, else the likely cause: a job added to the manifest, not applied.
        hint = did_you_mean(job_id, list(self.applied().load_jobs()))
        return UnknownJobError(f"no job '{job_id}' in the store{hint or NOT_APPLIED}")

    def jobs(self) -> list[StoredJob]:
        """The stored jobs, by id."""
        stored = self.applied().load_jobs()
        return [stored[job_id] for job_id in sorted(stored)]

    def zones(self, job_ids: Collection[str]) -> dict[str, tzinfo]:
        """The time zone of each of these jobs that is still stored."""
        from yamlcron.triggers import zone

        jobs = self.applied().load_jobs(job_ids)
        return {job_id: zone(job.spec.trigger.timezone) for job_id, job in jobs.items()}

    def history(
        self,
        job_id: str | None,
        limit: int,
        statuses: tuple[str, ...],
        since: datetime | None,
        run_id: int | None,
    ) -> list[Run]:
        """Recorded runs, newest first, or the run ``run_id`` (of ``job_id``, if given)."""
        store = self.applied()
        if run_id is not None:
            run = store.run(run_id)
            if run is None or (job_id is not None and run.job_id != job_id):
                of = "" if job_id is None else f" of job '{job_id}'"
                raise UnknownJobError(f"no run {run_id}{of} in the store; see 'yamlcron history'")
            return [run]
        # A job with history is known even when it was removed (its history is kept).
        if job_id is not None and not (store.load_jobs([job_id]) or store.runs(job_id, limit=1)):
            raise self.unknown_job(job_id)
        return store.runs(job_id, limit=limit, statuses=statuses, since=since)

    def pause(self, job_id: str) -> Paused:
        """Set the runtime override: the job keeps its next fire time, for ``resume``."""
        job = self.stored(job_id)
        self._set_paused(job_id, True, job.next_run_at)
        return Paused(job.spec, job.next_run_at)

    def resume(self, job_id: str, now: datetime) -> Paused:
        """Fire again from ``now``, without catching up."""
        from yamlcron.reconcile import first_fire

        job = self.stored(job_id)
        following = first_fire(job.spec, now, job.anchor)
        # Back to what the manifest says, unless the manifest itself pauses the job.
        self._set_paused(job_id, False if job.spec.paused else None, following)
        return Paused(job.spec, following)

    def _set_paused(self, job_id: str, paused: bool | None, following: datetime | None) -> None:
        store = self.applied()
        store.set_paused(job_id, paused, following)
        store.ring()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def _default(self) -> Path:
        """The default store's path as its manifest's folder sees it (``.yamlcron/state.db``)."""
        return default_store_path(self.manifest).relative_to(self.manifest.absolute().parent)

    def _nothing_applied(self) -> str:
        """Where the store was looked for, and what to do about it, in one line."""
        if self.given is not None:
            return (
                f"nothing was applied to the store {redact_url(self.given)} yet; "
                "run 'yamlcron apply --store URL' first"
            )
        if not self.manifest.exists():
            return (
                f"no manifest {self.manifest}, so no store beside it; "
                "pass -f FILE or run in the manifest's folder"
            )
        return (
            f"no store at {self._default()} beside {self.manifest}; "
            f"run 'yamlcron apply -f {self.manifest}' first"
        )
