"""The store contract for schedulers: leases, claiming, fencing and wake-ups.

Each test runs on every backend (``store``/``open_store`` in conftest). What needs several
schedulers on one store at once runs on PostgreSQL only: SQLite admits one ``yamlcron run``
(the daemon lock), and joining there ends the leases before.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.conftest import GOOD, CliResult
from yamlcron import reconcile
from yamlcron.errors import LeaseLostError
from yamlcron.interfaces import Store
from yamlcron.manifest import parse_manifest
from yamlcron.model import AppliedManifest, JobWrite
from yamlcron.registry import build_registry
from yamlcron.runs import Claim, Finish, NewRun, Queued, Run, RunStatus
from yamlcron.scheduler.loop import Scheduler
from yamlcron.schedulerconfig import SchedulerConfig
from yamlcron.store.sqlite import SQLiteStore

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _applied(store: Store) -> None:
    manifest = parse_manifest(GOOD, Path("jobs.yaml"))
    writes = [JobWrite(spec=s, next_run_at=NOW, reschedule=True) for s in manifest.jobs.values()]
    store.apply(writes, [], AppliedManifest(digest="d1", path="jobs.yaml", applied_at=NOW))


def _fire(job_id: str, at: datetime = NOW) -> Claim:
    """Claim ``job_id``'s fire at ``at`` (its stored next fire time) and start a run."""
    run = NewRun(job_id=job_id, scheduled_at=at, status=RunStatus.RUNNING, started_at=at)
    return Claim(job_id=job_id, expected=at, next_run_at=at + HOUR, runs=(run,))


def _done(run: Run) -> Run:
    return replace(run, status=RunStatus.SUCCESS, finished_at=run.scheduled_at)


def test_claim_and_finish_under_a_lease(store: Store) -> None:
    _applied(store)
    lease = store.join("alpha", 30)
    [run] = store.claim([_fire("backup")], lease, None)
    assert (run.node, run.status) == ("alpha", RunStatus.RUNNING)
    assert store.running() == {"backup": 1}
    [replica] = store.replicas()
    assert (replica.node, replica.token, replica.running) == ("alpha", lease.token, ("backup",))
    assert replica.expires_at is not None
    assert replica.expires_at - replica.heartbeat_at == timedelta(seconds=30)
    assert store.claim([_fire("backup")], lease, None) == []  # the fire moved on: once only
    assert store.finish_many([Finish(run=_done(run), lease=lease)]) == [None]
    assert store.running() == {}
    assert store.runs("backup")[0].status == RunStatus.SUCCESS


def test_a_batch_of_ends_answers_each_with_the_final_status_before_it(store: Store) -> None:
    _applied(store)
    lease = store.join("alpha", 30)
    runs = [store.claim([_fire("backup", NOW + i * HOUR)], lease, None)[0] for i in range(5)]

    def ended(run: Run, status: RunStatus, *followups: Queued) -> Finish:
        return Finish(run=replace(run, status=status), lease=lease, followups=followups)

    retry = Queued(job_id="backup", due_at=NOW, scheduled_at=runs[1].scheduled_at, attempt=2)
    assert store.finish_many([ended(runs[0], RunStatus.FAILURE)]) == [None]
    # In one batch, in order: a retried attempt is not final, so it does not count.
    assert store.finish_many(
        [
            ended(runs[1], RunStatus.FAILURE, replace(retry, reason="retry")),
            ended(runs[2], RunStatus.SUCCESS),
            ended(runs[3], RunStatus.SUCCESS),  # as the last one ended: nothing to rewrite
        ]
    ) == ["failure", "failure", "success"]
    assert store.load_jobs()["backup"].last_status == "success"
    assert store.finish_many(
        [ended(runs[4], RunStatus.FAILURE, replace(retry, reason="retry"))]
    ) == ["success"]
    assert store.load_jobs()["backup"].last_status == "failure"  # the last status, final or not


def test_an_expired_lease_can_neither_claim_nor_finish(store: Store) -> None:
    _applied(store)
    lease = store.join("alpha", 30)
    [run] = store.claim([_fire("backup")], lease, None)
    store.leave(lease)  # as if it had not renewed in time
    assert store.renew(lease) is False
    with pytest.raises(LeaseLostError, match="alpha"):
        store.claim([_fire("cleanup")], lease, None)
    assert store.load_jobs(["cleanup"])["cleanup"].next_run_at == NOW  # nothing written
    [refused] = store.finish_many([Finish(run=_done(run), lease=lease)])
    assert isinstance(refused, LeaseLostError)
    [reaped] = store.reap(NOW + HOUR)
    assert (reaped.id, reaped.status) == (run.id, RunStatus.INTERRUPTED)
    assert store.runs("backup")[0].status == RunStatus.INTERRUPTED
    assert store.reap(NOW + HOUR) == []  # taken over once
    assert store.replicas() == []


def test_a_fresh_lease_is_renewed_and_a_reaped_one_is_fenced(store: Store) -> None:
    _applied(store)
    lease = store.join("alpha", 30)
    assert store.renew(lease) is True
    [run] = store.claim([_fire("backup")], lease, None)
    successor = store.join("beta", 30)
    store.leave(lease)
    store.reap(NOW)
    # A result from the old lease is refused even though a lease of the same node lives.
    [refused] = store.finish_many([Finish(run=_done(run), lease=successor)])
    assert isinstance(refused, LeaseLostError)
    assert store.runs("backup")[0].status == RunStatus.INTERRUPTED


def test_queued_fires_are_claimed_once(store: Store) -> None:
    _applied(store)
    lease = store.join("alpha", 30)
    queued_id = store.enqueue(Queued(job_id="cleanup", due_at=NOW, scheduled_at=NOW))
    run = NewRun(job_id="cleanup", scheduled_at=NOW, status=RunStatus.RUNNING, started_at=NOW)
    take = Claim(job_id="cleanup", queued_id=queued_id, runs=(run,))
    assert len(store.claim([take], lease, None)) == 1
    assert store.claim([take], lease, None) == []
    assert store.due_queued(NOW, 10) == []


def test_sqlite_admits_one_scheduler(tmp_path: Path) -> None:
    first = SQLiteStore(tmp_path / "state.db")
    _applied(first)
    old = first.join("alpha", 30)
    [run] = first.claim([_fire("backup")], old, None)
    first.join("alpha-restarted", 30)  # the daemon lock says the old one is gone
    assert [r.id for r in first.reap(NOW)] == [run.id]
    first.close()


def test_a_sqlite_daemon_holds_its_lease_by_its_lock(tmp_path: Path) -> None:
    daemon = SQLiteStore(tmp_path / "state.db")
    _applied(daemon)
    daemon.lock_daemon()
    lease = daemon.join("alpha", 0.001)
    assert lease.ttl is None  # held: it never expires, so nothing has to renew it
    time.sleep(0.01)  # ten lease times: an expiring lease would be gone by now
    [run] = daemon.claim([_fire("backup")], lease, None)
    assert daemon.renew(lease) is True
    assert daemon.reap(NOW) == []
    other = SQLiteStore(tmp_path / "state.db")  # `yamlcron replicas` in another process
    [shown] = other.replicas()
    assert (shown.token, shown.expires_at, shown.running) == (lease.token, None, ("backup",))
    daemon.close()  # the daemon died: its lock went with it, its lease row stays
    assert other.replicas() == []
    other.lock_daemon()
    other.join("alpha-restarted", 30)  # the next daemon ends the held lease and reaps it
    assert [r.id for r in other.reap(NOW)] == [run.id]
    other.close()


def test_applies_wait_for_each_other(open_shared: Callable[[], Store]) -> None:
    first, second = open_shared(), open_shared()
    entered = threading.Event()

    def other() -> None:
        with second.applying():
            entered.set()

    with first.applying():
        thread = threading.Thread(target=other)
        thread.start()
        assert not entered.wait(0.3)
    assert entered.wait(5)
    thread.join()


def test_a_ring_reaches_a_watcher_on_another_handle(open_shared: Callable[[], Store]) -> None:
    watcher, writer = open_shared(), open_shared()
    rung = threading.Event()
    stop = watcher.watch(rung.set)
    try:
        deadline = time.monotonic() + 5
        while not rung.is_set() and time.monotonic() < deadline:
            rung.clear()  # the watcher may call once when it starts listening
            writer.ring()
            rung.wait(1.0)
        assert rung.is_set()
        started = time.monotonic()
        rung.clear()
        writer.ring()
        assert rung.wait(1.0)
        assert time.monotonic() - started < 1.0
    finally:
        stop()


# -- several replicas: PostgreSQL ------------------------------------------------------------


def test_replicas_racing_for_the_same_fires_claim_each_once(
    replicas: Callable[[], Store],
) -> None:
    handles = [replicas() for _ in range(3)]
    _applied(handles[0])
    leases = [h.join(f"r{i}", 30) for i, h in enumerate(handles)]
    claimed: list[list[Run]] = [[] for _ in handles]
    rounds = 60

    def race(index: int, start: threading.Barrier) -> None:
        handle, lease = handles[index], leases[index]
        for step in range(rounds):
            start.wait()
            at = NOW + step * HOUR
            claims = [_fire(job, at) for job in ("backup", "cleanup", "launch")]
            claimed[index] += handle.claim(claims, lease, None)

    barrier = threading.Barrier(3)
    threads = [threading.Thread(target=race, args=(i, barrier)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    fires = sorted((r.job_id, r.scheduled_at) for runs in claimed for r in runs)
    assert len(fires) == len(set(fires)) == 3 * rounds
    assert sum(1 for runs in claimed if runs) >= 2  # they really did split the work


def test_a_row_another_replica_holds_is_skipped_not_waited_for(
    replicas: Callable[[], Store], postgres_url: str
) -> None:
    store = replicas()
    _applied(store)
    lease = store.join("alpha", 30)
    with psycopg.connect(postgres_url) as other:  # a transaction holding backup's row
        other.execute("SELECT 1 FROM jobs WHERE id = 'backup' FOR UPDATE")
        started = time.monotonic()
        runs = store.claim([_fire("backup"), _fire("cleanup")], lease, None)
        assert time.monotonic() - started < 1.0
        assert [r.job_id for r in runs] == ["cleanup"]
    assert [r.job_id for r in store.claim([_fire("backup")], lease, None)] == ["backup"]


def test_a_replica_reaps_another_and_lease_times_are_the_databases(
    replicas: Callable[[], Store],
) -> None:
    alpha, beta = replicas(), replicas()
    _applied(alpha)
    dying = alpha.join("alpha", 0.5)
    living = beta.join("beta", 30)
    [run] = alpha.claim([_fire("backup")], dying, None)
    assert beta.reap(NOW) == []  # alpha's lease still runs
    assert {r.node for r in beta.replicas()} == {"alpha", "beta"}
    time.sleep(0.6)  # let the lease run out (a lease, not a schedule: real time)
    [reaped] = beta.reap(NOW)
    assert reaped.id == run.id
    [refused] = alpha.finish_many([Finish(run=_done(run), lease=dying)])
    assert isinstance(refused, LeaseLostError)
    assert alpha.renew(dying) is False
    assert [r.node for r in beta.replicas()] == ["beta"]
    assert beta.renew(living) is True


def test_a_one_off_longer_than_its_lease_keeps_it_and_its_result(
    replicas: Callable[[], Store], tmp_path: Path
) -> None:
    # `yamlcron trigger` with no daemon alive: on PostgreSQL its lease expires unless renewed.
    store = replicas()
    text = "version: 1\njobs:\n  slow: {trigger: {interval: 1h}, run: {shell: 'sleep 1.5'}}\n"
    reconcile.sync(parse_manifest(text, tmp_path / "jobs.yaml"), store, NOW)
    scheduler = Scheduler(
        store, build_registry(autoload=False), tmp_path, SchedulerConfig(lease_ttl=0.6)
    )
    try:
        run = scheduler.run_now("slow")
    finally:
        scheduler.stop(5)
    assert (run.status, run.attempt) == (RunStatus.SUCCESS, 1)
    assert replicas().reap(NOW) == []  # nothing left running for another replica to take
    assert store.replicas() == []  # and the one-off ended its lease


def test_running_counts_cover_every_replica(replicas: Callable[[], Store]) -> None:
    alpha, beta = replicas(), replicas()
    _applied(alpha)
    alpha.claim([_fire("backup")], alpha.join("alpha", 30), None)
    beta.claim([_fire("cleanup")], beta.join("beta", 30), None)
    assert alpha.running() == beta.running() == {"backup": 1, "cleanup": 1}


def test_replicas_and_history_commands(project: Path, cli: Callable[..., CliResult]) -> None:
    manifest = project / "jobs.yaml"
    assert cli("apply", "-f", manifest).code == 0
    assert cli("replicas", "-f", manifest).out.strip() == "no live replicas"
    store = SQLiteStore(project / ".yamlcron" / "state.db")
    lease = store.join("alpha", 30)
    due = store.load_jobs(["cleanup"])["cleanup"].next_run_at
    assert due is not None
    store.claim([_fire("cleanup", due)], lease, None)
    table = cli("replicas", "-f", manifest).out.splitlines()
    assert table[0].split() == [
        "NODE",
        "TOKEN",
        "STARTED",
        "LEASE",
        "AGE",
        "EXPIRES",
        "IN",
        "RUNNING",
    ]
    assert table[1].split()[0] == "alpha"
    assert table[1].split()[-1] == "cleanup"
    [shown] = json.loads(cli("replicas", "-f", manifest, "--output", "json").out)
    assert set(shown) == {"node", "token", "started_at", "heartbeat_at", "expires_at", "running"}
    assert (shown["node"], shown["token"], shown["running"]) == ("alpha", lease.token, ["cleanup"])
    history = cli("history", "-f", manifest).out.splitlines()
    assert "NODE" in history[0].split()
    assert "alpha" in history[1].split()
    store.leave(lease)
    store.close()
    assert cli("replicas", "-f", manifest).out.strip() == "no live replicas"


def test_replicas_starting_together_migrate_once(postgres_url: str) -> None:
    errors: list[Exception] = []
    opened: list[Store] = []

    def start() -> None:
        try:
            opened.append(build_registry(autoload=False).open_store(postgres_url, create=True))
        except Exception as exc:  # collected: the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in opened:
        store.close()
    assert errors == []
    assert len(opened) == 4
