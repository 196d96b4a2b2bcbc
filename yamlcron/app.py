"""The Python API and the one service: a manifest, its store and a scheduler, as one object.

    from yamlcron import Yamlcron

    cron = Yamlcron("jobs.yaml")          # store: .yamlcron/state.db beside it
    cron.start()                          # apply, then schedule in a background thread
    run = cron.trigger("nightly-report").result(timeout=60)
    print(run.status, run.result)
    cron.stop()

Every ``yamlcron`` command is one call of this object (``yamlcron run`` is ``run`` in the
foreground, with signal handling and a watched manifest); the CLI only parses and prints.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from yamlcron.actions import JobActions
from yamlcron.answers import summary
from yamlcron.errors import PlanRefusedError, YamlcronError
from yamlcron.interfaces import Store
from yamlcron.model import Manifest, NotifySpec, Plan
from yamlcron.reads import StoreReads
from yamlcron.registry import Registry, build_registry
from yamlcron.schedulerconfig import DEFAULT_TTL, SchedulerConfig, default_node
from yamlcron.standby import Standby, after_fork, inherit
from yamlcron.storeaccess import StoreAccess

# The manifest's reader (YAML, the schema check) is loaded by what reads a manifest:
# ``yamlcron jobs`` or ``history`` pays for the store alone.
# So are the scheduler and the event bus, with their threads and pools, by what uses them.
if TYPE_CHECKING:
    from yamlcron.applier import Applier, Source
    from yamlcron.eventbus import EventBus
    from yamlcron.heartbeat import HeartbeatSpec
    from yamlcron.http.options import HttpOptions
    from yamlcron.http.server import HttpServer
    from yamlcron.scheduler.loop import Scheduler
    from yamlcron.scheduler.parts import Clock

#: The wall clock in UTC, as the scheduler's (named here so that readers need no scheduler).
REAL_CLOCK = partial(datetime.now, UTC)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReloadError:
    """A reload that kept the running manifest: when, and why (every problem, located)."""

    at: datetime
    message: str


class Yamlcron(StoreReads, JobActions):
    """A manifest, a store and a scheduler: everything the command line does. Thread-safe.

    The store is opened on first use, and only the scheduler's work takes the daemon lock:
    an object that lists jobs or history changes nothing. With ``create=False`` it never
    creates nor migrates the store either, and what needs an applied store (``jobs``,
    ``history``, ``trigger``, ``pause``...) says where it looked, in one line. Close it
    (``close``, ``stop`` or ``with``) when done.
    """

    def __init__(
        self,
        manifest: str | Path,
        *,
        store: str | None = None,
        registry: Registry | None = None,
        workers: int = 32,
        clock: Clock = REAL_CLOCK,
        kill_grace: float = 10.0,
        text: str | None = None,
        lease_ttl: float = DEFAULT_TTL,
        node: str | None = None,
        freeze_gc: bool = False,
        create: bool = True,
        http: HttpOptions | None = None,
    ) -> None:
        """The service for ``manifest`` (a path; with ``text``, its content instead).

        ``store`` is a store URL (default: ``.yamlcron/state.db`` beside the manifest).
        ``node`` names this process in run history (default: host and pid); ``lease_ttl``
        is how long it may go silent before other replicas take its runs over.
        ``freeze_gc`` keeps full garbage collections short in a process that is
        yamlcron's own (``yamlcron run`` sets it; see ``yamlcron.scheduler.gcfreeze``). ``create``
        False opens an existing store only (for reading, pausing, a manual run). ``http``:
        serve health, metrics and the API (``yamlcron.http``) while the loop runs.
        """
        self.path = Path(manifest)
        self.registry = registry or build_registry()
        self._stores = StoreAccess(self.registry, self.path, store)
        self.clock = clock
        self._events: EventBus | None = None
        self._text = text
        self._manifest: Applier | None = None
        self._create = create
        self.config = SchedulerConfig(
            workers=workers,
            kill_grace=kill_grace,
            lease_ttl=lease_ttl,
            freeze_gc=freeze_gc,
            **({"node": node} if node else {}),
        )
        self._scheduler: Scheduler | None = None
        self._looping = False
        self._reload_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._unwatch_store: Callable[[], None] = lambda: None
        # Only the applied manifest's own notifiers are kept: its jobs live in the store.
        self.notify: tuple[NotifySpec, ...] = ()
        #: Why the last reload kept the running manifest; None once a reload succeeds.
        self.reload_error: ReloadError | None = None
        self.http_options = http
        self.http: HttpServer | None = None
        self._standby: Standby[Plan] | None = None
        self._own_node = node is None
        # A worker forked from this process (gunicorn's --preload) starts afresh: ``_forked``.
        after_fork(self, Yamlcron._forked)

    @classmethod
    def from_text(cls, text: str, folder: str | Path = ".", **options: object) -> Yamlcron:
        """A manifest given as text; ``folder`` stands for its folder (cwd, store, imports)."""
        return cls(Path(folder) / "jobs.yaml", text=text, **options)  # type: ignore[arg-type]

    def __enter__(self) -> Yamlcron:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop what ``start`` started (waiting for runs, as ``stop``), else just close."""
        if self._standby is not None:
            self.stop()
        else:
            self.close()

    @property
    def store(self) -> Store:
        """The store, opened on first use (and, unless ``create`` is False, made)."""
        return self._stores.open(create=self._create)

    def _writing_store(self) -> Store:
        return self._stores.open(create=True) if self._create else self._stores.applied()

    @property
    def events(self) -> EventBus:
        """Where run, job and manifest events go: listeners and notifiers, built on first use."""
        if self._events is None:
            from yamlcron.eventbus import EventBus

            self._events = EventBus(self.registry)
        return self._events

    @property
    def _applier(self) -> Applier:
        if self._manifest is None:
            from yamlcron.applier import Applier

            self._manifest = Applier(
                self.path, self._text, self.registry, self._stores, self.events, self.clock
            )
        return self._manifest

    @property
    def scheduler(self) -> Scheduler:
        """The scheduler of this object's loop, built on first use."""
        if self._scheduler is None:
            self._scheduler = self._build_scheduler(inline=False)
        return self._scheduler

    def _build_scheduler(self, *, inline: bool) -> Scheduler:
        """The one place a scheduler is built: the loop's, or a manual run's.

        ``inline``: a manual run without a daemon, executed and recorded on the calling
        thread (no worker pool, no recorder thread). Its runs are heard by the event bus,
        with the manifest's own notifiers as they are when each run is announced.
        """
        from yamlcron.scheduler.groupcommit import GroupCommit, InlineCommit
        from yamlcron.scheduler.loop import Scheduler
        from yamlcron.scheduler.parts import BusListener, Parts, RunListener
        from yamlcron.scheduler.pool import InlinePool

        listener: RunListener = BusListener(self.events, lambda: self.notify)
        if self.http is not None and not inline:  # /metrics counts the loop's runs
            listener = self.http.metrics.counting(listener)
        parts = Parts(
            clock=self.clock,
            listener=listener,
            pool=InlinePool() if inline else None,
            commit=InlineCommit if inline else GroupCommit,
        )
        return Scheduler(
            self._writing_store(), self.registry, self.path.absolute().parent, self.config, parts
        )

    def load(self) -> Manifest:
        """Read and validate the manifest (ManifestError lists every problem)."""
        return self._applier.load()

    validate = load

    def plan(self, *, force: bool = False, show: Callable[[Plan], None] | None = None) -> Plan:
        """What ``apply`` would change; writes nothing. ``show`` sees it before the guard.

        A store that does not exist yet plans against an empty one. PlanRefusedError when
        the deletion guard refuses the plan (unless ``force``).
        """
        return self._applier.plan(force=force, show=show)

    def apply(
        self,
        *,
        force: bool = False,
        manifest: Manifest | None = None,
        show: Callable[[Plan], None] | None = None,
    ) -> Plan:
        """Make the store match the manifest in one transaction; returns the plan applied.

        The manifest is validated before the store is created: bad input changes nothing.
        The manifest applied last (its bytes, git commit and the rules it was validated
        by) is not read again: its plan is empty. ``show`` sees the plan before the
        deletion guard decides (PlanRefusedError).
        """
        with self._reload_lock:
            return self._apply(manifest or self._applier.source(), force=force, show=show)

    def _apply(self, source: Source, *, force: bool, show: Callable[[Plan], None] | None) -> Plan:
        applied = self._applier.apply(source, self._writing_store, force=force, show=show)
        self.notify = applied.notify
        if self._scheduler is not None:
            self._scheduler.source = applied.record
            self._scheduler.wakeup()
        return applied.plan

    def reload(self) -> bool:
        """Apply the manifest as it is now; on any error keep the last good one running.

        A reload never forces: a plan the deletion guard refuses is reported and skipped.
        Returns True when the new manifest is applied.
        """
        try:
            plan = self.apply()
        except PlanRefusedError as exc:
            log.error("reload refused, keeping the running manifest: %s", exc)
            self.reload_error = ReloadError(self.clock(), str(exc))
            return False
        except YamlcronError as exc:
            lines = "; ".join(str(exc).splitlines()) + self.registry.restart_hint()
            log.error("reload failed, keeping the running manifest: %s", lines)
            self.reload_error = ReloadError(self.clock(), str(exc))
            self._applier.publish("reload_failed", self.notify, lines)
            return False
        self.reload_error = None
        log.info("reloaded %s: %s", self.path, summary(plan))
        return True

    def prepare(self, *, force: bool = False, manifest: Manifest | None = None) -> Plan:
        """What ``start`` does before the loop: lock the store, recover, apply.

        The manifest is validated before the store is created or locked: an invalid one
        changes nothing. The manifest applied last starts without a parse (see ``apply``).
        """
        with self._reload_lock:
            source = manifest or self._applier.source()
            self._bind_http()  # a port in use stops the start before the store is touched
            self._writing_store().lock_daemon()
        return self._begin(source, force)

    def _begin(self, source: Source, force: bool) -> Plan:
        """Under the daemon lock: recover, apply, hear other processes' writes, serve HTTP."""
        # Bound before the scheduler is built, which counts its runs for /metrics then; a
        # standby that took over binds its port only now.
        self._bind_http()
        with self._reload_lock:
            self.scheduler.recover()
            plan = self._apply(source, force=force, show=None)
            self._looping = True
        self._unwatch_store = self._writing_store().watch(self.scheduler.store_changed)
        if self.http is not None:
            self.http.start()
        return plan

    def _bind_http(self) -> None:
        if self.http_options is not None and self.http is None:
            from yamlcron.http.server import HttpServer  # waitress: only with --http

            self.http = HttpServer(self, self.http_options)

    def run(
        self,
        *,
        force: bool = False,
        watch: bool = False,
        watch_interval: float = 30.0,
        handle_signals: bool = False,
        shutdown_timeout: float | None = None,
        heartbeat: HeartbeatSpec | None = None,
    ) -> None:
        """Prepare, then run the loop in this thread until ``stop`` (``yamlcron run``).

        ``watch`` reloads the manifest when its file changes (re-read every
        ``watch_interval`` seconds too). ``handle_signals`` (main thread only): SIGTERM or
        SIGINT stops firing, a second one stops runs now; SIGHUP reloads. With
        ``shutdown_timeout`` the loop's end stops the service, waiting that long for runs.
        ``heartbeat``: a URL pinged while the loop is alive (``yamlcron.heartbeat``).
        """
        from yamlcron.daemon import Foreground, run_in_foreground

        how = Foreground(
            force=force,
            watch=watch,
            watch_interval=watch_interval,
            handle_signals=handle_signals,
            shutdown_timeout=shutdown_timeout,
            heartbeat=heartbeat,
        )
        run_in_foreground(self, how)

    def start(self, *, force: bool = False) -> Plan:
        """Prepare, then run the loop in a background thread: call it in every web worker.

        The manifest is validated first: an invalid one raises ManifestError here, in
        every worker. Then, on a store that holds one scheduler at a time (SQLite), the
        first process becomes the active scheduler and returns the plan it applied; any
        other one stands by (one log line, ``standing_by`` is True) and returns the plan
        it would apply, writing nothing, until the active one exits or dies: then it takes
        over within a second (``yamlcron.standby``). On PostgreSQL every process is a
        replica. ``stop`` (or leaving ``with``) ends either, in the worker's shutdown.
        """
        if self._standby is not None:
            raise RuntimeError("this Yamlcron was started already")
        # Made first: the workers of a web app start at once, and a store read while
        # another process makes it would look like one that needs an upgrade.
        store = self._writing_store()
        with self._reload_lock:
            source = self._applier.source()
        self._standby = standby = Standby(
            store.lock_daemon,
            partial(self._begin, source, force),
            lambda: self.scheduler.run_forever(),  # the scheduler is built by ``_begin``
        )
        plan = standby.start()
        self._thread = standby.thread
        if plan is not None:
            return plan
        try:
            return self.plan(force=force)
        except YamlcronError:  # refused: this worker will not take over with it either
            standby.cancel()
            raise

    @property
    def standing_by(self) -> bool:
        """Started, and waiting for the active scheduler of its store to stop (``start``)."""
        return self._standby is not None and not self._standby.active

    def _forked(self) -> None:
        """In a forked child: what the parent opened or started stays the parent's.

        This object starts afresh, as if just built, on a node named after the child's
        pid. The parent's store connections are kept open and unused here: closing them
        in the child could act on the database under the parent.
        """
        inherit(self._stores, self._events, self._scheduler, self._standby, self._thread)
        self._stores = StoreAccess(self.registry, self.path, self._stores.given)
        self._events = self._manifest = self._scheduler = None
        self._standby = self._thread = None
        self._looping = False
        self._reload_lock = threading.Lock()
        self._unwatch_store = lambda: None
        if self._own_node:
            self.config = replace(self.config, node=default_node())

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop firing, wait up to ``timeout`` for runs, stop the rest; True if none was cut."""
        if self._standby is not None:
            self._standby.cancel()
        finished = self.scheduler.stop(timeout) if self._scheduler is not None else True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.close()
        return finished

    def close(self) -> None:
        """Stop serving HTTP, deliver the notifications under way and close the store."""
        if self.http is not None:
            self.http.stop()
            self.http = None
        self._unwatch_store()
        if self._events is not None:
            self._events.close()
        self._stores.close()

    def reader(self) -> Yamlcron | None:
        """Another service on this store, for reading; close it when done.

        Its connections are its own, so that its readers (the HTTP API) and this object's
        loop never wait for each other. None for a store in memory, which no other
        connection can see.
        """
        if self._stores.url.endswith("://:memory:"):
            return None
        return Yamlcron(
            self.path,
            store=self._stores.url,
            registry=self.registry,
            clock=self.clock,
            text=self._text,
            create=False,
        )
