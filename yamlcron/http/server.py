"""The HTTP server of a running service: bound at start, served on threads, stopped with it.

waitress serves the WSGI application (``routes``): pure Python, a fixed pool of worker
threads behind one event loop, so a thousand idle connections cost sockets, not threads,
and no request can take more than ``THREADS`` threads from the scheduler.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from typing import TYPE_CHECKING, Any

from yamlcron.errors import YamlcronError
from yamlcron.http.routes import Application
from yamlcron.http.web import Context

if TYPE_CHECKING:
    from yamlcron.app import Yamlcron
    from yamlcron.http.options import HttpOptions
    from yamlcron.metrics import Metrics

log = logging.getLogger("yamlcron.http")

#: Requests handled at once; more wait in the queue. Each answer is a store read or two.
THREADS = 6
#: Connections held open at once (idle keep-alives included); more wait in the backlog.
CONNECTIONS = 1024
#: An idle keep-alive connection is closed after this many seconds.
IDLE_TIMEOUT = 60
#: The interpreter's switch interval while serving in a process that is yamlcron's own.
#: A thread that releases the GIL (the loop, at every store call) waits up to this long to
#: get it back from a busy one (a scrape, a JSON answer): at the default 5 ms, a scrape of a
#: thousand jobs delayed fires by its whole length (bench/http.py, bench/README.md).
SWITCH_INTERVAL = 0.0005
#: Bodies past this are refused by waitress before the application sees them; between
#: ``MAX_BODY`` and this, the application refuses them as JSON.
HARD_BODY_LIMIT = 1024 * 1024


class HttpServer:
    """Binds ``options``'s address at once (a port in use is a one-line error), then serves.

    ``start`` serves on a thread of its own and has ``metrics`` hear the manifest's events
    (the service's scheduler counts runs into them: ``Metrics.counting``); ``stop`` closes
    every connection and joins every thread it started.
    """

    def __init__(self, app: Yamlcron, options: HttpOptions) -> None:
        from waitress.server import create_server

        from yamlcron.metrics import Metrics

        self.options = options
        reader = app.reader()  # requests never wait for the loop's store connection
        self.reads = reader or app
        self._close_reads = reader.close if reader is not None else lambda: None
        self.metrics: Metrics = Metrics(app, self.reads)
        self._map: dict[int, Any] = {}
        try:
            self._server: Any = create_server(
                Application(Context(app, self.reads, options), self.metrics),
                map=self._map,
                host=options.host,
                port=options.port,
                threads=THREADS,
                connection_limit=CONNECTIONS,
                channel_timeout=IDLE_TIMEOUT,
                max_request_body_size=HARD_BODY_LIMIT,
                # select() cannot watch more than 1024 descriptors; poll() can.
                asyncore_use_poll=True,
                ident="yamlcron",
            )
        except OSError as exc:
            self._close_reads()
            raise YamlcronError(
                f"cannot serve HTTP on {options.address}: {exc.strerror or exc}"
            ) from None
        answer_errors_as_json(self._map)
        self._thread: threading.Thread | None = None
        self._own_process = app.config.freeze_gc  # set by `yamlcron run`: the process is ours
        self._switch_interval: float | None = None

    @property
    def url(self) -> str:
        """Where it listens, with the port the system chose for port 0."""
        server = self._server  # a host with several addresses gets one socket each
        listen = getattr(server, "effective_listen", None) or [
            (server.effective_host, server.effective_port)
        ]
        host, port = listen[0]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}"

    def start(self) -> None:
        """Serve on a thread of its own, and count reloads."""
        self.metrics.attach()
        if self._own_process:
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_INTERVAL)
        self._thread = threading.Thread(target=self._server.run, name="yamlcron-http", daemon=True)
        self._thread.start()
        log.info("serving HTTP on %s", self.url)

    def stop(self) -> None:
        """Close the listener and every connection, then join the threads."""
        from waitress import trigger, wasyncore

        self.metrics.detach()
        if self._thread is not None:
            # The event loop's sockets are its own: it closes them itself, then ends.
            bell = trigger.trigger(self._map)
            bell.pull_trigger(lambda: wasyncore.close_all(self._map, ignore_all=True))
            self._thread.join(timeout=5)
            self._thread = None
        else:
            wasyncore.close_all(self._map, ignore_all=True)
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        self._close_reads()
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
