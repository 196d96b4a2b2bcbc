"""What the service does to one job: its coming fire times, pause, resume, a run now.

A part of ``Yamlcron`` (``yamlcron.app``) of its own, as its reads are (``yamlcron.reads``):
each action goes through the service's loop when it has one, else through the store, where
another process's loop (``yamlcron run``) hears it by the store's doorbell.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from yamlcron.answers import Fires, Paused, fires
from yamlcron.errors import UnknownJobError
from yamlcron.handle import RunHandle
from yamlcron.interfaces import Store
from yamlcron.interrupts import stoppable
from yamlcron.model import Manifest, NotifySpec
from yamlcron.runs import Queued
from yamlcron.storeaccess import StoreAccess

if TYPE_CHECKING:
    from yamlcron.scheduler.loop import Scheduler
    from yamlcron.scheduler.parts import Clock


class JobActions:
    """The actions of ``Yamlcron`` on one job; the attributes are the service's own."""

    _stores: StoreAccess
    _scheduler: Scheduler | None
    _looping: bool
    clock: Clock
    notify: tuple[NotifySpec, ...]

    if TYPE_CHECKING:

        @property
        def scheduler(self) -> Scheduler: ...

        def load(self) -> Manifest: ...

        def _build_scheduler(self, *, inline: bool) -> Scheduler: ...

    def next_fires(self, job_id: str, count: int = 5, after: datetime | str | None = None) -> Fires:
        """The coming fire times of ``job_id`` as the manifest declares it; writes nothing.

        ``after`` (default now) may be ISO 8601 text, read in the job's zone when it has no
        offset (ValueError when it is none). An interval without ``start`` is anchored
        where the store has it, or at ``after`` when the job was never applied.
        """
        manifest = self.load()
        spec = manifest.jobs.get(job_id)
        if spec is None:
            from yamlcron.schema import did_you_mean

            hint = did_you_mean(job_id, list(manifest.jobs))
            raise UnknownJobError(f"no job '{job_id}' in {manifest.path}{hint}")
        stored = None
        if spec.trigger.kind == "interval" and spec.trigger.start is None:
            stored = self._stores.open(create=False).load_jobs([job_id]).get(job_id)
        return fires(spec, stored, count, after, self.clock())

    def pause(self, job_id: str) -> Paused:
        """Stop firing ``job_id`` until ``resume``, whatever the manifest says."""
        return self._changed(self._stores.pause(job_id))

    def resume(self, job_id: str) -> Paused:
        """Fire ``job_id`` again from now on; fires missed while paused are not caught up."""
        return self._changed(self._stores.resume(job_id, self.clock()))

    def _changed(self, paused: Paused) -> Paused:
        """Other processes hear of the store's change by its doorbell; this loop, here."""
        if self._scheduler is not None:
            self._scheduler.store_changed()
        return paused

    def trigger(self, job_id: str, *, timeout: float | None = None) -> RunHandle:
        """Run ``job_id`` now; ``.result(timeout)`` waits for its outcome.

        Through this object's loop once started; else through the daemon that holds the
        store (``yamlcron run``); else here and now, in this thread, as the daemon would
        (retries included, announced to the same notifiers). A run made here is stopped by
        SIGINT or SIGTERM (in the main thread) or after ``timeout`` seconds: its process
        group is stopped and it is recorded ``interrupted``; the handle says what stopped it.
        A manual run starts at once, without the trigger's jitter.
        """
        store = self._stores.applied()
        self._stores.stored(job_id)
        if self._looping:
            item = self.scheduler.trigger(job_id)
            return RunHandle(store, job_id, item.scheduled_at)
        if store.daemon_alive():
            now = self.clock()
            store.enqueue(Queued(job_id=job_id, due_at=now, scheduled_at=now))
            store.ring()
            return RunHandle(store, job_id, now)
        return self._run_here(store, job_id, timeout)

    def _run_here(self, store: Store, job_id: str, timeout: float | None) -> RunHandle:
        store.lock_daemon()
        record = store.last_applied()
        self.notify = (record.notify or ()) if record is not None else ()
        scheduler = self._build_scheduler(inline=True)
        try:
            run, stopped = stoppable(lambda: scheduler.run_now(job_id), scheduler.cancel, timeout)
        finally:
            scheduler.stop(timeout=0)
        return RunHandle(store, job_id, run.scheduled_at, outcome=run, stopped=stopped)
