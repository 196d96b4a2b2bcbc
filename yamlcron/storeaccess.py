"""The service's store: where it is, opened on first use, and the errors that say where."""

from __future__ import annotations

from pathlib import Path

from yamlcron.errors import StoreError, UnknownJobError
from yamlcron.model import AppliedManifest, StoredJob
from yamlcron.registry import Registry
from yamlcron.runs import Store
from yamlcron.store import default_store_path

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
        from yamlcron.schemaerrors import did_you_mean

        # The nearest stored id, else the likely cause: a job added to the manifest, not applied.
        hint = did_you_mean(job_id, list(self.applied().load_jobs()))
        return UnknownJobError(f"no job '{job_id}' in the store{hint or NOT_APPLIED}")

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
                f"nothing was applied to the store {self.given} yet; "
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
