"""A real HTTP server on 127.0.0.1 that records the requests it gets: pings, webhooks."""

from __future__ import annotations

import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from yamlcron import Run, Yamlcron
from yamlcron.registry import build_registry


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    headers: dict[str, str]
    at: float  # time.monotonic() when it arrived


class Recorder:
    """Answers every GET, HEAD and POST with ``status`` and keeps what it got, in order."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.status = 200
        #: Seconds to wait before taking a request, by path: a slow server.
        self.delays: dict[str, float] = {}
        self._arrived = threading.Condition()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urllib.parse.urlsplit(self.path)
                time.sleep(recorder.delays.get(parts.path, 0.0))
                request = Request(
                    self.command,
                    parts.path,
                    dict(urllib.parse.parse_qsl(parts.query)),
                    body,
                    dict(self.headers),
                    time.monotonic(),
                )
                with recorder._arrived:  # before answering: a client that got its answer finds it
                    recorder.requests.append(request)
                    recorder._arrived.notify_all()
                self.send_response(recorder.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            do_GET = do_POST = do_HEAD = _record

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="recorder")
        self._thread.start()

    def count(self) -> int:
        with self._arrived:
            return len(self.requests)

    def wait_for(self, count: int, timeout: float = 20) -> list[Request]:
        """The requests once there are at least ``count`` of them; fails the test after ``timeout``."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                pytest.fail(f"{len(self.requests)} requests arrived, not {count}")
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


def closed_port() -> int:
    """A port on 127.0.0.1 that nobody listens on (a server that is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_jobs(tmp_path: Path, text: str, *jobs: str) -> tuple[list[Run], list[tuple[str, str]]]:
    """Trigger ``jobs`` one after the other through a started service (manifest ``text``);
    their final runs, and each notifier delivery counted as ``(via, result)``."""
    counted: list[tuple[str, str]] = []
    lock = threading.Lock()

    def count(via: str, result: str) -> None:
        with lock:
            counted.append((via, result))

    cron = Yamlcron.from_text(text, tmp_path, registry=build_registry(autoload=False))
    cron.events.observe_deliveries(count)
    cron.start()
    try:
        runs = [cron.trigger(job).result(timeout=20) for job in jobs]
        assert cron.scheduler.flush(30)  # every end recorded and announced...
        assert cron.events.flush(timeout=30)  # ...and heard by the notifiers
    finally:
        cron.stop(timeout=5)
    return runs, counted
