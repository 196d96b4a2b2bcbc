"""The HTTP server's own process: ``python -m yamlcron.http.child PAIR LISTENER``.

Started by the daemon (``yamlcron.http.process``) with two inherited descriptors: one end
of a socket pair and the bound listening socket. The daemon sends its settings as the first
line on the pair; from then on this process asks for the loop's state a few times a second
(``RemoteLoop``), counts what the daemon counted since into its own metrics, and serves
every request from the store, on connections of its own. It ends when the pair closes.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import sys
import threading
import time
from io import BufferedIOBase
from pathlib import Path
from typing import Any

from yamlcron.http.loop import LoopState, Sink, replay

log = logging.getLogger("yamlcron.http")

#: Seconds between two questions to the daemon: how stale ``/metrics`` may be.
POLL_EVERY = 0.25
#: A daemon that has not answered for this long is taken for stuck (``/livez`` says so).
SILENT_AFTER = 30.0
#: Seconds a request waits for a question already on the pair before it reads the last state.
ASK_WAIT = 1.0
#: Seconds the daemon has to answer a question: past it, the pair is taken for broken and this
#: process ends (the daemon starts another, unless it is hung, which ``/livez`` then shows).
ANSWER_TIMEOUT = 10.0


class RemoteLoop:
    """The daemon's loop as last heard over the pair (``Loop``). Thread-safe.

    One question at a time is on the pair: the poller's every ``POLL_EVERY`` seconds, or a
    request's that needs the state now (``fresh``: a scrape, the health checks).
    """

    def __init__(self, stream: BufferedIOBase, sink: Sink | None = None) -> None:
        self._stream = stream
        self.sink = sink
        self.closed = threading.Event()
        self._asking = threading.Lock()
        self._lock = threading.Lock()
        self._state = LoopState(dead="the scheduler has not answered yet")
        self._heard = time.monotonic()

    def state(self) -> LoopState:
        """The last state heard; dead when the daemon has been silent too long."""
        with self._lock:
            state, heard = self._state, self._heard
        silent = time.monotonic() - heard
        if silent > SILENT_AFTER:
            return LoopState(dead=f"the scheduler's process has not answered for {silent:.0f} s")
        return state

    def fresh(self) -> LoopState:
        """The state as the daemon answers it now, with what it counted so far."""
        self.ask()
        return self.state()

    def ask(self) -> bool:
        """Ask the daemon once; False once the pair is closed (the daemon stops, or died).

        A question already on the pair answers this one too: after a short wait for it,
        the state is what it brought.
        """
        if not self._asking.acquire(timeout=ASK_WAIT):
            return not self.closed.is_set()
        try:
            if self.closed.is_set():
                return False
            try:
                self._stream.write(b"?\n")
                self._stream.flush()
                line = self._stream.readline()
            except OSError:  # shut, or no answer within the pair's timeout
                line = b""
            if not line:
                self.closed.set()
                return False
            answer: dict[str, Any] = json.loads(line)
            if self.sink is not None:
                replay(answer["items"], self.sink)
            with self._lock:
                self._state = LoopState.from_json(answer["state"])
                self._heard = time.monotonic()
            return True
        finally:
            self._asking.release()

    def follow(self, every: float = POLL_EVERY) -> None:
        """Ask every ``every`` seconds until the pair closes."""
        while self.ask():
            self.closed.wait(every)


def main(argv: list[str]) -> int:
    """Serve until the daemon closes the pair."""
    # A terminal's Ctrl-C, or systemd's SIGTERM to the whole unit, reaches this process too:
    # the daemon stops it (by closing the pair) once its own runs are done, not before.
    for each in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(each, signal.SIG_IGN)
    pair = socket.socket(fileno=int(argv[0]))
    pair.settimeout(ANSWER_TIMEOUT)
    listener = socket.socket(fileno=int(argv[1]))
    stream = pair.makefile("rwb")
    try:
        first = stream.readline()
    except OSError:
        first = b""
    if not first:
        return 0  # the daemon stopped before it sent anything
    settings = json.loads(first)
    if settings["logging"] is not None:
        from yamlcron.cli.logs import configure_logging

        log_format, level, utc = settings["logging"]
        configure_logging(log_format, level, utc=utc)
    return serve(settings, stream, listener)


def serve(settings: dict[str, Any], stream: BufferedIOBase, listener: socket.socket) -> int:
    """Serve ``listener`` as the daemon's server would, following the daemon on ``stream``."""
    from yamlcron.app import Yamlcron
    from yamlcron.http.options import HttpOptions
    from yamlcron.http.routes import Application
    from yamlcron.http.server import close_server, waitress_server
    from yamlcron.http.web import Context
    from yamlcron.metrics import Metrics
    from yamlcron.shapes import Times

    options = HttpOptions(
        settings["host"], settings["port"], settings["token"], Times(utc=settings["utc"])
    )
    reads = Yamlcron(
        Path(settings["manifest"]),
        text=settings["text"],
        store=settings["store"],
        node=settings["node"],
        create=False,
    )
    metrics = Metrics(loop := RemoteLoop(stream), reads)
    loop.sink = metrics
    if not loop.ask():  # first the loop's state, then requests (they wait in the backlog)
        reads.close()
        return 0
    server, sockets = waitress_server(
        Application(Context(reads, reads, loop, options), metrics), listener
    )
    serving = threading.Thread(target=server.run, name="yamlcron-http", daemon=True)
    serving.start()
    try:
        loop.follow()
    finally:
        close_server(server, sockets, serving)
        reads.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
