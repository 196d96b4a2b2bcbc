"""The HTTP server started and stopped with the service (``Yamlcron(http=...)``), in this process."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.tools import call
from yamlcron.app import Yamlcron
from yamlcron.errors import YamlcronError
from yamlcron.http import health
from yamlcron.http.options import HttpOptions, parse_address, read_token
from yamlcron.registry import build_registry
from yamlcron.scheduler.pulse import Pulse

MANIFEST = """\
version: 1
jobs:
  hello:
    trigger: {date: "2099-01-01T00:00:00+00:00"}
    run: {shell: "echo hello"}
"""


def service(folder: Path, token: str | None = "t0ken") -> Yamlcron:
    (folder / "jobs.yaml").write_text(MANIFEST)
    return Yamlcron(
        folder / "jobs.yaml",
        registry=build_registry(autoload=False),
        http=HttpOptions("127.0.0.1", 0, token),
    )


def test_the_server_starts_and_stops_with_the_service(tmp_path: Path) -> None:
    cron = service(tmp_path)
    cron.start()
    try:
        assert cron.http is not None
        url = cron.http.url
        assert call(url + "/readyz").json() == {"ready": True}
        run = call(url + "/api/v1/jobs/hello/trigger?wait=60", "POST", token="t0ken").json()
        assert run["status"] == "success"
    finally:
        cron.stop()
    parts = urlsplit(url)
    with pytest.raises(ConnectionRefusedError), socket.socket() as sock:
        sock.connect((parts.hostname, parts.port))
    # and the autouse fixture finds no thread of the server left behind


def test_a_store_in_memory_is_read_through_the_service_itself(tmp_path: Path) -> None:
    (tmp_path / "jobs.yaml").write_text(MANIFEST)
    cron = Yamlcron(
        tmp_path / "jobs.yaml",
        store="sqlite://:memory:",
        registry=build_registry(autoload=False),
        http=HttpOptions("127.0.0.1", 0, None),
    )
    cron.start()
    try:
        assert cron.http is not None
        jobs = call(cron.http.url + "/api/v1/jobs").json()
    finally:
        cron.stop()
    assert [job["id"] for job in jobs] == ["hello"]


def test_livez_is_503_while_a_pass_is_stuck_and_200_once_it_rests(tmp_path: Path) -> None:
    now = [0.0]
    cron = service(tmp_path)
    with cron:
        cron.scheduler.pulse = Pulse(lambda: now[0])
        cron.scheduler.pulse.passing()
        assert health.livez(cron).status == 200
        now[0] += health.STUCK_AFTER + 1
        stuck = health.livez(cron)
        assert stuck.status == 503
        assert b"has been in one pass for 61 s" in stuck.body
        cron.scheduler.pulse.resting()
        assert health.livez(cron).status == 200
        cron.scheduler.pulse.stopped = True
        assert b"has stopped" in health.livez(cron).body


def test_readyz_says_why_before_the_start(tmp_path: Path) -> None:
    with service(tmp_path) as cron:
        cron.apply()
        assert health.not_ready(cron, cron) == "no manifest is applied yet"
        ready = health.readyz(cron, cron)
        assert ready.status == 503


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("127.0.0.1:9746", ("127.0.0.1", 9746)),
        ("[::1]:80", ("::1", 80)),
        (":9746", ("0.0.0.0", 9746)),
        ("localhost:0", ("localhost", 0)),
    ],
)
def test_addresses(text: str, address: tuple[str, int]) -> None:
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["9746", "host:", "host:port", "host:70000", "::1:80", ""])
def test_bad_addresses(text: str) -> None:
    with pytest.raises(ValueError, match=r"HOST:PORT|brackets"):
        parse_address(text)


def test_the_token_file_wins_over_the_environment(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("  from-file  \n")
    assert read_token(tmp_path / "token", "from-env") == "from-file"
    assert read_token(None, "from-env") == "from-env"
    assert read_token(None, None) is None
    with pytest.raises(YamlcronError, match="YAMLCRON_HTTP_TOKEN is empty"):
        read_token(None, " ")
