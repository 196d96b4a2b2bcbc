"""Yamlcron embedded in every worker of a web app: one active scheduler per SQLite store, the
others standing by and taking over; every process a replica on PostgreSQL; safe under fork."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.processes import clean_env
from yamlcron import RunStatus, Yamlcron
from yamlcron.errors import ManifestError
from yamlcron.registry import build_registry

MANIFEST = """\
version: 1
jobs:
  answer:
    trigger: {cron: "0 0 1 1 *"}
    run: {call: "embed_tasks:answer"}
"""


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    (tmp_path / "embed_tasks.py").write_text("def answer():\n    return 42\n")
    path = tmp_path / "jobs.yaml"
    path.write_text(MANIFEST)
    return path


def worker(manifest: Path, store: str | None = None) -> Yamlcron:
    """What each web worker builds."""
    return Yamlcron(manifest, store=store, registry=build_registry(autoload=False))


def eventually(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    """Wait for ``check``; the deadline only ends a test that would otherwise hang."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_second_worker_on_sqlite_stands_by_and_takes_over(
    manifest: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="yamlcron")
    first, second = worker(manifest), worker(manifest)
    try:
        assert [s.id for s in first.start().add] == ["answer"]
        plan = second.start()  # no StoreError: the store's lock is taken
        assert (plan.add, plan.change, plan.remove, plan.unchanged) == ((), (), (), 1)
        assert (first.standing_by, second.standing_by) == (False, True)
        [line] = [r.getMessage() for r in caplog.records if "standing by" in r.getMessage()]
        assert "in use by another" in line
        assert first.trigger("answer").result(timeout=10).result == 42
        assert first.stop(timeout=5)
        eventually(lambda: not second.standing_by, "the standby to take over")
        run = second.trigger("answer").result(timeout=10)
        assert (run.status, run.result, run.node) == (RunStatus.SUCCESS, 42, second.config.node)
    finally:
        first.stop(timeout=5)
        second.stop(timeout=5)
    assert any("taking over" in r.getMessage() for r in caplog.records)


def test_a_stopped_standby_never_takes_over(manifest: Path) -> None:
    first, second = worker(manifest), worker(manifest)
    first.start()
    second.start()
    assert second.stop(timeout=5)
    first.stop(timeout=5)
    third = worker(manifest)
    with third:  # the lock is free: nobody took it after the active one left
        third.start()
        assert not third.standing_by


def test_starting_twice_is_a_mistake(manifest: Path) -> None:
    with worker(manifest) as cron:
        cron.start()
        with pytest.raises(RuntimeError, match="started already"):
            cron.start()


def test_a_standby_refuses_an_invalid_manifest_at_start(manifest: Path, tmp_path: Path) -> None:
    with worker(manifest) as first:
        first.start()
        broken = tmp_path / "broken.yaml"
        broken.write_text(MANIFEST.replace("0 0 1 1 *", "61 * * * *"))
        second = worker(broken, store=f"sqlite://{tmp_path / '.yamlcron' / 'state.db'}")
        with pytest.raises(ManifestError, match=r"broken\.yaml:4"):
            second.start()
        second.close()


def test_a_worker_starting_while_another_makes_the_store_makes_it_too(
    manifest: Path, tmp_path: Path
) -> None:
    # What a worker meets when another one has created the file but not its tables yet.
    (tmp_path / ".yamlcron").mkdir()
    sqlite3.connect(tmp_path / ".yamlcron" / "state.db").close()
    with worker(manifest) as cron:
        assert [s.id for s in cron.start().add] == ["answer"]


def test_leaving_with_stops_the_started_scheduler(manifest: Path) -> None:
    with worker(manifest) as cron:
        cron.start()
        loop = cron.scheduler
    assert loop.pulse.stopped
    with worker(manifest) as after:  # the lock was released
        after.start()
        assert not after.standing_by


@pytest.mark.postgres
def test_every_worker_on_postgresql_is_a_replica(manifest: Path, postgres_url: str) -> None:
    first, second = worker(manifest, postgres_url), worker(manifest, postgres_url)
    try:
        first.start()
        second.start()
        assert (first.standing_by, second.standing_by) == (False, False)
        nodes = {r.node for r in first.replicas()}
        assert nodes == {first.config.node, second.config.node}
    finally:
        first.stop(timeout=5)
        second.stop(timeout=5)


FORK = """\
import os, sys
from yamlcron import Yamlcron

parent = Yamlcron("jobs.yaml")
parent.start()                        # gunicorn --preload: started in the master
node = parent.config.node
# Fork while the loop rests: a thread importing a module at the fork leaves the child that
# module's import lock held forever (Python's hazard of fork with threads, not ours).
parent.trigger("answer").result(timeout=10)
parent.scheduler.flush(10)
go, wait = os.pipe()
done, told = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(wait); os.close(done)
    child = parent                    # the same object, as a preloaded app's worker has it
    checks = [
        not child.standing_by and child._thread is None,    # nothing of the parent's runs here
        child.config.node.endswith(f":{os.getpid()}") and child.config.node != node,
    ]
    child.start()
    checks.append(child.standing_by)  # the parent holds the lock
    child.stop(timeout=5)
    os.write(told, b"x")
    os.read(go, 1)                    # the parent released its lock meanwhile: not kept here
    os._exit(0 if all(checks) else 3)
os.close(go); os.close(told)
os.read(done, 1)
parent.stop(timeout=5)                # the lock's copy in the child must not keep it held
again = Yamlcron("jobs.yaml")
again.start()
free = not again.standing_by
again.stop(timeout=5)
os.write(wait, b"x")
_, status = os.waitpid(pid, 0)
print(f"child {os.waitstatus_to_exitcode(status)} lock-free {free}")
"""


def test_a_forked_worker_starts_afresh_and_keeps_no_lock(manifest: Path, tmp_path: Path) -> None:
    (tmp_path / "fork.py").write_text(textwrap.dedent(FORK))
    done = subprocess.run(
        [sys.executable, "fork.py"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "child 0 lock-free True\n"), done.stderr
