"""The daemon's own heartbeat: a URL pinged every interval while the scheduler loop is alive.

``yamlcron run --heartbeat URL`` (or ``YAMLCRON_HEARTBEAT``) makes the daemon a dead man's
switch's subject: an outside monitor (a healthchecks.io check, an Uptime Kuma push
monitor...) alerts when the pings stop, so it hears of a daemon that died, was stopped or
frozen, lost its machine, or whose loop is stuck. The loop's ``Pulse`` decides: a ping is
withheld while the loop is stopped or stuck in one pass for longer than ``stuck_after``
(an idle loop sleeping until its next fire is alive). The pings go from a thread of their
own, never the loop's, so a slow monitor delays no fire; each has a short timeout, and one
that fails is logged (the URL's scheme and host only: its path holds the secret) and
tried again at the next beat.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from yamlcron.errors import DeliveryError
from yamlcron.outbound import send, where

if TYPE_CHECKING:
    from yamlcron.scheduler.pulse import Pulse

log = logging.getLogger("yamlcron.heartbeat")

#: The default seconds between pings.
DEFAULT_INTERVAL = 60.0
#: A pass of the loop longer than this is stuck: pings stop (a pass takes milliseconds,
#: and one that the store cannot serve fails at once).
STUCK_AFTER = 60.0


@dataclass(frozen=True, slots=True)
class HeartbeatSpec:
    """Where to ping and how often; ``timeout`` bounds each ping."""

    url: str
    interval: float = DEFAULT_INTERVAL
    timeout: float = 5.0
    stuck_after: float = STUCK_AFTER


class Heartbeat:
    """Pings ``spec.url`` (a GET) every ``spec.interval`` s while ``pulse`` says alive.

    ``start`` begins on a thread of its own, ``stop`` ends it (waiting for a ping under
    way). ``beat`` is one beat, for tests: ping, or withhold the ping.
    """

    def __init__(self, spec: HeartbeatSpec, pulse: Pulse) -> None:
        self.spec = spec
        self.pulse = pulse
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self._withheld = False
        #: Pings sent and answered, pings that failed, beats withheld (the loop not alive).
        self.sent = self.failed = self.withheld = 0

    def start(self) -> Heartbeat:
        """Beat now, then every ``interval`` seconds, on the ``yamlcron-heartbeat`` thread."""
        log.info(
            "heartbeat: pinging %s every %g s while the scheduler loop is alive",
            where(self.spec.url),
            self.spec.interval,
        )
        self._thread = threading.Thread(target=self._run, name="yamlcron-heartbeat", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Beat no more; returns once a ping under way has ended."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    def beat(self) -> bool:
        """Ping if the loop is alive; True when a ping was sent and answered."""
        if not self.pulse.alive(self.spec.stuck_after):
            self.withheld += 1
            if not self._withheld and not self.pulse.stopped:
                log.warning(
                    "heartbeat withheld: the scheduler loop is stuck in a pass of %.0f s",
                    self.pulse.stuck_for(),
                )
            self._withheld = True
            return False
        self._withheld = False
        try:
            send(self.spec.url, timeout=self.spec.timeout)
        except DeliveryError as exc:
            self.failed += 1
            if not self._failing:
                log.warning("heartbeat ping failed: %s; trying again at each beat", exc)
            self._failing = True
            return False
        self.sent += 1
        if self._failing:
            log.info("heartbeat ping to %s answered again", where(self.spec.url))
        self._failing = False
        return True

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stopping.is_set():
            self.beat()
            # On a fixed grid, so that the pings do not drift; a ping that outlasted the
            # interval skips the beats it covered rather than sending them in a burst.
            due += self.spec.interval
            now = time.monotonic()
            if due <= now:
                due = now + self.spec.interval
            self._stopping.wait(due - now)
