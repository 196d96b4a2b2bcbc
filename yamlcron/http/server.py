"""The HTTP server of a running service: bound at start, served while it runs, stopped with it.

waitress serves the WSGI application (``routes``): pure Python, a fixed pool of worker
threads behind one event loop, so a thousand idle connections cost sockets, not threads.
It serves from a process of its own (``yamlcron.http.process``), so that no request takes
the interpreter lock from the scheduler; a store in memory is served on threads of the
service's process (``ThreadedServer``), as no other process can read it.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
from typing import TYPE_CHECKING, Any, Protocol

from yamlcron.errors import YamlcronError
from yamlcron.http.loop import Attached, LocalLoop, RunCounter
from yamlcron.http.routes import Application
from yamlcron.http.web import Context

if TYPE_CHECKING:
    from yamlcron.app import Yamlcron
    from yamlcron.http.options import HttpOptions
    from yamlcron.scheduler.parts import RunListener

log = logging.getLogger("yamlcron.http")

#: Requests handled at once; more wait in the queue. Each answer is a store read or two.
THREADS = 6
#: Connections held open at once (idle keep-alives included); more wait in the backlog.
CONNECTIONS = 1024
#: An idle keep-alive connection is closed after this many seconds.
IDLE_TIMEOUT = 60
#: The interpreter's switch interval while serving on threads of a process that is
#: yamlcron's own.
#: A thread that releases the GIL (the loop, at every store call) waits up to this long to
#: get it back from a busy one (a scrape, a JSON answer): at the default 5 ms, a scrape of a
#: thousand jobs delayed fires by its whole length (bench/http.py, bench/README.md).
SWITCH_INTERVAL = 0.0005
#: Bodies past this are refused by waitress before the application sees them; between
#: ``MAX_BODY`` and this, the application refuses them as JSON.
HARD_BODY_LIMIT = 1024 * 1024


def http_server(app: Yamlcron, options: HttpOptions) -> HttpServer:
    """The server of ``app``: in a process of its own, unless its store is in memory.

    The address is bound at once: a port in use is a one-line error before anything starts.
    """
    reader = app.reader()  # requests never wait for the loop's store connection
    if reader is not None and not options.threads:
        reader.close()  # opened by nothing yet: the server's process opens its own
        from yamlcron.http.process import ServerProcess

        return ServerProcess(app, options)
    return ThreadedServer(app, reader or app, options)  # None: a store in memory


class HttpServer(Protocol):
    """A service's HTTP server: bound when built, serving from ``start`` until ``stop``."""

    @property
    def url(self) -> str:
        """Where it listens, with the port the system chose for port 0."""
        ...

    def counting(self, listener: RunListener) -> RunListener:
        """A scheduler's run listener: every run counted for ``/metrics``, then told on."""
        ...

    def start(self) -> None:
        """Serve, and count reloads and deliveries."""
        ...

    def stop(self) -> None:
        """Close the listener and every connection; leave no thread or process behind."""
        ...


def bind(options: HttpOptions) -> socket.socket:
    """The listening socket of ``options``'s address; a port in use is a one-line error."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            options.host, options.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listener = socket.socket(family, kind, proto)
    except OSError as exc:
        raise YamlcronError(
            f"cannot serve HTTP on {options.address}: {exc.strerror or exc}"
        ) from None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(socket.SOMAXCONN)
    except OSError as exc:
        listener.close()
        raise YamlcronError(
            f"cannot serve HTTP on {options.address}: {exc.strerror or exc}"
        ) from None
    return listener


def url_of(listener: socket.socket) -> str:
    """``http://HOST:PORT`` of a listening socket."""
    host, port = listener.getsockname()[:2]
    host = f"[{host}]" if ":" in str(host) else host
    return f"http://{host}:{port}"


def waitress_server(
    application: Application, listener: socket.socket
) -> tuple[Any, dict[int, Any]]:
    """Waitress serving ``application`` on ``listener``, with its own refusals as JSON.

    Returns the server and its map of sockets, which ``close_server`` closes.
    """
    from waitress.server import create_server

    sockets: dict[int, Any] = {}
    server = create_server(
        application,
        map=sockets,
        sockets=[listener],
        threads=THREADS,
        connection_limit=CONNECTIONS,
        channel_timeout=IDLE_TIMEOUT,
        max_request_body_size=HARD_BODY_LIMIT,
        # select() cannot watch more than 1024 descriptors; poll() can.
        asyncore_use_poll=True,
        ident="yamlcron",
    )
    answer_errors_as_json(sockets)
    return server, sockets


def close_server(server: Any, sockets: dict[int, Any], thread: threading.Thread | None) -> None:
    """Close waitress's listener and connections from outside its loop, then its threads."""
    from waitress import trigger, wasyncore

    if thread is not None:
        # The event loop's sockets are its own: it closes them itself, then ends.
        bell = trigger.trigger(sockets)
        bell.pull_trigger(lambda: wasyncore.close_all(sockets, ignore_all=True))
        thread.join(timeout=5)
    else:
        wasyncore.close_all(sockets, ignore_all=True)
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)


class ThreadedServer:
    """Served on threads of the service's own process, its state read in place.

    For a store in memory, which no other process can read, or where ``threads`` is asked.
    """

    def __init__(self, app: Yamlcron, reads: Yamlcron, options: HttpOptions) -> None:
        from yamlcron.metrics import Metrics

        self.app = app
        self.options = options
        self.reads = reads
        loop = LocalLoop(app)
        self.metrics = Metrics(loop, reads)
        self._listener = bind(options)
        self._server, self._sockets = waitress_server(
            Application(Context(app, reads, loop, options), self.metrics), self._listener
        )
        self._thread: threading.Thread | None = None
        self._attached: Attached | None = None
        self._own_process = app.config.freeze_gc  # set by `yamlcron run`: the process is ours
        self._switch_interval: float | None = None

    @property
    def url(self) -> str:
        """Where it listens."""
        return url_of(self._listener)

    def counting(self, listener: RunListener) -> RunListener:
        """Runs counted into this server's metrics."""
        return RunCounter(self.metrics, listener)

    def start(self) -> None:
        """Serve on a thread of its own."""
        self._attached = Attached(self.app, self.metrics)
        if self._own_process:
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_INTERVAL)
        self._thread = threading.Thread(target=self._server.run, name="yamlcron-http", daemon=True)
        self._thread.start()
        log.info("serving HTTP on %s", self.url)

    def stop(self) -> None:
        """Close the listener and every connection, then join the threads."""
        if self._attached is not None:
            self._attached.close()
        close_server(self._server, self._sockets, self._thread)
        self._thread = None
        if self.reads is not self.app:
            self.reads.close()
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None


def answer_errors_as_json(sockets: dict[int, Any]) -> None:
    """Make waitress's own refusals JSON too: a request that is not HTTP, a body too big.

    They never reach the application; waitress answers them from its channel's error task,
    which every listening socket of ``sockets`` now builds as ``{"error": ...}``.
    """
    from waitress.channel import HTTPChannel
    from waitress.server import BaseWSGIServer
    from waitress.task import ErrorTask

    class JsonErrorTask(ErrorTask):  # type: ignore[misc]
        def execute(self) -> None:
            error = self.request.error
            message = f"{error.reason}: {error.body}" if error.body else error.reason
            body = json.dumps({"error": message}).encode()
            self.status = f"{error.code} {error.reason}"
            self.response_headers.append(("Content-Type", "application/json"))
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    class JsonErrorChannel(HTTPChannel):  # type: ignore[misc]
        error_task_class = JsonErrorTask

    for listener in list(sockets.values()):
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = JsonErrorChannel
