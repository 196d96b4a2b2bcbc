"""The webhook notifier against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from yamlcron import RunStatus, Yamlcron
from yamlcron.registry import build_registry


class Hook:
    """A local webhook receiver whose behaviour a test sets: 200, 500, or slow."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], dict[str, str]]] = []
        self.status = 200
        self.location = ""  # sent with a 3xx status
        self.delay = 0.0
        self.event = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(hook.delay)
                hook.received.append((json.loads(body), dict(self.headers)))
                self.send_response(hook.status)
                if hook.location:
                    self.send_header("Location", hook.location)
                self.end_headers()
                hook.event.set()

            def do_GET(self) -> None:  # where a followed redirect would turn the POST
                hook.received.append(({}, dict(self.headers)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/s3cr3t-path"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.close()


@pytest.fixture
def elsewhere() -> Iterator[Hook]:
    """A second receiver, at another origin (another port)."""
    server = Hook()
    yield server
    server.close()


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "t0ken")


def manifest(url: str) -> str:
    return f"""\
version: 1
jobs:
  flaky:
    trigger: {{cron: "0 0 1 1 *"}}
    run: {{shell: "echo oops; exit 2"}}
    notify:
      - via: webhook
        url: "{url}"
        on: [failure]
        timeout: 1s
        retries: 2
        headers: {{Authorization: "Bearer ${{HOOK_TOKEN}}"}}
"""


def run_twice(tmp_path: Path, url: str) -> Yamlcron:
    cron = Yamlcron.from_text(manifest(url), tmp_path, registry=build_registry(autoload=False))
    cron.start()
    for _ in range(2):  # the second run shows the scheduler carried on
        run = cron.trigger("flaky").result(timeout=20)
        assert (run.status, run.exit_code, run.output) == (RunStatus.FAILURE, 2, "oops\n")
    return cron


def test_posts_the_event_as_json(
    tmp_path: Path, hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "t0ken")
    cron = run_twice(tmp_path, hook.url)
    assert cron.events.flush(timeout=20)
    cron.stop(timeout=5)
    assert len(hook.received) == 2
    body, headers = hook.received[0]
    assert body["event"] == "run.failed"
    assert body["notify"] == ["failure"]
    assert body["run"]["job_id"] == "flaky"
    assert body["run"]["exit_code"] == 2
    assert headers["Authorization"] == "Bearer t0ken"
    assert headers["Content-Type"] == "application/json"


def test_a_500_is_retried_then_given_up(
    tmp_path: Path, hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    hook.status = 500
    cron = run_twice(tmp_path, hook.url)
    assert cron.events.flush(timeout=30)
    cron.stop(timeout=5)
    assert len(hook.received) == 6  # two events, each tried three times
    messages = [r.getMessage() for r in caplog.records if r.name == "yamlcron.notify.webhook"]
    assert (
        messages
        == [
            f"webhook http://127.0.0.1:{hook.server.server_address[1]} failed 3 times "
            "(HTTP 500); giving up on this event"
        ]
        * 2
    )
    assert not any("s3cr3t" in r.getMessage() for r in caplog.records)  # the URL's path is secret


def test_a_slow_server_times_out(tmp_path: Path, hook: Hook) -> None:
    hook.delay = 2.0
    started = time.monotonic()
    cron = run_twice(tmp_path, hook.url)
    assert time.monotonic() - started < 5  # runs never wait for notifications
    assert [r.status for r in cron.history("flaky")] == [RunStatus.FAILURE] * 2
    assert cron.events.flush(timeout=30)
    cron.stop(timeout=5)


def test_a_server_that_is_down(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cron = run_twice(tmp_path, f"http://127.0.0.1:{port}/x")
    assert cron.events.flush(timeout=30)
    cron.stop(timeout=5)
    assert any("URLError" in r.getMessage() for r in caplog.records)


def _webhook_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "yamlcron.notify.webhook"]


@pytest.mark.parametrize(
    "redirect", [(s, o) for s in (301, 302, 307, 308) for o in ("another", "the same")]
)
@pytest.mark.usefixtures("token")
def test_a_redirect_is_not_followed(
    tmp_path: Path,
    hook: Hook,
    elsewhere: Hook,
    caplog: pytest.LogCaptureFixture,
    redirect: tuple[int, str],
) -> None:
    status, origin = redirect
    hook.status = status
    hook.location = elsewhere.url if origin == "another" else hook.url + "/moved"
    cron = run_twice(tmp_path, hook.url)
    assert cron.events.flush(timeout=30)
    cron.stop(timeout=5)
    assert len(hook.received) == 2  # one POST per event, not retried
    assert elsewhere.received == []
    assert all(body for body, _ in hook.received)  # no GET came back to the same origin
    assert (
        _webhook_lines(caplog)
        == [
            f"webhook http://127.0.0.1:{hook.server.server_address[1]} answered HTTP {status}, "
            "a redirect: not followed (redirects are never followed; put the new URL in the manifest)"
        ]
        * 2
    )


AFTER = "(after ${VAR} expansion)"


@pytest.mark.parametrize(
    "case",
    [
        (
            "t0ken\r\nX-Evil: yes",
            "s3cr3t-path",
            "header 'Authorization' holds a line break or a control character",
        ),
        ("t0ken", "s3cr3t path", f"its URL holds a space or a control character {AFTER}"),
        ("t0ken", "s3cr3t\npath", f"its URL holds a space or a control character {AFTER}"),
    ],
    ids=["header with a line break", "URL with a space", "URL with a newline"],
)
def test_an_unsendable_secret_is_never_logged(
    tmp_path: Path,
    hook: Hook,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[str, str, str],
) -> None:
    secret, path, problem = case
    monkeypatch.setenv("HOOK_TOKEN", secret)
    monkeypatch.setenv("HOOK_PATH", path)
    url = hook.url.replace("s3cr3t-path", "${HOOK_PATH}")
    cron = run_twice(tmp_path, url)
    assert cron.events.flush(timeout=30)
    cron.stop(timeout=5)
    assert hook.received == []
    port = hook.server.server_address[1]
    assert _webhook_lines(caplog) == [f"webhook http://127.0.0.1:{port}: not sent: {problem}"] * 2
    assert "t0ken" not in caplog.text
    assert "s3cr3t" not in caplog.text
    assert "Traceback" not in caplog.text
