"""Signals and time limits for the work of the service: a run made here, the daemon's loop."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TypeVar

log = logging.getLogger("yamlcron.run")

#: What ``stoppable`` reports when its time limit stopped the work, not a signal.
TIMED_OUT = 0

T = TypeVar("T")


def stoppable(
    work: Callable[[], T], cancel: Callable[[], None], timeout: float | None
) -> tuple[T, int | None]:
    """Do ``work``; SIGINT or SIGTERM, or ``timeout`` seconds, call ``cancel`` meanwhile.

    Returns what ``work`` returned and what stopped it: the signal's number,
    ``TIMED_OUT``, or None. ``cancel`` must make ``work`` return soon.
    """
    stopped: list[int] = []

    def stop(why: int) -> None:
        stopped.append(why)
        cancel()

    timer = None if timeout is None else threading.Timer(timeout, stop, (TIMED_OUT,))
    try:
        with _stopping_on_signals(stop):
            if timer is not None:
                timer.start()
            done = work()
    finally:
        if timer is not None:
            timer.cancel()
            timer.join()
    return done, stopped[0] if stopped else None


@contextmanager
def _stopping_on_signals(stop: Callable[[int], None]) -> Iterator[None]:
    """The first SIGINT or SIGTERM calls ``stop(signum)``; a second one acts as usual.

    Only the main thread may set signal handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGINT, signal.SIGTERM)

    def handle(signum: int, frame: FrameType | None) -> None:
        for each in signals:  # a second one leaves at once, even if the run does not stop
            signal.signal(each, previous[each])
        stop(signum)

    previous = {each: signal.getsignal(each) for each in signals}
    for each in signals:
        signal.signal(each, handle)
    try:
        yield
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)


def defer_daemon_signals() -> Callable[[], list[int]]:
    """Until ``handle_daemon_signals`` takes over: SIGTERM, SIGINT and SIGHUP are noted.

    A daemon that is still starting (applying, binding its port) must not die of a
    signal's default action: the signals that came are returned by the function this
    gives back, to be raised again once the real handlers are in place.
    """
    came: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        came.append(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, note)
    return lambda: list(came)


def handle_daemon_signals(
    request_stop: Callable[[], None],
    cancel: Callable[[], None],
    reload: Callable[[], object],
    path: Path,
) -> None:
    """SIGTERM/SIGINT: ``request_stop`` (twice: ``cancel``, stopping runs now). SIGHUP: reload."""
    received = 0

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal received
        received += 1
        # On a thread of its own, as the reload: the handler runs in the main thread between
        # two of its steps, maybe inside the very lock that waking the loop takes (the loop's
        # Event, held for an instant as it starts or ends a wait), which would never be freed.
        if received == 1:
            log.info("%s: stopping", signal.Signals(signum).name)
            threading.Thread(target=request_stop, name="yamlcron-stop", daemon=True).start()
        else:
            log.warning("%s again: stopping runs now", signal.Signals(signum).name)
            threading.Thread(target=cancel, name="yamlcron-cancel", daemon=True).start()

    def on_hangup(signum: int, frame: FrameType | None) -> None:
        log.info("SIGHUP: reloading %s", path)
        threading.Thread(target=reload, name="yamlcron-reload", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, on_hangup)
