"""One job row the store cannot read back does not take the daemon down, and apply repairs it.

A damaged file or a hand edit can leave a row whose spec is not JSON, or is JSON that is
not a job. Before, one such row crashed ``yamlcron run`` at its next pass, and ``apply``
answered "Nothing to apply" (the manifest was unchanged) and left it so.
"""

from __future__ import annotations

import json
import signal
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.conftest import CliResult
from tests.processes import Daemon
from yamlcron import reconcile
from yamlcron.interfaces import Store
from yamlcron.manifest import parse_manifest
from yamlcron.registry import build_registry
from yamlcron.scheduler.groupcommit import InlineCommit
from yamlcron.scheduler.loop import Scheduler
from yamlcron.scheduler.parts import Parts
from yamlcron.scheduler.pool import InlinePool

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

GOOD_SPEC_CORRUPTIONS: dict[str, str | None] = {
    "not JSON": "{'trigger': ",
    "not an object": "[1, 2]",
    "an unknown trigger": None,  # built from the stored spec below
}

JOBS = """\
version: 1
jobs:
  good:
    trigger: {interval: 1s}
    run: {command: ["true"]}
  bad:
    trigger: {interval: 1s}
    run: {command: ["true"]}
"""


def corrupt(db_path: Path, how: str, *, digest_too: bool = False) -> None:
    """Damage the row of job ``bad`` as ``how`` says (``digest_too``: its digest as well)."""
    with sqlite3.connect(db_path) as db:
        (text,) = db.execute("SELECT spec FROM jobs WHERE id = 'bad'").fetchone()
        if how == "an unknown trigger":
            spec = json.loads(text)
            spec["trigger"] = {"crontab": "* * * * *", "timezone": "UTC", "jitter": 0}
            new = json.dumps(spec)
        else:
            new = str(GOOD_SPEC_CORRUPTIONS[how])
        digest = "0" * 64 if digest_too else None
        db.execute(
            "UPDATE jobs SET spec = ?, digest = COALESCE(?, digest) WHERE id = 'bad'",
            (new, digest),
        )


def readable(db_path: Path) -> dict[str, object]:
    with sqlite3.connect(db_path) as db:
        (text,) = db.execute("SELECT spec FROM jobs WHERE id = 'bad'").fetchone()
    value = json.loads(text)
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize("how", sorted(GOOD_SPEC_CORRUPTIONS))
def test_apply_of_the_unchanged_manifest_rewrites_a_corrupt_row(
    cli: Callable[..., CliResult], tmp_path: Path, how: str
) -> None:
    (tmp_path / "jobs.yaml").write_text(JOBS)
    assert cli("apply", "-f", tmp_path / "jobs.yaml").code == 0
    db_path = tmp_path / ".yamlcron" / "state.db"
    corrupt(db_path, how)
    result = cli("apply", "-f", tmp_path / "jobs.yaml")
    assert result.code == 0, result
    assert "~ bad" in result.out
    assert "warning: job 'bad' in the store cannot be read" in result.err  # why it is rewritten
    assert readable(db_path)["trigger"] == {"interval": "1s", "timezone": "UTC", "jitter": "0s"}
    again = cli("apply", "-f", tmp_path / "jobs.yaml")
    assert "No changes" in again.out


def test_commands_that_read_a_corrupt_row_say_so_in_one_line(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    (tmp_path / "jobs.yaml").write_text(JOBS)
    assert cli("apply", "-f", tmp_path / "jobs.yaml").code == 0
    corrupt(tmp_path / ".yamlcron" / "state.db", "not JSON")
    result = cli("jobs", "-f", tmp_path / "jobs.yaml")
    assert result.code == 1
    assert result.err.startswith("error: ")
    assert "job 'bad' in the store cannot be read" in result.err
    assert "Traceback" not in result.err


@pytest.mark.process
@pytest.mark.parametrize("how", ["not JSON", "an unknown trigger"])
def test_a_running_daemon_reports_a_corrupt_row_and_fires_the_others(
    daemon: Callable[..., Daemon], how: str
) -> None:
    d = daemon(JOBS.split("jobs:\n", 1)[1], "--no-watch")
    d.wait_for(lambda: len(d.statuses("bad")) >= 1, "a first run of each job")
    corrupt(d.folder / ".yamlcron" / "state.db", how, digest_too=True)  # read afresh
    d.wait_for(lambda: "job 'bad' in the store cannot be read" in d.log.read_text(), "report")
    fired = len(d.statuses("good"))
    d.wait_for(lambda: len(d.statuses("good")) >= fired + 2, "the good job firing on")
    assert d.proc.poll() is None
    d.signal(signal.SIGTERM)
    assert d.exit_code() == 0
    assert d.log.read_text().count("job 'bad' in the store cannot be read") == 1  # once


@pytest.mark.process
def test_a_daemon_started_on_a_corrupt_row_repairs_it_and_fires_every_job(
    daemon: Callable[..., Daemon], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    (tmp_path / "jobs.yaml").write_text(JOBS)
    assert cli("apply", "-f", tmp_path / "jobs.yaml").code == 0
    corrupt(tmp_path / ".yamlcron" / "state.db", "not JSON")
    d = daemon(JOBS.split("jobs:\n", 1)[1], "--no-watch")
    d.wait_for(lambda: len(d.statuses("bad")) >= 2, "the repaired job firing")
    d.signal(signal.SIGTERM)
    assert d.exit_code() == 0


def _damage(url: str, text: str) -> None:
    """Write ``text`` as job ``bad``'s spec, and another digest, through a connection of its own."""
    sql = "UPDATE jobs SET spec = {0}, digest = {0} WHERE id = 'bad'"
    if url.startswith("postgresql"):
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(sql.format("%s"), (text, "0" * 64))
        return
    with sqlite3.connect(url.removeprefix("sqlite://")) as db:
        db.execute(sql.format("?"), (text, "0" * 64))


def test_the_loop_reports_a_corrupt_row_once_and_fires_the_others(
    open_shared: Callable[[], Store], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_shared()
    url = getattr(store, "url", None) or f"sqlite://{getattr(store, 'path', '')}"
    manifest = parse_manifest(JOBS.replace("1s", "10s"), tmp_path / "jobs.yaml")
    reconcile.apply(reconcile.plan(manifest, {}, T0), manifest, store, {}, T0)
    _damage(url, "{'trigger': ")
    now = [T0]
    parts = Parts(clock=lambda: now[0], pool=InlinePool(), commit=InlineCommit)
    scheduler = Scheduler(store, build_registry(autoload=False), tmp_path, parts=parts)
    try:
        for seconds in (10, 20, 30):
            now[0] = T0 + timedelta(seconds=seconds)
            scheduler.tick(now[0])
    finally:
        scheduler.stop(5)
    assert [r.status.value for r in store.runs("good")] == ["success"] * 3
    assert store.runs("bad") == []
    assert caplog.text.count("job 'bad' in the store cannot be read (JSONDecodeError") == 1
