"""Delivering events to listeners and notifiers, off the loop, each in isolation."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from yamlcron.errors import DeliveryError
from yamlcron.events import Event, JobEvent, ManifestEvent, RunEvent
from yamlcron.model import JobSpec, NotifySpec
from yamlcron.registry import Registry
from yamlcron.templates import expand

log = logging.getLogger(__name__)
_HOOK_OF = {
    JobEvent: "yamlcron_job_event",
    ManifestEvent: "yamlcron_manifest_event",
    RunEvent: "yamlcron_run_event",
}

#: What ``observe_deliveries`` callbacks hear: ``(via, result)``.
DeliveryObserver = Callable[[str, str], None]


class EventBus:
    """Calls every event hook implementation and every matching notifier for each event.

    Listeners run on one thread, in order; notifiers on a small pool, so a slow webhook
    delays neither the loop nor the listeners. Every call is in its own ``try``.
    """

    def __init__(self, registry: Registry, notifier_threads: int = 4) -> None:
        self.registry = registry
        self._listeners = ThreadPoolExecutor(1, "yamlcron-events")
        self._notifiers = ThreadPoolExecutor(notifier_threads, "yamlcron-notify")
        self._pending = 0
        self._idle = threading.Condition()
        self._observers: tuple[DeliveryObserver, ...] = ()

    def publish(self, event: Event, notify: Sequence[NotifySpec] = ()) -> None:
        """Queue ``event`` for the hooks and for the ``notify`` entries whose ``on`` it meets.

        An event nobody listens to costs nothing: at thousands of runs a second, handing
        each to a pool only to find no listener was most of the scheduler's time.
        """
        if self.hears(type(event)):
            self._submit(self._listeners, self._call_hooks, event)
        if not notify:
            return
        kinds: frozenset[str] = getattr(event, "notify_kinds", frozenset())
        for entry in notify:
            if kinds & set(entry.on):
                self._submit(self._notifiers, self._notify, entry, event)

    def observe_deliveries(self, callback: DeliveryObserver) -> Callable[[], None]:
        """Call ``callback(via, result)`` after each notifier call; returns the way to stop.

        ``via`` is the notifier's name (``webhook``, ``healthchecks``...), ``result`` is
        ``"ok"``, or ``"error"`` when the notifier raised (``DeliveryError`` for a delivery
        that failed, anything else for a bug): what ``yamlcron_notifications_total`` counts.
        It is called on the notification thread that made the call, so it must be quick
        and thread-safe; one that raises is logged and the others are still called. With
        no observer, a delivery costs nothing more.
        """
        with self._idle:
            self._observers = (*self._observers, callback)

        def forget() -> None:
            with self._idle:
                self._observers = tuple(o for o in self._observers if o is not callback)

        return forget

    def publish_run(self, event: RunEvent, shared: Sequence[NotifySpec]) -> None:
        """Queue a run event for the hooks, its job's own notifiers and ``shared`` ones.

        ``shared``: the manifest's top-level ``notify``, which hears every job. The daemon,
        the Python API and ``trigger`` without a daemon all announce runs through here.
        """
        own = event.job.notify if event.job else ()
        self.publish(event, (*own, *shared))

    def hears_run(self, job: JobSpec, shared: Sequence[NotifySpec]) -> bool:
        """Whether ``publish_run`` of a run of ``job`` would reach anyone."""
        return bool(job.notify or shared) or self.hears(RunEvent)

    def hears(self, kind: type[Event]) -> bool:
        """Whether a plugin hook listens to events of this type (notifiers aside)."""
        return bool(self._hook(kind).get_hookimpls())

    def _hook(self, kind: type[Event]) -> Any:
        return getattr(self.registry.manager.hook, _HOOK_OF[kind])

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything published so far was delivered; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (up to ``timeout``), then stop the threads.

        Once all was delivered the idle threads are joined, so none outlives the bus; a
        notifier still stuck past ``timeout`` is left to finish on its own.
        """
        delivered = self.flush(timeout)
        self._listeners.shutdown(wait=delivered, cancel_futures=True)
        self._notifiers.shutdown(wait=delivered, cancel_futures=True)

    def _submit(self, pool: ThreadPoolExecutor, work: Callable[..., None], *args: Any) -> None:
        with self._idle:
            self._pending += 1
        try:
            future: Future[None] = pool.submit(work, *args)
        except RuntimeError:  # shut down: nothing more is delivered
            self._done(None)
            return
        future.add_done_callback(self._done)

    def _done(self, _: object) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def _call_hooks(self, event: Event) -> None:
        hook = self._hook(type(event))
        for impl in hook.get_hookimpls():
            try:
                impl.function(**dict.fromkeys(impl.argnames, event))
            except Exception:  # listener isolation: one plugin cannot silence the others
                log.exception("plugin %s raised in %s; carrying on", impl.plugin_name, hook.name)

    def _notify(self, entry: NotifySpec, event: RunEvent | ManifestEvent) -> None:
        result = "error"
        try:
            notifier = self.registry.notifier(entry.via)
            notifier.notify(event, expand_options(entry.options))
            result = "ok"
        except DeliveryError as exc:  # said in words fit for the log: no traceback
            logging.getLogger(f"yamlcron.notify.{entry.via}").warning("%s", exc)
        except Exception:  # listener isolation, as above
            log.exception("notifier %s failed on %s; carrying on", entry.via, type(event).__name__)
        for observer in self._observers:
            try:
                observer(entry.via, result)
            except Exception:  # an observer is a listener too: isolated
                log.exception("a delivery observer raised; carrying on")


def expand_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``${VAR}`` in every string of a notifier's options, from the environment, now."""
    import os

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return expand(value, os.environ)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    return {k: walk(v) for k, v in options.items()}
