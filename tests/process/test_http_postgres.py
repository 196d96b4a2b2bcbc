"""A PostgreSQL outage under a daemon with ``--http``: /livez stays 200, /readyz turns 503 and back."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.conftest import POSTGRES_ENV
from tests.processes import Daemon, Served, url_of
from tests.tools import call

pytestmark = [pytest.mark.process, pytest.mark.postgres]


@pytest.fixture
def database() -> Iterator[tuple[str, Callable[[bool], None]]]:
    """A database of its own, and a switch that lets connections in or throws them all out."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"set {POSTGRES_ENV} to run the PostgreSQL tests")
    name = f"yc_http_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def allow(yes: bool) -> None:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(yes).lower()}')
            if not yes:  # ALLOW_CONNECTIONS bars new sessions only: end the open ones
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )

    parts = urlsplit(base)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}")), allow
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_an_outage_fails_readiness_not_liveness(
    tmp_path: Path, database: tuple[str, Callable[[bool], None]]
) -> None:
    url, allow = database
    (tmp_path / "jobs.yaml").write_text(
        "version: 1\njobs:\n  tick: {trigger: {interval: 1s}, run: {shell: 'echo tick'}}\n"
    )
    daemon = Daemon(tmp_path, "--store", url, "--http", "127.0.0.1:0", "--lease-ttl", "3")
    try:
        served = Served(daemon, url_of(daemon))
        daemon.wait_for(lambda: call(served.url + "/readyz").status == 200, "ready")
        allow(False)
        lives = []

        def down() -> bool:
            lives.append(call(served.url + "/livez").status)
            return call(served.url + "/readyz").status == 503

        daemon.wait_for(down, "readyz 503 in the outage")
        reply = call(served.url + "/readyz")
        assert reply.json()["ready"] is False
        assert "store" in reply.json()["reason"]
        # The loop keeps trying, resting between passes: alive, every time it is asked.
        for _ in range(20):
            lives.append(call(served.url + "/livez").status)
            time.sleep(0.1)
        assert set(lives) == {200}
        assert call(served.url + "/metrics").status == 200
        allow(True)
        daemon.wait_for(lambda: call(served.url + "/readyz").status == 200, "ready again", 60)
        errors = [
            line
            for line in call(served.url + "/metrics").body.decode().splitlines()
            if line.startswith("yamlcron_store_errors_total ")
        ]
        assert float(errors[0].split()[1]) > 0
    finally:
        daemon.signal(signal.SIGTERM)
        daemon.exit_code()
