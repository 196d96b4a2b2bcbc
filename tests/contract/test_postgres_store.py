"""What the PostgreSQL store does its own way: shares of the due jobs, pruning in one go.

Replicas share the due jobs out, and take a share its owner leaves late: each replica reads the due jobs whose id hashes to its place among the live leases; the
others' only once they are ``SLACK`` late and while it keeps up with its own. The share
decides what a replica reads, never what it may claim: the claim alone fences a fire.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from plugins.postgres_firing import SLACK
from yamlcron.errors import LeaseLostError
from yamlcron.interfaces import Store
from yamlcron.manifest import parse_manifest
from yamlcron.model import AppliedManifest, JobWrite
from yamlcron.runs import Claim, Finish, NewRun, RunStatus

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
JOBS = 60


def _apply(store: Store, at: datetime) -> None:
    text = "version: 1\njobs:\n" + "".join(
        f"  j{i}: {{trigger: {{interval: 1h}}, run: {{call: 'm:f'}}}}\n" for i in range(JOBS)
    )
    specs = parse_manifest(text, Path("jobs.yaml")).jobs.values()
    writes = [JobWrite(spec=spec, next_run_at=at, reschedule=True) for spec in specs]
    store.apply(writes, [], AppliedManifest(digest="d1", path="jobs.yaml", applied_at=NOW))


def _ids(store: Store, now: datetime) -> set[str]:
    return {job.spec.id for job in store.due(now, 1000)}


def test_two_replicas_read_disjoint_shares_that_cover_every_due_job(
    replicas: Callable[[], Store],
) -> None:
    one, two = replicas(), replicas()
    _apply(one, NOW)
    one.join("one", 30)
    two.join("two", 30)
    mine, theirs = _ids(one, NOW), _ids(two, NOW)
    assert mine
    assert theirs
    assert not mine & theirs
    assert mine | theirs == {f"j{i}" for i in range(JOBS)}


def test_a_replica_behind_on_its_own_share_does_not_take_the_others(
    replicas: Callable[[], Store],
) -> None:
    one, two = replicas(), replicas()
    _apply(one, NOW)
    lease = one.join("one", 30)
    two.join("two", 30)
    mine = _ids(one, NOW)
    # The other's share is claimed on time; this one's stays due: it is behind.
    theirs = _ids(two, NOW)
    later = NOW + SLACK + timedelta(seconds=1)
    assert _ids(one, later) == mine  # its own only, late as they are
    # Once it has claimed its own, it takes the other's late ones too.
    claims = [
        Claim(
            job_id=job_id,
            expected=NOW,
            next_run_at=NOW + timedelta(hours=1),
            runs=(
                NewRun(job_id=job_id, scheduled_at=NOW, status=RunStatus.RUNNING, started_at=NOW),
            ),
        )
        for job_id in sorted(mine)
    ]
    assert len(one.claim(claims, lease, None)) == len(mine)
    assert _ids(one, later) == theirs


def test_a_replica_alone_reads_every_due_job(replicas: Callable[[], Store]) -> None:
    one = replicas()
    _apply(one, NOW)
    one.join("one", 30)
    assert len(_ids(one, NOW)) == JOBS


def test_a_batch_of_ends_trims_each_jobs_history_to_what_it_keeps(
    replicas: Callable[[], Store],
) -> None:
    store = replicas()
    _apply(store, NOW)
    lease = store.join("one", 30)
    keep = {"j1": 3, "j2": 1, "j3": 50}
    for n in range(6):  # six fires of each job, each batch of ends trims in one statement
        at = NOW + timedelta(hours=n)
        claims = [
            Claim(
                job_id=job_id,
                runs=(
                    NewRun(job_id=job_id, scheduled_at=at, status=RunStatus.RUNNING, started_at=at),
                ),
            )
            for job_id in keep
        ]
        runs = store.claim(claims, lease, None)
        ends = [
            Finish(
                run=replace(run, status=RunStatus.SUCCESS, finished_at=at),
                lease=lease,
                keep=keep[run.job_id],
            )
            for run in runs
        ]
        assert not any(isinstance(r, LeaseLostError) for r in store.finish_many(ends))
    history = {job_id: store.runs(job_id, limit=100) for job_id in keep}
    assert {job_id: len(runs) for job_id, runs in history.items()} == {"j1": 3, "j2": 1, "j3": 6}
    newest = NOW + timedelta(hours=5)
    assert all(runs[0].scheduled_at == newest for runs in history.values())  # the newest kept
