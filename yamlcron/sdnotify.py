"""systemd's notify protocol, for ``yamlcron run`` as a ``Type=notify`` service.

systemd passes a unix datagram socket in ``NOTIFY_SOCKET`` (a path, or ``@name`` in the
abstract namespace) and, with ``WatchdogSec=``, the watchdog period in ``WATCHDOG_USEC``.
The service sends newline-separated ``KEY=VALUE`` lines to it:

- ``READY=1`` once the manifest is applied and the loop starts (``systemctl start`` returns);
- ``RELOADING=1`` with ``MONOTONIC_USEC=`` (systemd 253 and later need it) when SIGHUP asks
  for a reload, then ``READY=1`` when the reload is done, applied or refused;
- ``WATCHDOG=1`` every half period while the scheduler loop is alive (its ``Pulse``): a
  stuck loop stops the pings, and systemd restarts the service;
- ``STOPPING=1`` when the loop ends, before runs under way are waited for.

The protocol is one ``sendto`` per message: a few lines of the standard library rather than
a package (the Python ones are unmaintained or a C extension). Without ``NOTIFY_SOCKET``
(not started by systemd) every call does nothing. The variables are taken out of the
environment, so jobs do not inherit them and cannot speak for yamlcron.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, MutableMapping

from yamlcron.scheduler.pulse import Pulse

#: The variables systemd sets for the service, removed from jobs' environment.
VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class ServiceManager:
    """What yamlcron tells systemd; does nothing when systemd did not start it."""

    def __init__(self, address: str | None, watchdog: float | None, pulse: Pulse) -> None:
        """``address``: the notify socket (None: not under systemd); ``watchdog``: its period."""
        self.address = address
        self.watchdog = watchdog
        self._pulse = pulse
        self._stop = threading.Event()
        self._pinger: threading.Thread | None = None
        self._stopping = False

    def send(self, *fields: str) -> None:
        """Send ``fields`` as one message; a service manager that went away is ignored."""
        if self.address is None:
            return
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        # No manager to hear it (gone, or never there): nothing to tell, nothing to fail.
        with (
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock,
            contextlib.suppress(OSError),
        ):
            sock.sendto("\n".join(fields).encode(), target)

    def ready(self, status: str) -> None:
        """The service is up; start the watchdog's pings if systemd asked for them."""
        self.send("READY=1", f"STATUS={status}")
        if self.watchdog is not None and self._pinger is None:
            self._pinger = threading.Thread(target=self._ping, name="yamlcron-watchdog")
            self._pinger.daemon = True
            self._pinger.start()

    def reloading(self, reload: Callable[[], bool]) -> Callable[[], bool]:
        """``reload``, announced: RELOADING=1 before it, READY=1 after, whatever its outcome."""

        def announced() -> bool:
            usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
            self.send("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading")
            applied = reload()
            self.send("READY=1", f"STATUS={'reloaded' if applied else 'reload failed'}")
            return applied

        return announced

    def beat(self) -> bool:
        """Ping the watchdog if the loop is alive (no pass longer than a period); True if sent."""
        assert self.watchdog is not None
        if not self._pulse.alive(stuck_after=self.watchdog):
            return False
        self.send("WATCHDOG=1")
        return True

    def _ping(self) -> None:
        assert self.watchdog is not None
        while not self._stop.wait(self.watchdog / 2):
            self.beat()

    def stopping(self) -> None:
        """The service is stopping: say so once, and stop the watchdog's pings."""
        self._stop.set()
        if self._pinger is not None:
            self._pinger.join(timeout=5)
        if not self._stopping:
            self._stopping = True
            self.send("STOPPING=1", "STATUS=stopping: waiting for runs under way")


def service_manager(
    pulse: Pulse, environ: MutableMapping[str, str] | None = None
) -> ServiceManager:
    """The service manager that started this process, from (and out of) its environment."""
    env = os.environ if environ is None else environ
    address, usec, pid = (env.pop(name, None) for name in VARIABLES)
    watchdog = int(usec) / 1e6 if usec and (pid is None or pid == str(os.getpid())) else None
    return ServiceManager(address or None, watchdog, pulse)
