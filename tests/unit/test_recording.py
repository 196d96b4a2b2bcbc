"""A store error while a run's end is written never leaves the run ``running`` for good.

The faults are the store's own: a trigger in the real database that refuses to end a run
("no space left on device"), as a full disk or a database in trouble would, and on
PostgreSQL the recorder's connection killed with ``pg_terminate_backend`` while it writes.
The scheduler keeps each refused end in memory, writes it again with backoff (1 s, 2 s,
4 s, ... at most a minute), does not count it against ``max_instances``, and a clean
shutdown writes what it still holds.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.clock import FakeClock
from tests.contract.test_leases import NOW, _applied, _fire
from yamlcron import reconcile
from yamlcron.errors import StoreError
from yamlcron.interfaces import Store
from yamlcron.manifest import parse_manifest
from yamlcron.model import AppliedManifest
from yamlcron.registry import build_registry
from yamlcron.runs import Claim, Lease, Queued, Run, RunStatus
from yamlcron.scheduler.groupcommit import Done, InlineCommit, Write, write_batch
from yamlcron.scheduler.loop import Scheduler
from yamlcron.scheduler.parts import CommitFactory, Parts
from yamlcron.scheduler.pool import InlinePool
from yamlcron.schedulerconfig import SchedulerConfig
from yamlcron.store.sqlite import SQLiteStore

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
FULL = "could not extend file: No space left on device"

SQLITE_FULL = f"""
CREATE TRIGGER yc_test_full BEFORE UPDATE OF status ON runs WHEN NEW.status != 'running'
BEGIN SELECT RAISE(ABORT, '{FULL}'); END
"""
POSTGRES_FULL = (
    "CREATE OR REPLACE FUNCTION yc_test_full() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN RAISE EXCEPTION '{FULL}'; END $$",
    "CREATE TRIGGER yc_test_full BEFORE UPDATE OF status ON runs FOR EACH ROW "
    "WHEN (NEW.status <> 'running') EXECUTE FUNCTION yc_test_full()",
)

TASKS = """
def fine():
    return "fine"
"""


@dataclass
class Rig:
    """A scheduler over a real store that can be made to refuse runs' ends."""

    url: str
    store: Store
    scheduler: Scheduler
    clock: FakeClock

    def tick(self, seconds: float) -> float:
        self.clock.now = T0 + timedelta(seconds=seconds)
        return self.scheduler.tick(self.clock.now)

    def statuses(self, job_id: str = "a") -> list[str]:
        return [r.status.value for r in reversed(self.store.runs(job_id, limit=100))]

    def refuse(self, refusing: bool) -> None:
        """Make the database refuse (or accept again) every run's end."""
        postgres = self.url.startswith("postgresql")
        if refusing:
            _run_sql(self.url, POSTGRES_FULL if postgres else (SQLITE_FULL,))
        else:
            _run_sql(self.url, ("DROP TRIGGER yc_test_full" + (" ON runs" if postgres else ""),))


@contextmanager
def _rigs(open_store: Callable[[], Store], tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    made: list[Rig] = []

    def make(jobs: str, commit: CommitFactory = InlineCommit) -> Rig:
        (tmp_path / "recording_tasks.py").write_text(TASKS)
        store = open_store()
        url = getattr(store, "url", None) or f"sqlite://{getattr(store, 'path', '')}"
        text = "version: 1\njobs:\n" + textwrap.indent(textwrap.dedent(jobs), "  ")
        manifest = parse_manifest(text.replace("$STORE_URL", url), tmp_path / "jobs.yaml")
        stored = store.load_jobs()
        reconcile.apply(reconcile.plan(manifest, stored, T0), manifest, store, stored, T0)
        clock = FakeClock(T0)
        parts = Parts(clock=clock, pool=InlinePool(), commit=commit)
        config = SchedulerConfig(lease_ttl=60)
        scheduler = Scheduler(store, build_registry(autoload=False), tmp_path, config, parts)
        made.append(Rig(str(url), store, scheduler, clock))
        return made[-1]

    yield make
    for each in made:
        each.scheduler.stop(5)


@pytest.fixture
def rig(open_shared: Callable[[], Store], tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    """Rigs on a SQLite file and on PostgreSQL."""
    with _rigs(open_shared, tmp_path) as make:
        yield make


@pytest.fixture
def pg_rig(replicas: Callable[[], Store], tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    """Rigs on PostgreSQL."""
    with _rigs(replicas, tmp_path) as make:
        yield make


def job(name: str, every: str = "10s", **policies: object) -> str:
    extra = "".join(f"  {k}: {v}\n" for k, v in policies.items())
    return (
        f"{name}:\n  trigger: {{interval: {every}}}\n"
        f"  run: {{call: 'recording_tasks:fine'}}\n{extra}"
    )


def test_a_refused_end_is_kept_and_written_again_with_backoff(
    rig: Callable[..., Rig], caplog: pytest.LogCaptureFixture
) -> None:
    r = rig(job("a", every="1h"))
    r.refuse(True)
    r.tick(3600)
    assert r.statuses() == ["running"]
    assert len(r.scheduler.runner.unrecorded) == 1
    assert "kept in memory, trying again in 1 s" in caplog.text
    # The loop wakes for the retry, not an hour later at the next fire.
    assert r.tick(3600.2) == pytest.approx(0.8)
    assert "still refuses" not in caplog.text  # not due yet: nothing tried
    for at in (3601, 3602, 3603, 3607):  # each refusal doubles the wait: 2, 4 (3602: not due), 8
        r.tick(at)
    waits = [
        line.rsplit("trying again in ", 1)[1].split(":")[0]
        for line in caplog.text.splitlines()
        if "still refuses" in line
    ]
    assert waits == ["2 s", "4 s", "8 s"]
    assert r.statuses() == ["running"]  # the store has it running, we have its end
    r.refuse(False)
    r.tick(3600 + 3600)
    assert r.statuses() == ["success", "success"]
    assert len(r.scheduler.runner.unrecorded) == 0
    assert "recorded 1 run end(s) the store had refused before" in caplog.text


def test_a_replica_does_not_count_its_own_refused_end_against_max_instances(
    rig: Callable[..., Rig],
) -> None:
    r = rig(job("a", max_instances=1))
    r.refuse(True)
    r.tick(10)
    r.tick(20)  # the first end is refused again; its run is over all the same
    assert r.statuses() == ["running", "running"]  # both over, neither recorded: not skipped
    r.refuse(False)
    r.tick(30)
    assert r.statuses() == ["success", "success", "success"]


class HeldCommit:
    """A recorder that writes what it was handed only when the test says: a slow disk."""

    def __init__(self, write: Write[Any, Any], done: Done[Any, Any], *, settled: Any) -> None:
        self.write, self.done, self.settled = write, done, settled
        self.items: list[Any] = []

    def put(self, item: Any) -> None:
        self.items.append(item)

    def release(self) -> None:
        items, self.items = self.items, []
        write_batch(items, self.write, self.done, self.settled)

    def flush(self, timeout: float | None = None) -> bool:
        return not self.items

    def close(self, timeout: float | None = None) -> None:
        self.release()


def test_a_run_whose_end_is_being_written_does_not_count_against_max_instances(
    rig: Callable[..., Rig],
) -> None:
    made: list[HeldCommit] = []

    def held(*args: Any, **kwargs: Any) -> HeldCommit:
        made.append(HeldCommit(*args, **kwargs))
        return made[-1]

    r = rig(job("a", max_instances=1), commit=held)
    r.tick(10)
    assert r.statuses() == ["running"]  # over, its end not written yet
    assert r.scheduler.running("a") == 0
    r.tick(20)
    assert r.statuses() == ["running", "running"]  # not skipped
    made[0].release()
    assert r.statuses() == ["success", "success"]
    assert r.scheduler.wait_idle(0)


def test_a_clean_shutdown_writes_the_ends_it_holds(rig: Callable[..., Rig]) -> None:
    r = rig(job("a", every="1h"))
    r.refuse(True)
    r.tick(3600)
    assert r.statuses() == ["running"]
    r.refuse(False)  # the disk has room again, before the next try is due
    r.scheduler.stop(5)
    assert r.statuses() == ["success"]


def test_a_shutdown_that_cannot_write_an_end_says_so(
    rig: Callable[..., Rig], caplog: pytest.LogCaptureFixture
) -> None:
    r = rig(job("a", every="1h"))
    r.refuse(True)
    r.tick(3600)
    caplog.set_level(logging.ERROR, "yamlcron.scheduler")
    r.scheduler.stop(5)
    assert "the end of run 1 of a (success) could not be recorded before exit" in caplog.text
    assert r.statuses() == ["running"]  # the next start marks it interrupted


KILLER = """
import threading, time
import psycopg

threads = []


def lock_then_kill(url, YAMLCRON_RUN_ID):
    # Hold the run's row, so that writing its end waits; then kill the waiting writer.
    if YAMLCRON_RUN_ID != "1":
        return "plain"
    holder = psycopg.connect(url)
    holder.execute("SELECT 1 FROM runs WHERE id = 1 FOR UPDATE")

    def kill():
        try:
            with psycopg.connect(url, autocommit=True) as db:
                for _ in range(1500):
                    row = db.execute(
                        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE 'UPDATE runs SET status%'"
                    ).fetchone()
                    if row:
                        db.execute("SELECT pg_terminate_backend(%s)", row)
                        return
                    time.sleep(0.02)
        finally:
            holder.close()

    threads.append(threading.Thread(target=kill))
    threads[-1].start()
    return "locked"
"""


def test_an_end_whose_connection_is_killed_while_it_is_written_is_recorded_at_once(
    pg_rig: Callable[..., Rig], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Held in memory, it waited a second for the next try, and a replica killed meanwhile
    # lost it: the recorder writes it again at once, on a new session.
    (tmp_path / "killer_tasks.py").write_text(KILLER)
    r = pg_rig("""\
        a:
          trigger: {interval: 10s}
          max_instances: 1
          run: {call: "killer_tasks:lock_then_kill", kwargs: {url: "$STORE_URL"}}
        """)
    try:
        r.tick(10)
    finally:
        for thread in sys.modules["killer_tasks"].threads:
            thread.join(60)
    assert "was cut while recording 1 end(s)" in caplog.text
    # The cause (the server's word, or libpq's when it reads the cut first), not the rollback's.
    assert any(
        cause in caplog.text for cause in ("terminating connection", "server closed the connection")
    )
    assert "cannot record the end" not in caplog.text  # not held for a later try
    assert r.statuses() == ["success"]
    r.tick(20)  # max_instances 1: the first run is over, this one runs
    assert r.statuses() == ["success", "success"]


def test_a_connection_a_cut_left_in_pipeline_mode_is_replaced(
    replicas: Callable[[], Store], caplog: pytest.LogCaptureFixture
) -> None:
    # Seen in the chaos test: a session ended in the middle of a batch (executemany runs
    # in pipeline mode) can leave the connection in pipeline mode, not marked broken;
    # every statement then failed ("PQsendQuery not allowed in pipeline mode") until the
    # replica restarted, and no run's end could be recorded meanwhile.
    store = replicas()
    store._db.pgconn.enter_pipeline_mode()  # type: ignore[attr-defined]  # the driver as left
    assert store.running() == {}
    assert "was lost; connecting again" in caplog.text


def test_a_session_the_server_ended_between_transactions_is_replaced_before_use(
    replicas: Callable[[], Store], postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Ended while idle (pg_terminate_backend, a restart): the next transaction runs on a new
    # session rather than failing on the old one, which left a claim to be tried a second
    # later and a batch of ends held in memory as long.
    store = replicas()
    pid = store._db.info.backend_pid  # type: ignore[attr-defined]
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("SELECT pg_terminate_backend(%s)", (pid,))
        # Its goodbye is sent before it leaves pg_stat_activity: it is there to read then.
        while db.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            time.sleep(0.01)
    assert store.running() == {}
    assert "was lost; connecting again" in caplog.text
    assert store._db.info.backend_pid != pid  # type: ignore[attr-defined]


QUEUE_FULL = {
    "sqlite": (
        f"CREATE TRIGGER yc_test_queue_full BEFORE INSERT ON queue "
        f"BEGIN SELECT RAISE(ABORT, '{FULL}'); END",
    ),
    "postgresql": (
        POSTGRES_FULL[0],
        "CREATE TRIGGER yc_test_queue_full BEFORE INSERT ON queue FOR EACH ROW "
        "EXECUTE FUNCTION yc_test_full()",
    ),
}


def test_a_reap_whose_retries_cannot_be_queued_takes_nothing_over(
    open_shared: Callable[[], Store], tmp_path: Path
) -> None:
    # A reaper cut off between marking runs interrupted and queueing their retries left
    # them interrupted with no retry ever (seen in the chaos test): now both or neither.
    store = open_shared()
    url = getattr(store, "url", None) or f"sqlite://{getattr(store, 'path', '')}"
    _applied(store)
    lease = store.join("alpha", 30)
    [run] = store.claim([_fire("backup")], lease, None)
    store.leave(lease)  # alpha is gone
    retry = Queued(job_id="backup", due_at=NOW, scheduled_at=NOW, attempt=2, reason="retry")
    dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
    _run_sql(url, QUEUE_FULL[dialect])
    with pytest.raises(StoreError, match="No space left"):
        store.reap(NOW, lambda runs: [retry])
    assert store.runs("backup")[0].status == RunStatus.RUNNING  # nothing taken over
    _run_sql(
        url, ("DROP TRIGGER yc_test_queue_full" + (" ON queue" if dialect != "sqlite" else ""),)
    )
    [reaped] = store.reap(NOW, lambda runs: [retry])
    assert (reaped.id, reaped.status) == (run.id, RunStatus.INTERRUPTED)
    assert store.pending("backup", NOW)


def _run_sql(url: str, statements: tuple[str, ...]) -> None:
    if url.startswith("postgresql"):
        with psycopg.connect(url, autocommit=True) as db:
            for statement in statements:
                db.execute(statement)
        return
    with sqlite3.connect(url.removeprefix("sqlite://"), timeout=10) as db:
        for statement in statements:
            db.execute(statement)


class ClaimAnswerLost(SQLiteStore):
    """A store whose first claim is written but answered with an error, as when the
    connection is cut during COMMIT after the server committed: what a kill of the
    connection at that instant does, which no test can time."""

    lost = 1

    def claim(self, claims: list[Claim], lease: Lease, source: AppliedManifest | None) -> list[Run]:
        written = super().claim(claims, lease, source)
        if self.lost:
            self.lost -= 1
            raise StoreError("server closed the connection unexpectedly")
        return written


def test_runs_a_claim_wrote_though_it_reported_a_failure_are_run_once(tmp_path: Path) -> None:
    (tmp_path / "recording_tasks.py").write_text(TASKS)
    text = "version: 1\njobs:\n" + textwrap.indent(job("a", max_instances=1), "  ")
    manifest = parse_manifest(text, tmp_path / "jobs.yaml")
    store = ClaimAnswerLost(tmp_path / "state.db")
    reconcile.apply(reconcile.plan(manifest, {}, T0), manifest, store, {}, T0)
    clock = FakeClock(T0)
    parts = Parts(clock=clock, pool=InlinePool(), commit=InlineCommit)
    scheduler = Scheduler(
        store, build_registry(autoload=False), tmp_path, SchedulerConfig(lease_ttl=60), parts
    )
    try:
        clock.now = T0 + timedelta(seconds=10)
        with pytest.raises(StoreError):
            scheduler.tick(clock.now)
        assert [r.status.value for r in store.runs("a")] == ["running"]  # claimed, not run
        clock.now = T0 + timedelta(seconds=11)
        scheduler.tick(clock.now)  # finds its own run and runs it
        assert [r.status.value for r in store.runs("a")] == ["success"]
        clock.now = T0 + timedelta(seconds=20)
        scheduler.tick(clock.now)  # and the next fire is not skipped for it
        assert [r.status.value for r in store.runs("a")] == ["success", "success"]
    finally:
        scheduler.stop(5)
        store.close()
