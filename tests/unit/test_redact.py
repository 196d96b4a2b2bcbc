"""A store URL's password never reaches a message, a log line or a listing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import GOOD, CliResult
from yamlcron.redact import redact_url, scrub

SECRET = "hunter2"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://cron:hunter2@db/cron", "postgresql://cron:***@db/cron"),
        ("postgresql://cron@db/cron?password=hunter2", "postgresql://cron@db/cron?password=***"),
        (
            "postgresql://db/cron?sslmode=require&PassWord=hunter2&sslpassword='hunter2'",
            "postgresql://db/cron?sslmode=require&PassWord=***&sslpassword=***",
        ),
        ("postgresql://c:p@ss@db:5432/x?a=1", "postgresql://c:***@db:5432/x?a=1"),
        ("host=db password=hunter2 dbname=cron", "host=db password=*** dbname=cron"),
        ("postgresql://cron@db/cron?password=", "postgresql://cron@db/cron?password="),
        ("sqlite:///srv/cron/state.db", "sqlite:///srv/cron/state.db"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_scrub_hides_each_secret_a_driver_quotes_back() -> None:
    url = "postgresql://cron:hunter2@db/x?sslpassword=other"
    text = 'invalid option: "sslpassword=other" for user cron (password hunter2)'
    assert scrub(text, url) == 'invalid option: "sslpassword=***" for user cron (password ***)'


def _with_password(url: str) -> str:
    """``url`` (``postgresql://user@host/...?...``) with the password given twice."""
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{SECRET}@{host}{'&' if '?' in host else '?'}password={SECRET}"


@pytest.mark.parametrize("command", ["replicas", "jobs", "history", "plan"])
def test_no_command_shows_the_password_of_a_reachable_store(
    cli: Callable[..., CliResult], project: Path, postgres_url: str, command: str
) -> None:
    url = _with_password(postgres_url)
    result = cli(command, "-f", project / "jobs.yaml", "--store", url)
    assert SECRET not in result.out + result.err
    assert "***" in result.out + result.err or command == "plan"


def test_no_error_shows_the_password_of_an_unreachable_store(
    cli: Callable[..., CliResult], project: Path
) -> None:
    for url in (
        f"postgresql://cron:{SECRET}@127.0.0.1:1/cron?password={SECRET}",
        f"postgresql://cron@127.0.0.1:1/cron?password={SECRET}&nonsense=1",
    ):
        result = cli("replicas", "-f", project / "jobs.yaml", "--store", url)
        assert result.code == 1
        assert "Traceback" not in result.err
        assert SECRET not in result.out + result.err, result
        assert (project / "jobs.yaml").read_text() == GOOD
