"""A real `yamlcron run` process for tests, and the store it writes, read with sqlite3."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


def clean_env() -> dict[str, str]:
    """This environment without YAMLCRON_* settings, for a real yamlcron process."""
    return {k: v for k, v in os.environ.items() if not k.startswith("YAMLCRON_")}


class Daemon:
    def __init__(
        self, folder: Path, *args: str, env: dict[str, str] | None = None, session: bool = False
    ) -> None:
        """``yamlcron run -f jobs.yaml ARGS`` in ``folder``; ``session``: in a session and
        process group of its own, as a terminal starts a command."""
        self.folder = folder
        self.log = folder / "daemon.log"
        with self.log.open("w") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "yamlcron", "run", "-f", "jobs.yaml", *args],
                cwd=folder,
                env=clean_env() if env is None else env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=session,
            )

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        db_path = self.folder / ".yamlcron" / "state.db"
        if not db_path.exists():
            return []
        with sqlite3.connect(db_path, timeout=10) as db:
            try:
                return db.execute(sql, args).fetchall()
            except sqlite3.OperationalError:  # not migrated yet
                return []

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            if self.proc.poll() is not None:
                pytest.fail(
                    f"yamlcron run exited ({self.proc.returncode}) waiting for {what}:\n"
                    + self.log.read_text()
                )
            time.sleep(0.05)
        pytest.fail(f"timed out waiting for {what}:\n{self.log.read_text()}")

    def statuses(self, job: str) -> list[str]:
        return [
            r[0] for r in self.rows("SELECT status FROM runs WHERE job_id = ? ORDER BY id", job)
        ]

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def exit_code(self, timeout: float = 60) -> int:
        """The daemon's exit code; on a timeout, its log says where it stood."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"the daemon did not exit within {timeout} s; its log:\n{self.log.read_text()}"
            )


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(jobs: str, *args: str) -> Daemon:
        (tmp_path / "jobs.yaml").write_text(
            "version: 1\njobs:\n" + textwrap.indent(textwrap.dedent(jobs), "  ")
        )
        started.append(Daemon(tmp_path, *args))
        return started[-1]

    yield start
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


def cli(folder: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "yamlcron", *args],
        cwd=folder,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


#: The daemon's log line that says where it serves HTTP.
SERVING = re.compile(r"serving HTTP on (http://\S+)")


@dataclass(frozen=True)
class Served:
    """A real ``yamlcron run --http`` and the URL it serves on."""

    daemon: Daemon
    url: str


def url_of(daemon: Daemon) -> str:
    """Where ``daemon`` serves HTTP, once it says so in its log."""
    daemon.wait_for(lambda: SERVING.search(daemon.log.read_text()) is not None, "serving")
    found = SERVING.search(daemon.log.read_text())
    assert found is not None
    return found.group(1)


@contextmanager
def serving(folder: Path, *args: str) -> Iterator[Served]:
    """``yamlcron run --http 127.0.0.1:0 ARGS`` in ``folder`` (its manifest written already),
    once it serves; SIGTERM after, which it must answer with a clean exit and no traceback."""
    daemon = Daemon(folder, "--http", "127.0.0.1:0", *args)
    try:
        yield Served(daemon, url_of(daemon))
    finally:
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0
        assert "Traceback" not in daemon.log.read_text()
