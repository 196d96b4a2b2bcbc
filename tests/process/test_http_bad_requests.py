"""Bad requests against a real daemon: a clear status, a JSON error, and nothing else changes."""

from __future__ import annotations

import json
import re
import selectors
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import dump_store
from tests.process.test_http_api import TOKEN, write
from tests.processes import Daemon, Served, serving
from tests.tools import call

pytestmark = pytest.mark.process  # real processes: not in the lower-bounds job


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("bad")
    (folder / "token").write_text(TOKEN)
    write(folder)
    with serving(folder, "--http-token-file", "token") as served:
        yield served


@pytest.fixture
def unchanged(served: Served) -> Iterator[None]:
    """The store holds the very same rows after the test's requests."""
    path = served.daemon.folder / ".yamlcron" / "state.db"
    before = _state(path)
    yield
    assert call(served.url + "/livez").status == 200  # still serving
    assert _state(path) == before


def _state(path: Path) -> dict[str, list[tuple[object, ...]]]:
    rows = dump_store(path)
    rows.pop("nodes", None)  # the lease's heartbeat, not ours to freeze
    return rows


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nowhere", 404),
        ("GET", "/api/v1", 404),
        ("GET", "/api/v2/jobs", 404),
        ("GET", "/api/v1/jobs/hello/unknown", 404),
        ("GET", "/api/v1/runs/12abc", 404),
        ("GET", "/api/v1/runs/999999", 404),
        ("GET", "/api/v1/runs/99999999999999999999999", 404),
        ("DELETE", "/api/v1/jobs", 405),
        ("PUT", "/api/v1/jobs/hello", 405),
        ("POST", "/livez", 405),
        ("POST", "/metrics", 405),
        ("GET", "/api/v1/jobs/hello/trigger", 405),
        ("GET", "/api/v1/jobs/hello/runs?limit=0", 400),
        ("GET", "/api/v1/jobs/hello/runs?limit=many", 400),
        ("GET", "/api/v1/jobs/hello/runs?limit=100000", 400),
        ("GET", "/api/v1/jobs/hello/runs?status=exploded", 400),
        ("GET", "/api/v1/jobs/%2e%2e/runs", 404),
        ("GET", "/api/v1/jobs/..%2f..%2fetc%2fpasswd", 404),
        ("GET", "/api/v1/jobs/%00hello", 404),
        ("GET", "/api/v1/jobs/hello%2F..%2F..", 404),
        ("GET", "/api/v1/jobs/" + "a" * 65, 404),
        ("GET", "/api/v1/jobs/%ff%fe", 400),
        ("POST", "/api/v1/jobs/..%2Fhello/trigger", 404),
        ("POST", "/api/v1/jobs/hello/trigger?wait=-1", 400),
        ("POST", "/api/v1/jobs/hello/trigger?wait=nan", 400),
        ("POST", "/api/v1/jobs/hello/trigger?wait=100000", 400),
        # The status page's errors, asked for by a program (no HTML in its Accept).
        ("GET", "/jobs/unknown", 404),
        ("GET", "/runs/999999", 404),
        ("GET", "/?status=exploded", 400),
        ("POST", "/jobs/hello", 405),
    ],
)
def test_a_bad_request_gets_a_json_error_and_changes_nothing(
    served: Served, unchanged: None, method: str, path: str, status: int
) -> None:
    reply = call(served.url + path, method, token=TOKEN)
    assert reply.status == status
    assert reply.headers["Content-Type"] == "application/json"
    assert isinstance(reply.json()["error"], str)
    if status == 405:
        assert reply.headers["Allow"]


@pytest.mark.parametrize(("path", "status"), [("/jobs/unknown", 404), ("/?status=exploded", 400)])
def test_a_browser_gets_the_status_pages_errors_as_pages(
    served: Served, path: str, status: int
) -> None:
    reply = call(served.url + path, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert reply.status == status
    assert reply.headers["Content-Type"].startswith("text/html")
    assert b"Back to the jobs" in reply.body


@pytest.mark.parametrize(
    ("token", "status"),
    [(None, 401), ("wrong", 401), (TOKEN + "x", 401), (TOKEN[:-1], 401), ("", 401)],
)
@pytest.mark.parametrize("action", ["trigger", "pause", "resume"])
def test_a_wrong_or_missing_token_is_401_and_changes_nothing(
    served: Served, unchanged: None, action: str, token: str | None, status: int
) -> None:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    reply = call(served.url + f"/api/v1/jobs/hello/{action}", "POST", headers=headers)
    assert reply.status == status
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert "error" in reply.json()


def test_another_scheme_than_bearer_is_401(served: Served, unchanged: None) -> None:
    headers = {"Authorization": f"Basic {TOKEN}"}
    assert call(served.url + "/api/v1/jobs/hello/pause", "POST", headers=headers).status == 401


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"{not json", 400), (b"[1, 2]", 400), (b"\xff\xfe", 400), (b"x" * (64 * 1024 + 1), 413)],
)
def test_a_malformed_or_big_body_is_refused_and_changes_nothing(
    served: Served, unchanged: None, body: bytes, status: int
) -> None:
    reply = call(served.url + "/api/v1/jobs/hello/pause", "POST", token=TOKEN, body=body)
    assert reply.status == status
    assert "error" in reply.json()


def test_a_huge_body_is_refused_unread(served: Served, unchanged: None) -> None:
    """A client announcing a gigabyte is answered 413 at once, without sending it."""
    reply = _raw(
        served.url,
        b"POST /api/v1/jobs/hello/pause HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {TOKEN}\r\n".encode()
        + b"Content-Length: 1073741824\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert reply.endswith(b'"}')  # JSON, though the application never saw it


def test_a_malformed_request_line_is_400(served: Served, unchanged: None) -> None:
    reply = _raw(served.url, b"NONSENSE\r\n\r\n")
    assert re.match(rb"HTTP/1\.[01] 400 ", reply)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"Content-Type: application/json" in head
    assert json.loads(body) == {"error": "Bad Request: Start line is invalid"}


def test_head_is_get_without_a_body(served: Served) -> None:
    reply = call(served.url + "/api/v1/jobs", "HEAD")
    assert reply.status == 200
    assert reply.body == b""
    assert int(reply.headers["Content-Length"]) > 0


def test_a_thousand_concurrent_connections_are_all_answered(
    served: Served, unchanged: None
) -> None:
    """A thousand clients at once, each asking /livez: each gets its 200, and no thread each."""
    host, port = _address(served.url)
    threads = _threads(served.daemon)
    selector = selectors.DefaultSelector()
    clients = []
    try:
        for _ in range(1000):
            sock = socket.create_connection((host, port), timeout=60)
            clients.append(sock)
        request = b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        for sock in clients:
            sock.sendall(request)
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, bytearray())
        answers = _read_all(selector, len(clients))
    finally:
        selector.close()
        for sock in clients:
            sock.close()
    assert len(answers) == 1000
    assert all(a.startswith(b"HTTP/1.1 200 ") and a.endswith(b'{"alive": true}') for a in answers)
    assert _threads(served.daemon) < threads + 10  # a fixed pool, not a thread each


def _read_all(selector: selectors.BaseSelector, count: int) -> list[bytes]:
    answers: list[bytes] = []
    while len(answers) < count:
        events = selector.select(timeout=60)
        assert events, f"no answer within 60 s; {len(answers)} of {count} answered"
        for key, _ in events:
            sock, buffer = key.fileobj, key.data
            assert isinstance(sock, socket.socket)
            chunk = sock.recv(65536)
            if chunk:
                buffer.extend(chunk)
                continue
            selector.unregister(sock)
            answers.append(bytes(buffer))
    return answers


def _threads(daemon: Daemon) -> int:
    return len(list(Path(f"/proc/{daemon.proc.pid}/task").iterdir()))


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def _raw(url: str, data: bytes) -> bytes:
    """What the server answers to ``data``, read until it closes the connection."""
    answer = b""
    with socket.create_connection(_address(url), timeout=60) as sock:
        sock.sendall(data)
        while chunk := sock.recv(65536):
            answer += chunk
    return answer
