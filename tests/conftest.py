from __future__ import annotations

import os
import sqlite3
import textwrap
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from yamlcron.cli import main
from yamlcron.registry import build_registry
from yamlcron.runs import Store

pytest_plugins = ["tests.processes"]  # the `daemon` fixture: a real `yamlcron run`

GOOD = """\
version: 1
defaults:
  timezone: Europe/Berlin
  retry: {attempts: 2, delay: 5s}
jobs:
  backup:
    trigger: {cron: "0 3 * * *"}
    run: {command: ["echo", "backup"], timeout: 30m}
  cleanup:
    trigger: {interval: 15m}
    run: {shell: "echo cleanup"}
  report:
    trigger: {after: backup, when: success}
    run: {call: "tasks:report", kwargs: {days: 7}}
  launch:
    trigger: {date: "2031-12-01T09:00:00+01:00"}
    run: {command: ["echo", "launch"]}
"""


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out!r}, err={self.err!r})"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder holding the GOOD manifest as jobs.yaml."""
    (tmp_path / "jobs.yaml").write_text(GOOD)
    return tmp_path


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], Path]:
    def _write(text: str, name: str = "jobs.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return _write


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., CliResult]:
    """Run the real command line in this process, with only the built-in plugins."""
    monkeypatch.delenv("YAMLCRON_STORE", raising=False)
    monkeypatch.delenv("YAMLCRON_FILE", raising=False)

    def run(*args: str | Path) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args], make_registry=lambda: build_registry(autoload=False))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def dump_store(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, to prove a failed command changed nothing."""
    if not path.exists():
        return {}
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}


#: A PostgreSQL database the tests may create schemas in; without it they are skipped
#: (``.ci/run`` sets it, and fails when the server cannot be reached).
POSTGRES_ENV = "YAMLCRON_TEST_POSTGRES_URL"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A store URL on the real PostgreSQL server, in a fresh schema dropped afterwards."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"set {POSTGRES_ENV} to run the PostgreSQL tests")
    schema = f"yc_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as db:
        db.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    with psycopg.connect(base, autocommit=True) as db:
        db.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["file", "memory", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store on every backend: a SQLite file, memory, PostgreSQL."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite://{tmp_path / 'state.db'}" if request.param == "file" else "sqlite://:memory:"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """The store under test, on every backend."""
    with _handles(store_url) as open_store:
        yield open_store()


@pytest.fixture(params=["file", "postgres"])
def open_shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Open handles (each a connection of its own) on one store that processes can share."""
    if request.param == "postgres":
        url = str(request.getfixturevalue("postgres_url"))
    else:
        url = f"sqlite://{tmp_path / 'state.db'}"
    with _handles(url) as open_store:
        yield open_store


@pytest.fixture
def replicas(postgres_url: str) -> Iterator[Callable[[], Store]]:
    """Open handles on one PostgreSQL store, as several replicas would."""
    with _handles(postgres_url) as open_store:
        yield open_store


@contextmanager
def _handles(url: str) -> Iterator[Callable[[], Store]]:
    opened: list[Store] = []

    def open_store() -> Store:
        opened.append(build_registry(autoload=False).open_store(url, create=True))
        return opened[-1]

    try:
        yield open_store
    finally:
        for handle in opened:
            handle.close()
