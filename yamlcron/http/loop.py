"""What the HTTP side knows of the scheduler loop it serves, wherever it is served from.

The server answers from a process of its own (``yamlcron.http.child``): rendering a scrape
or a page holds the interpreter lock for milliseconds, which in the scheduler's process
came out of the loop's time and made fires late. What the child cannot read from the store
it asks the daemon for, in a ``LoopState``: whether the loop is alive, the runs under way,
the last reload's error. What only the daemon hears (runs ending, reloads, deliveries) it
keeps in a ``Feed`` that the child drains, and counts again into its own metrics.

Served on threads of the daemon instead (a store in memory, which no other process can
read), the same state is read in place (``LocalLoop``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from yamlcron.events import ManifestEvent, RunEvent
from yamlcron.hookspecs import hookimpl
from yamlcron.model import ReloadError

if TYPE_CHECKING:
    from yamlcron.app import Yamlcron
    from yamlcron.model import JobSpec
    from yamlcron.scheduler.parts import RunListener

#: A pass longer than this means the loop is stuck. Passes take milliseconds; a store that
#: cannot answer fails a pass within its connect timeout, and the loop rests after it.
STUCK_AFTER = 60.0
#: What a manifest event says of a reload.
RELOAD_RESULT = {"applied": "ok", "reload_failed": "error", "plan_refused": "refused"}


@dataclass(frozen=True)
class LoopState:
    """The loop at one moment: ``dead`` says why it is not alive ("" while it is)."""

    dead: str = ""
    stopping: bool = False
    applied: bool = False
    reload_error: ReloadError | None = None
    under_way: Mapping[str, int] = field(default_factory=dict)
    store_errors: int = 0

    def to_json(self) -> dict[str, Any]:
        """As the daemon sends it to the server's process."""
        error = self.reload_error
        return {
            "dead": self.dead,
            "stopping": self.stopping,
            "applied": self.applied,
            "reload_error": None if error is None else [error.at.isoformat(), error.message],
            "under_way": dict(self.under_way),
            "store_errors": self.store_errors,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> LoopState:
        """What ``to_json`` made."""
        error = value["reload_error"]
        failed = None if error is None else ReloadError(datetime.fromisoformat(error[0]), error[1])
        return cls(
            dead=value["dead"],
            stopping=value["stopping"],
            applied=value["applied"],
            reload_error=failed,
            under_way=value["under_way"],
            store_errors=value["store_errors"],
        )


class Loop(Protocol):
    """Where the HTTP side reads the loop's state."""

    def state(self) -> LoopState:
        """The state now (or as last heard, in the server's own process)."""
        ...

    def fresh(self) -> LoopState:
        """The state now, and what was counted up to now counted (a scrape, a health check)."""
        ...


class LocalLoop:
    """The state of a service's loop, read in its own process."""

    def __init__(self, app: Yamlcron) -> None:
        self.app = app

    def fresh(self) -> LoopState:
        """The state: in place, it is always fresh."""
        return self.state()

    def state(self) -> LoopState:
        """Read from the scheduler and the service as they are now."""
        scheduler = self.app.scheduler
        pulse = scheduler.pulse
        dead = ""
        if pulse.stopped:
            dead = "the scheduler loop has stopped"
        elif not pulse.alive(STUCK_AFTER):
            dead = f"the scheduler loop has been in one pass for {pulse.stuck_for():.0f} s"
        with scheduler.runner.lock:
            under_way = {job: n for job, n in scheduler.runner.under_way.items() if n}
        return LoopState(
            dead=dead,
            stopping=pulse.stopped,
            applied=scheduler.source is not None,
            reload_error=self.app.reload_error,
            under_way=under_way,
            store_errors=scheduler.store_errors,
        )


class Sink(Protocol):
    """What counts the daemon's runs, reloads and deliveries: the metrics, or a ``Feed``."""

    def run_started(self, job_id: str, late: float | None, at: float) -> None:
        """A run started at ``at`` (epoch seconds); ``late``: its first attempt's lateness."""
        ...

    def run_ended(self, job_id: str, status: str, took: float | None, at: float | None) -> None:
        """A run ended with ``status``, after ``took`` seconds, at ``at``."""
        ...

    def reloaded(self, result: str) -> None:
        """An apply or reload: ``ok``, ``error`` or ``refused``."""
        ...

    def delivered(self, via: str, result: str) -> None:
        """A notifier's delivery ended: ``ok`` or ``error``."""
        ...


class Feed:
    """The daemon's side of the metrics served from another process: what to count there.

    Each observation is a small tuple appended under a lock; the server's process drains
    them a few times a second (``drain``) and counts them into its metrics.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[Any, ...]] = []

    def run_started(self, job_id: str, late: float | None, at: float) -> None:
        """Kept for the server's process."""
        with self._lock:
            self._items.append(("s", job_id, late, at))

    def run_ended(self, job_id: str, status: str, took: float | None, at: float | None) -> None:
        """Kept for the server's process."""
        with self._lock:
            self._items.append(("e", job_id, status, took, at))

    def reloaded(self, result: str) -> None:
        """Kept for the server's process."""
        with self._lock:
            self._items.append(("r", result))

    def delivered(self, via: str, result: str) -> None:
        """Kept for the server's process."""
        with self._lock:
            self._items.append(("d", via, result))

    def drain(self) -> list[tuple[Any, ...]]:
        """Everything kept since the last drain, oldest first."""
        with self._lock:
            items, self._items = self._items, []
        return items


def replay(items: list[Any], sink: Sink) -> None:
    """Count what a ``Feed`` drained (as JSON lists) into ``sink``."""
    for item in items:
        kind, *values = item
        if kind == "s":
            sink.run_started(*values)
        elif kind == "e":
            sink.run_ended(*values)
        elif kind == "r":
            sink.reloaded(*values)
        elif kind == "d":
            sink.delivered(*values)


def observe(event: RunEvent, sink: Sink) -> None:
    """Count a run event: lateness at its start, status and duration at its end."""
    run = event.run
    if event.kind == "submitted":
        return
    if event.kind == "started":
        if run.started_at is not None:
            late = None
            if run.attempt == 1:
                late = max((run.started_at - run.scheduled_at).total_seconds(), 0.0)
            sink.run_started(run.job_id, late, run.started_at.timestamp())
        return
    took = None
    if run.started_at is not None and run.finished_at is not None:
        took = max((run.finished_at - run.started_at).total_seconds(), 0.0)
    at = run.finished_at.timestamp() if run.finished_at is not None else None
    sink.run_ended(run.job_id, run.status.value, took, at)


class RunCounter:
    """A scheduler's run listener (``scheduler.parts.RunListener``) that counts every run.

    It hears every job, so the scheduler builds every run's events; each is counted on the
    thread that reports it (not through the event bus, whose handoff to a thread of its own
    cost more than all the rest of the metrics), then handed to the listener it wraps (the
    event bus's), which still decides on its own whom to tell.
    """

    def __init__(self, sink: Sink, listener: RunListener) -> None:
        self.sink = sink
        self.listener = listener

    def hears(self, job: JobSpec) -> bool:
        """Every run is counted."""
        return True

    def on_run(self, event: RunEvent) -> None:
        """Count the event, then pass it on."""
        observe(event, self.sink)
        self.listener.on_run(event)


class Attached:
    """A sink hearing a service's manifest events and its notifiers' deliveries, until closed."""

    def __init__(self, app: Yamlcron, sink: Sink) -> None:
        self._app = app
        self._listener = _ManifestListener(sink)
        app.registry.manager.register(self._listener, name=f"yamlcron-metrics-{id(self)}")
        self._forget = app.events.observe_deliveries(sink.delivered)

    def close(self) -> None:
        """Stop hearing them."""
        manager = self._app.registry.manager
        if manager.is_registered(self._listener):
            manager.unregister(self._listener)
        self._forget()


class _ManifestListener:
    """The plugin that hands a service's manifest events to a sink."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    @hookimpl
    def yamlcron_manifest_event(self, event: ManifestEvent) -> None:
        """Count an apply (``ok``), a failed reload (``error``) or a refused one."""
        self.sink.reloaded(RELOAD_RESULT[event.kind])
