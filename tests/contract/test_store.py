"""The store contract, on a real SQLite file, in memory and on the real PostgreSQL server.

The ``store`` fixture (conftest) runs each test on every backend; tests that need what only
one backend has (SQLite's file layout) open it themselves.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import GOOD
from yamlcron.errors import StoreError
from yamlcron.interfaces import Store
from yamlcron.manifest import parse_manifest
from yamlcron.model import AppliedManifest, JobWrite
from yamlcron.registry import build_registry
from yamlcron.runs import Claim, NewRun, RunStatus
from yamlcron.store.codec import from_micros, to_micros
from yamlcron.store.schema import SCHEMA_VERSION
from yamlcron.store.sqlite import SQLiteStore

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _writes(next_run_at: datetime | None = NOW) -> list[JobWrite]:
    manifest = parse_manifest(GOOD, Path("jobs.yaml"))
    return [
        JobWrite(spec=s, next_run_at=next_run_at, reschedule=True) for s in manifest.jobs.values()
    ]


def _record(digest: str = "d1") -> AppliedManifest:
    return AppliedManifest(digest=digest, path="jobs.yaml", applied_at=NOW)


def test_round_trip(store: Store) -> None:
    writes = _writes()
    store.apply(writes, [], _record())
    loaded = store.load_jobs()
    assert set(loaded) == {w.spec.id for w in writes}
    for write in writes:
        job = loaded[write.spec.id]
        assert job.spec == write.spec
        assert job.spec.digest == write.spec.digest
        assert job.next_run_at == NOW
        assert job.anchor == NOW
        assert job.paused is False
    assert store.last_applied() == _record()


def test_update_keeps_next_fire_unless_rescheduled(store: Store) -> None:
    store.apply(_writes(), [], _record())
    later = NOW + timedelta(hours=1)
    spec = _writes()[0].spec
    store.apply([JobWrite(spec=spec, next_run_at=later, reschedule=False)], [], _record("d2"))
    assert store.load_jobs()[spec.id].next_run_at == NOW
    store.apply([JobWrite(spec=spec, next_run_at=later, reschedule=True)], [], _record("d3"))
    assert store.load_jobs()[spec.id].next_run_at == later
    last = store.last_applied()
    assert last is not None
    assert last.digest == "d3"


def test_remove(store: Store) -> None:
    store.apply(_writes(), [], _record())
    store.apply([], ["backup", "report"], _record("d2"))
    assert set(store.load_jobs()) == {"cleanup", "launch"}


def test_empty_store(store: Store) -> None:
    assert store.load_jobs() == {}
    assert store.last_applied() is None


def test_file_layout_and_json_only(tmp_path: Path) -> None:
    path = tmp_path / ".yamlcron" / "state.db"
    store = SQLiteStore(path)
    store.apply(_writes(), [], _record())
    store.close()
    assert (path.parent / ".gitignore").read_text().splitlines()[-1] == "*"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        specs = [r[0] for r in db.execute("SELECT spec FROM jobs")]
        version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    assert int(version) == SCHEMA_VERSION
    for spec in specs:
        assert isinstance(json.loads(spec), dict)  # JSON, never pickle


def test_read_only_open_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "state.db"
    store = SQLiteStore(path, create=False)
    assert store.load_jobs() == {}
    store.close()
    assert not path.parent.exists()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99, newer than"):
        SQLiteStore(path)


def test_failed_apply_changes_nothing(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    store.apply(_writes(), [], _record())
    before = store.load_jobs()
    writes = _writes(NOW + timedelta(days=1))
    # A second row for one id inside one apply makes the batch fail midway.
    bad = [*writes, JobWrite(spec=writes[0].spec, next_run_at=None, reschedule=True)]
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute(
            "CREATE TRIGGER boom BEFORE UPDATE ON jobs WHEN NEW.next_run_at IS NULL "
            "BEGIN SELECT RAISE(ABORT, 'boom'); END"
        )
    with pytest.raises(StoreError, match="boom"):
        store.apply(bad, ["cleanup"], _record("d2"))
    assert store.load_jobs() == before
    last = store.last_applied()
    assert last is not None
    assert last.digest == "d1"
    store.close()


def test_unknown_scheme() -> None:
    with pytest.raises(
        StoreError, match=r"no store for 'redis://' URLs; installed: postgres, postgresql, sqlite"
    ):
        build_registry(autoload=False).open_store("redis://localhost", create=False)


def test_micros_round_trip() -> None:
    moment = datetime(2026, 3, 29, 1, 0, 0, 123456, tzinfo=UTC)
    assert from_micros(to_micros(moment)) == moment
    assert to_micros(datetime(1970, 1, 1, tzinfo=UTC)) == 0


def test_a_read_sees_committed_state_without_waiting_for_a_write(tmp_path: Path) -> None:
    """Reads go through a second connection: a write under way neither blocks nor shows."""
    store = SQLiteStore(tmp_path / "state.db")
    store.apply(_writes(), [], _record())
    job_id = _writes()[0].spec.id
    written, release = threading.Event(), threading.Event()
    seen: list[str | None] = []

    def write() -> None:
        with store._transaction():
            store._execute("UPDATE jobs SET last_status = 'failure' WHERE id = ?", (job_id,))
            seen.append(store.load_jobs([job_id])[job_id].last_status)  # its own write
            written.set()
            release.wait(10)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert written.wait(5)
        started = time.monotonic()
        assert store.load_jobs([job_id])[job_id].last_status is None  # not yet committed
        assert time.monotonic() - started < 1  # did not wait for the writer
    finally:
        release.set()
        writer.join(5)
    assert seen == ["failure"]
    assert store.load_jobs([job_id])[job_id].last_status == "failure"
    store.close()


def test_runs_filtered_by_status_and_time(store: Store) -> None:
    store.apply(_writes(), [], _record())
    lease = store.join("test", 30)
    fires = [
        (NOW - timedelta(hours=3), RunStatus.MISSED),
        (NOW - timedelta(hours=2), RunStatus.SKIPPED),
        (NOW - timedelta(hours=1), RunStatus.MISSED),
    ]
    claims = [
        Claim(
            job_id="backup",
            runs=tuple(
                NewRun(job_id="backup", scheduled_at=at, status=status, started_at=at)
                for at, status in fires
            ),
        )
    ]
    store.claim(claims, lease, None)

    def scheduled(
        statuses: list[str] | None = None, since: datetime | None = None
    ) -> list[datetime]:
        runs = store.runs("backup", statuses=statuses or (), since=since)
        return [r.scheduled_at for r in runs]

    assert scheduled() == [at for at, _ in reversed(fires)]
    assert scheduled(statuses=["missed"]) == [fires[2][0], fires[0][0]]
    assert scheduled(statuses=["missed", "skipped"], since=NOW - timedelta(hours=2)) == [
        fires[2][0],
        fires[1][0],
    ]
    assert scheduled(statuses=["failure"]) == []
    assert scheduled(since=NOW) == []
    assert [r.scheduled_at for r in store.runs(limit=1, statuses=["skipped"])] == [fires[1][0]]
