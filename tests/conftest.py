from __future__ import annotations

import logging
import os
import sqlite3
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from yamlcron.cli import main
from yamlcron.interfaces import Store
from yamlcron.registry import build_registry

pytest_plugins = [
    "tests.processes",  # the `daemon` fixture: a real `yamlcron run`
    "tests.recorder",  # the `recorder` fixture: a real HTTP server that records requests
]

PROCESS_FOLDER = Path(__file__).parent / "process"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under ``tests/process/`` is a ``process`` test: the folder is the marker."""
    for item in items:
        if item.path.is_relative_to(PROCESS_FOLDER):
            item.add_marker(pytest.mark.process)


#: How long a test's threads and processes get to finish ending after it returns (a thread
#: being joined, a killed process not yet gone); what is still there then was left behind.
SETTLE_SECONDS = 10.0

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


#: Set (``.ci/run`` does): a test whose tool or library is missing fails instead of skipping.
STRICT_ENV = "YAMLCRON_TEST_STRICT"


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


@pytest.fixture(autouse=True)
def _leaves_nothing_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fail a test that leaves a thread, a logging handler or a process behind.

    A handler left on a stream that pytest closes after the test turns every later log
    line into a ``Logging error`` traceback; a thread or a process left running makes
    later tests, and CI, fail by chance.
    """
    base = tmp_path_factory.getbasetemp()
    threads = set(threading.enumerate())
    handlers = _handlers()
    processes = set(_processes(base))
    yield
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        extra_threads = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
        extra_processes = _new_processes(_processes(base), processes)
        if not (extra_threads or extra_processes) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    extra_handlers = {
        name: [h for h in now if h not in handlers.get(name, [])]
        for name, now in _handlers().items()
    }
    left = {
        "threads": [t.name for t in extra_threads],
        "logging handlers": {n: repr(h) for n, h in extra_handlers.items() if h},
        "processes": {pid: _cmdline(pid) for pid in sorted(extra_processes)},
    }
    assert not any(left.values()), f"the test left behind: {left}"


def _handlers() -> dict[str, list[logging.Handler]]:
    """Every logger's handlers, but pytest's own (it adds and removes them around each phase)
    and the NullHandlers that libraries add to their loggers when imported (they write nowhere)."""
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        v for v in logging.root.manager.loggerDict.values() if isinstance(v, logging.Logger)
    ]
    return {
        logger.name: [
            h
            for h in logger.handlers
            if not type(h).__module__.startswith("_pytest") and type(h) is not logging.NullHandler
        ]
        for logger in loggers
    }


#: Helpers that multiprocessing starts once and keeps for the life of the interpreter (the
#: ``process`` executor starts them): not a test's to end.
_INTERPRETER_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def _new_processes(now: dict[int, int], before: set[int]) -> set[int]:
    """The processes of ``now`` (pid: parent) that are new, leaving out the children of a
    process that was already there (a daemon a module-wide fixture keeps, and its warden):
    their owner answers for them when it ends."""
    new = set(now) - before
    owned = set()
    for pid in new:
        ancestor = now.get(pid)
        while ancestor in now and ancestor not in before:
            ancestor = now.get(ancestor)
        if ancestor in before:
            owned.add(pid)
    return new - owned


def _processes(base: Path) -> dict[int, int]:
    """Live processes of this test session, with their parents: this process's descendants,
    and any process (a re-parented grandchild too) whose working directory is in the
    session's temp folder."""
    parents: dict[int, int] = {}
    inside: set[int] = set()
    if not Path("/proc").is_dir():  # not Linux: nothing to look at
        return {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cwd = os.readlink(entry / "cwd")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state == "Z":  # exited, not yet reaped: not running
            continue
        parents[int(entry.name)] = int(ppid)
        if Path(cwd).is_relative_to(base):
            inside.add(int(entry.name))
    me = os.getpid()
    descendants = set()
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor is not None and ancestor != me:
            ancestor = parents.get(ancestor)
        if ancestor == me:
            descendants.add(pid)
    found = (descendants | inside) - {me}
    return {
        pid: parents[pid]
        for pid in found
        if not any(h in _cmdline(pid) for h in _INTERPRETER_HELPERS)
    }


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return "?"
