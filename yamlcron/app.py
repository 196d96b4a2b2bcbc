"""The Python API: a manifest, its store and a scheduler, as one object.

    from yamlcron import Yamlcron

    cron = Yamlcron("jobs.yaml")          # store: .yamlcron/state.db beside it
    cron.start()                          # apply, then schedule in a background thread
    run = cron.trigger("nightly-report").result(timeout=60)
    print(run.status, run.result)
    cron.stop()

``yamlcron run`` is the same object in the foreground, with signal handling and a
watched manifest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from yamlcron import reconcile
from yamlcron.errors import PlanRefusedError, UnknownJobError, YamlcronError
from yamlcron.eventbus import EventBus
from yamlcron.events import JobEvent, ManifestEvent, ManifestEventKind
from yamlcron.manifest import load_manifest, parse_manifest, rules_digest
from yamlcron.model import Manifest, NotifySpec, Plan
from yamlcron.registry import Registry, build_registry
from yamlcron.runs import Run, Store
from yamlcron.scheduler.loop import Scheduler, final_run
from yamlcron.scheduler.parts import BusListener, Clock, Parts, utc_now
from yamlcron.schedulerconfig import DEFAULT_TTL, SchedulerConfig
from yamlcron.store import default_store_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunHandle:
    """A fire that was asked for; ``result`` waits for its final outcome (after retries)."""

    store: Store
    job_id: str
    scheduled_at: datetime

    def result(self, timeout: float | None = None, poll: float = 0.05) -> Run:
        """The final run of this fire; TimeoutError if it has not ended within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            final = final_run(self.store, self.job_id, self.scheduled_at)
            if final is not None:
                return final
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run of {self.job_id} not finished within {timeout} s")
            time.sleep(poll)


class Yamlcron:
    """A manifest, a store and a scheduler. Thread-safe."""

    def __init__(
        self,
        manifest: str | Path,
        *,
        store: str | None = None,
        registry: Registry | None = None,
        workers: int = 32,
        clock: Clock = utc_now,
        kill_grace: float = 10.0,
        text: str | None = None,
        lease_ttl: float = DEFAULT_TTL,
        node: str | None = None,
        freeze_gc: bool = False,
    ) -> None:
        """Open the store for ``manifest`` (a path; with ``text``, its content instead).

        ``node`` names this process in run history (default: host and pid); ``lease_ttl``
        is how long it may go silent before other replicas take its runs over.
        ``freeze_gc`` keeps full garbage collections short in a process that is
        yamlcron's own (``yamlcron run`` sets it; see ``yamlcron.scheduler.gcfreeze``).
        """
        self.path = Path(manifest)
        self._text = text
        self.registry = registry or build_registry()
        url = store or f"sqlite://{default_store_path(self.path)}"
        self.store = self.registry.open_store(url, create=True)
        self.clock = clock
        self.events = EventBus(self.registry)
        config = SchedulerConfig(
            workers=workers,
            kill_grace=kill_grace,
            lease_ttl=lease_ttl,
            freeze_gc=freeze_gc,
            **({"node": node} if node else {}),
        )
        listener = BusListener(self.events, lambda: self.notify)
        self.scheduler = Scheduler(
            self.store,
            self.registry,
            self.path.absolute().parent,
            config,
            Parts(clock=clock, listener=listener),
        )
        self._reload_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._unwatch_store: Callable[[], None] = lambda: None
        # Only the applied manifest's own notifiers are kept: its jobs live in the store.
        self.notify: tuple[NotifySpec, ...] = ()

    @classmethod
    def from_text(cls, text: str, folder: str | Path = ".", **options: object) -> Yamlcron:
        """A manifest given as text; ``folder`` stands for its folder (cwd, store, imports)."""
        return cls(Path(folder) / "jobs.yaml", text=text, **options)  # type: ignore[arg-type]

    def load(self) -> Manifest:
        """Read and validate the manifest (ManifestError lists every problem)."""
        components = self.registry.components
        if self._text is not None:
            return parse_manifest(self._text, self.path, components)
        return load_manifest(self.path, components)

    def apply(self, *, force: bool = False, manifest: Manifest | None = None) -> Plan:
        """Make the store match the manifest in one transaction; returns the plan applied."""
        with self._reload_lock:
            manifest = manifest or self.load()
            try:
                plan, wrote = reconcile.sync(manifest, self.store, self.clock(), force=force)
            except PlanRefusedError as exc:
                self._publish_manifest("plan_refused", manifest.notify, str(exc))
                raise
            if wrote:
                publish_apply(self.events, plan, manifest, self.clock())
            self.notify = manifest.notify
            self.scheduler.source = self.store.last_applied()
            self.scheduler.wakeup()
            return plan

    def reload(self) -> bool:
        """Apply the manifest as it is now; on any error keep the last good one running.

        A reload never forces: a plan the deletion guard refuses is reported and skipped.
        Returns True when the new manifest is applied.
        """
        try:
            plan = self.apply()
        except PlanRefusedError as exc:
            log.error("reload refused, keeping the running manifest: %s", exc)
            return False
        except YamlcronError as exc:
            lines = "; ".join(str(exc).splitlines()) + self.registry.restart_hint()
            log.error("reload failed, keeping the running manifest: %s", lines)
            self._publish_manifest("reload_failed", self.notify, lines)
            return False
        log.info("reloaded %s: %s", self.path, summary(plan))
        return True

    def _publish_manifest(
        self, kind: ManifestEventKind, notify: Sequence[NotifySpec], message: str
    ) -> None:
        event = ManifestEvent(
            kind=kind,
            path=str(self.path),
            time=self.clock(),
            message=message,
            folder=self.scheduler.folder,
        )
        self.events.publish(event, notify)

    def prepare(self, *, force: bool = False, manifest: Manifest | None = None) -> Plan:
        """What ``start`` does before the loop: lock the store, recover, apply.

        Without ``manifest``, a manifest file that is the one applied last (its bytes, git
        commit and the rules it was validated by) is not read again: the loop starts on
        the store as it is, in the time it takes to open it, however many jobs it holds.
        """
        self.store.lock_daemon()
        self.scheduler.recover()
        plan = self._resume() if manifest is None else None
        if plan is None:
            plan = self.apply(force=force, manifest=manifest)
        self._unwatch_store = self.store.watch(self.scheduler.store_changed)
        return plan

    def _resume(self) -> Plan | None:
        """The empty plan, taking the applied manifest from the store, if the file is it."""
        if self._text is not None:
            return None
        with self._reload_lock:
            rules = rules_digest(self.registry.components)
            last = reconcile.current_record(self.path, self.store, rules)
            if last is None:
                return None
            self.notify = last.notify or ()
            self.scheduler.source = last
        self.scheduler.wakeup()
        return reconcile.empty_plan(self.store)

    def run(self, *, force: bool = False) -> None:
        """Prepare, then run the loop in this thread until ``stop``."""
        self.prepare(force=force)
        self.scheduler.run_forever()

    def start(self, *, force: bool = False) -> Plan:
        """Prepare, then run the loop in a background thread (for a web app's process)."""
        plan = self.prepare(force=force)
        self._thread = threading.Thread(
            target=self.scheduler.run_forever, name="yamlcron-loop", daemon=True
        )
        self._thread.start()
        return plan

    def trigger(self, job_id: str) -> RunHandle:
        """Run ``job_id`` now; ``.result(timeout)`` waits for its outcome."""
        if not self.store.load_jobs([job_id]):
            raise UnknownJobError(f"no job '{job_id}' in the store; apply the manifest first")
        item = self.scheduler.trigger(job_id)
        return RunHandle(self.store, job_id, item.scheduled_at)

    def history(self, job_id: str | None = None, limit: int = 50) -> list[Run]:
        """Recorded runs, newest first."""
        return self.store.runs(job_id, limit=limit)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop firing, wait up to ``timeout`` for runs, stop the rest; True if none was cut."""
        finished = self.scheduler.stop(timeout)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._unwatch_store()
        self.events.close()
        self.store.close()
        return finished


def publish_apply(events: EventBus, plan: Plan, manifest: Manifest, now: datetime) -> None:
    """The events of an apply that wrote: each job added, changed, removed; the manifest.

    An apply that changed no job (it recorded a new git commit, or rules, for the same
    jobs: the start of every deploy) announces nothing, not even ``manifest.applied``.
    """
    if plan.is_empty:
        return
    for spec in plan.add:
        events.publish(JobEvent(kind="added", job_id=spec.id, time=now))
    for spec, changes in plan.change:
        paths = tuple(c.path for c in changes)
        events.publish(JobEvent(kind="changed", job_id=spec.id, time=now, changes=paths))
    for job_id in plan.remove:
        events.publish(JobEvent(kind="removed", job_id=job_id, time=now))
    applied = ManifestEvent(
        kind="applied",
        path=str(manifest.path),
        time=now,
        digest=manifest.digest,
        message=summary(plan),
        folder=manifest.path.absolute().parent,
    )
    events.publish(applied, manifest.notify)


def summary(plan: Plan) -> str:
    """``+ a ~ b - c`` (or ``no changes``) for logs."""
    parts = [f"+ {s.id}" for s in plan.add]
    parts += [f"~ {s.id}" for s, _ in plan.change]
    parts += [f"- {job_id}" for job_id in plan.remove]
    return " ".join(parts) if parts else f"no changes ({plan.unchanged} unchanged)"
