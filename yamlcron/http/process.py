"""The daemon's side of the HTTP server that runs in a process of its own.

A scrape of a thousand jobs or a page holds the interpreter lock for milliseconds; on a
thread of the daemon that time came out of the scheduler's and made fires late
(bench/http.py). So the daemon binds the address (a port in use is its own one-line error),
then starts ``python -m yamlcron.http.child`` with that socket and one end of a socket
pair. The child reads the store on connections of its own and acts through it, as
``yamlcron trigger`` does beside a daemon. Over the pair, the child asks a few times a second
for the loop's state and what the daemon counted since (``yamlcron.http.loop``); the daemon
answers from a thread that holds the lock for microseconds. The child ends when the pair
closes: when the daemon stops it, or dies. A child that dies is started again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any

from yamlcron.http.loop import Attached, Feed, LocalLoop, RunCounter
from yamlcron.http.server import bind, url_of

if TYPE_CHECKING:
    from yamlcron.app import Yamlcron
    from yamlcron.http.options import HttpOptions
    from yamlcron.scheduler.parts import RunListener

log = logging.getLogger("yamlcron.http")

#: Seconds between two starts of a child that keeps dying.
RESTART_DELAY = 1.0
#: Seconds the child gets to end once its pair is closed, before it is killed.
STOP_GRACE = 5.0


class ServerProcess:
    """``HttpServer`` (``yamlcron.http.server``) served by a child process."""

    def __init__(self, app: Yamlcron, options: HttpOptions) -> None:
        self.app = app
        self.options = options
        self.feed = Feed()
        self._loop = LocalLoop(app)
        self._listener = bind(options)
        self._stopping = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None
        self._pair: socket.socket | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._attached: Attached | None = None

    @property
    def url(self) -> str:
        """Where it listens."""
        return url_of(self._listener)

    def counting(self, listener: RunListener) -> RunListener:
        """Runs kept in the feed that the child drains."""
        return RunCounter(self.feed, listener)

    def start(self) -> None:
        """Start the child, and answer it on a thread of this process."""
        self._attached = Attached(self.app, self.feed)
        self._thread = threading.Thread(target=self._answer, name="yamlcron-http", daemon=True)
        self._thread.start()
        log.info("serving HTTP on %s", self.url)

    def stop(self) -> None:
        """Close the pair (the child ends), wait for the child, join the thread."""
        self._stopping.set()
        if self._attached is not None:
            self._attached.close()
        with self._lock, contextlib.suppress(OSError):  # closed already: its child is gone
            if self._pair is not None:
                self._pair.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=STOP_GRACE + 5)
            self._thread = None
        self._listener.close()

    def _answer(self) -> None:
        """Start the child, answer its questions until it or this server ends; again."""
        while not self._stopping.is_set():
            mine, theirs = socket.socketpair()
            with self._lock:  # ``stop`` shuts the pair, or has stopped it being made
                if self._stopping.is_set():
                    mine.close()
                    theirs.close()
                    return
                self._pair = mine
                self._child = self._spawn(theirs)
            theirs.close()
            try:
                self._serve(mine)
            finally:
                code = self._reap(self._child)
                mine.close()
            if not self._stopping.is_set():
                log.error("the HTTP server's process ended (exit %s); starting it again", code)
                self._stopping.wait(RESTART_DELAY)

    def _spawn(self, theirs: socket.socket) -> subprocess.Popen[bytes]:
        fds = (theirs.fileno(), self._listener.fileno())
        return subprocess.Popen(
            [sys.executable, "-m", "yamlcron.http.child", *map(str, fds)],
            pass_fds=fds,
            stdin=subprocess.DEVNULL,
        )

    def _serve(self, pair: socket.socket) -> None:
        """Send the child its settings, then answer each line it sends with the state."""
        stream = pair.makefile("rwb")
        try:
            stream.write(json.dumps(self._settings()).encode() + b"\n")
            stream.flush()
            for _ in stream:  # each line asks for the state
                answer = {"state": self._loop.state().to_json(), "items": self.feed.drain()}
                stream.write(json.dumps(answer, separators=(",", ":")).encode() + b"\n")
                stream.flush()
        except OSError:  # the child died or the pair was shut: either way, this one is over
            pass
        finally:
            with contextlib.suppress(OSError):  # an answer the child never read is dropped
                stream.close()

    def _settings(self) -> dict[str, Any]:
        """What the child needs to serve as this service would: never on its command line."""
        from yamlcron.cli.logs import configured

        app, options = self.app, self.options
        return {
            "manifest": str(app.path),
            "text": app.manifest_text,
            "store": app.store_url,
            "node": app.config.node,
            "host": options.host,
            "port": options.port,
            "token": options.token,
            "utc": options.times.utc,
            "logging": configured[0] if configured else None,
        }

    def _reap(self, child: subprocess.Popen[bytes] | None) -> int | None:
        if child is None:
            return None
        try:
            return child.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            child.kill()
            return child.wait()
