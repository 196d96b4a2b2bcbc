"""The example web apps (examples/webapps/) under real servers with several workers: every
fire runs once; ``kill -9`` of the active worker, and a standby takes over."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.processes import clean_env
from tests.tools import ROOT, require_modules

pytestmark = pytest.mark.process

EXAMPLES = ROOT / "examples" / "webapps"


class Site:
    """A web server running an example app in a copy of examples/webapps/."""

    def __init__(self, folder: Path, args: list[str], env: dict[str, str], log: str) -> None:
        self.folder = folder
        self.log = folder / log
        # A home of its own: gunicorn 24+ puts its control socket there.
        home = folder / f"home-{log}"
        home.mkdir()
        env = env | {"HOME": str(home)}
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", *args],
                cwd=folder,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its workers go with it, whatever happens to them
            )

    def fires(self) -> list[tuple[str, int]]:
        """(scheduled time, worker pid) of each run, from the file the job appends to."""
        path = self.folder / "fires.log"
        lines = path.read_text().splitlines() if path.exists() else []
        return [(at, int(pid)) for at, pid in (line.split() for line in lines if " " in line)]

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"no {what}: server {self.proc.poll()}\n{self.log.read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        _kill_group(self.proc.pid)


def _kill_group(pgid: int) -> None:
    """End the workers a server may have left in its session."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Site]]:
    folder = tmp_path / "site"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns("__pycache__", ".yamlcron"))
    started: list[Site] = []

    def start(*args: str, store: str | None = None, log: str = "server.log") -> Site:
        env = clean_env() | {"PYTHONPATH": str(folder), "YAMLCRON_FILE": str(folder / "jobs.yaml")}
        if store:
            env["YAMLCRON_STORE"] = store
        started.append(Site(folder, list(args), env, log))
        return started[-1]

    yield start
    for site in started:
        site.stop()


def active_worker(site: Site) -> int:
    """The pid holding the SQLite store's daemon lock (written in its lock file)."""
    text = (site.folder / ".yamlcron" / "state.db.daemon").read_text()
    return int(text.split()[1])


def once_each_and_taken_over(site: Site, workers: int) -> None:
    """Every fire once; the active worker killed; another takes over; still once each."""
    site.wait_for(lambda: len(site.fires()) >= 3, "three fires")
    active = active_worker(site)
    assert {pid for _, pid in site.fires()} == {active}
    assert len(_children(site.proc.pid)) >= workers  # the others are alive, standing by
    os.kill(active, signal.SIGKILL)
    site.wait_for(
        lambda: (
            len({pid for _, pid in site.fires()} - {active}) == 1
            and len([f for f in site.fires() if f[1] != active]) >= 3
        ),
        "three fires by a worker that took over",
    )
    site.stop()
    times = Counter(at for at, _ in site.fires())
    assert [at for at, n in times.items() if n > 1] == []
    assert "standing by" in site.log.read_text()
    # No fire lost: every second from the first fire to the last is in the store, run (in
    # the file) or, while nobody scheduled, coalesced into the next one and recorded missed.
    with sqlite3.connect(site.folder / ".yamlcron" / "state.db") as db:
        rows = db.execute("SELECT scheduled_at, status FROM runs ORDER BY scheduled_at").fetchall()
    seconds = [at // 1_000_000 for at, _ in rows]
    assert seconds == list(range(seconds[0], seconds[0] + len(seconds)))
    status = {at / 1_000_000: status for at, status in rows}
    written = {datetime.fromisoformat(at).timestamp() for at in times}
    assert {at for at, s in status.items() if s == "success"} <= written
    # The killed worker may have run a fire it could not record: found interrupted.
    assert {status[at] for at in written} <= {"success", "interrupted"}
    assert set(status.values()) <= {"success", "missed", "interrupted"}


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError):
            continue
        if ppid == str(pid):
            found.append(int(entry.name))
    return found


def test_flask_under_gunicorn_with_four_workers(serve: Callable[..., Site]) -> None:
    require_modules("flask", "gunicorn")
    site = serve("gunicorn", "-w", "4", "-b", "127.0.0.1:0", "flask_app:app")
    once_each_and_taken_over(site, workers=4)


def test_flask_preloaded_by_gunicorn_starts_in_each_worker(serve: Callable[..., Site]) -> None:
    require_modules("flask", "gunicorn")
    site = serve("gunicorn", "-c", "gunicorn_preload.py", "flask_app:app")
    once_each_and_taken_over(site, workers=4)
    assert active_worker(site) != site.proc.pid  # a worker, not the master


def test_fastapi_under_uvicorn_with_four_workers(serve: Callable[..., Site]) -> None:
    require_modules("fastapi", "uvicorn")
    site = serve("uvicorn", "--workers", "4", "--port", "0", "fastapi_app:app")
    once_each_and_taken_over(site, workers=4)


def test_django_under_gunicorn_and_its_management_command(serve: Callable[..., Site]) -> None:
    require_modules("django", "gunicorn")
    site = serve("gunicorn", "-w", "2", "-b", "127.0.0.1:0", "djangosite.wsgi")
    once_each_and_taken_over(site, workers=2)
    env = clean_env() | {"PYTHONPATH": str(site.folder)}
    history = subprocess.run(
        [sys.executable, "manage.py", "yamlcron", "history", "tick", "--output", "json"],
        cwd=site.folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert history.returncode == 0, history.stderr
    assert '"status": "success"' in history.stdout


@pytest.mark.postgres
def test_flask_on_postgresql_with_two_gunicorn_masters(
    serve: Callable[..., Site], postgres_url: str
) -> None:
    require_modules("flask", "gunicorn")
    args = ("gunicorn", "-w", "2", "-b", "127.0.0.1:0", "flask_app:app")
    first = serve(*args, store=postgres_url, log="first.log")
    second = serve(*args, store=postgres_url, log="second.log")
    first.wait_for(lambda: len(first.fires()) >= 8, "eight fires")
    second.wait_for(lambda: len(second.fires()) >= 10, "ten fires")
    first.stop()
    second.stop()
    times = Counter(at for at, _ in first.fires())
    assert [at for at, n in times.items() if n > 1] == []
    assert "standing by" not in first.log.read_text() + second.log.read_text()
