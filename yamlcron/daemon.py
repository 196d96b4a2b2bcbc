"""``yamlcron run`` in the foreground, until a signal stops it.

The service's loop in this thread, with what a daemon adds around it: its signals, the
manifest's watcher, the heartbeat and systemd's notifications.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from yamlcron.answers import summary
from yamlcron.interrupts import defer_daemon_signals, handle_daemon_signals

if TYPE_CHECKING:
    from yamlcron.app import Yamlcron
    from yamlcron.heartbeat import HeartbeatSpec
    from yamlcron.sdnotify import ServiceManager

running_log = logging.getLogger("yamlcron.run")


@dataclass(frozen=True, kw_only=True)
class Foreground:
    """How to run in the foreground: ``Yamlcron.run``'s options (its docstring says each)."""

    force: bool = False
    watch: bool = False
    watch_interval: float = 30.0
    handle_signals: bool = False
    shutdown_timeout: float | None = None
    heartbeat: HeartbeatSpec | None = None


def run_in_foreground(service: Yamlcron, how: Foreground) -> None:
    """Prepare ``service``, then run its loop in this thread as ``how`` says."""
    from yamlcron.sdnotify import service_manager  # systemd's, when it started us

    early = defer_daemon_signals() if how.handle_signals else list
    plan = service.prepare(force=how.force)
    jobs = plan.unchanged + len(plan.add) + len(plan.change)
    running_log.info("running %d jobs from %s (%s)", jobs, service.path, summary(plan))
    stops = [_watching(service, how.watch_interval)] if how.watch else []
    systemd = service_manager(service.scheduler.pulse)
    if how.handle_signals:
        _handle_signals(service, systemd, early)
    if how.heartbeat is not None:
        from yamlcron.heartbeat import Heartbeat

        stops.append(Heartbeat(how.heartbeat, service.scheduler.pulse).start().stop)
    systemd.ready(f"running {jobs} jobs")
    try:
        service.scheduler.run_forever()
    finally:
        systemd.stopping()
        for stop in reversed(stops):
            stop()
        if how.shutdown_timeout is not None:
            running_log.info(
                "stopping: waiting up to %s s for runs under way", how.shutdown_timeout
            )
            service.stop(how.shutdown_timeout)
            running_log.info("stopped")


def _watching(service: Yamlcron, interval: float) -> Callable[[], None]:
    from yamlcron.watch import watch_manifest  # watchdog: only for a watched manifest

    return watch_manifest(service.path, service.reload, service.scheduler.source, interval)


def _handle_signals(
    service: Yamlcron, systemd: ServiceManager, early: Callable[[], list[int]]
) -> None:
    """The daemon's handlers (main thread only); the ``early`` signals, raised again now.

    ``early`` is read once the handlers are in place: a signal that comes in between is
    then either among them or handled, never lost.
    """
    scheduler = service.scheduler
    reload = systemd.reloading(service.reload)
    handle_daemon_signals(scheduler.request_stop, scheduler.cancel, reload, service.path)
    for signum in early():  # came while starting: handled now, as if just sent
        signal.raise_signal(signum)
