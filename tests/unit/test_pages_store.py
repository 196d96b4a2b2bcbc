"""The store's read for the status page: the newest runs of many jobs at once, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import GOOD
from yamlcron.interfaces import Store
from yamlcron.manifest import parse_manifest
from yamlcron.model import AppliedManifest, JobWrite
from yamlcron.runs import Claim, NewRun, RunError, RunStatus

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _fill(store: Store, per_job: dict[str, list[RunStatus]]) -> None:
    """Apply GOOD and record these runs (oldest first) for each job, one hour apart."""
    manifest = parse_manifest(GOOD, Path("jobs.yaml"))
    writes = [JobWrite(spec=s, next_run_at=NOW, reschedule=True) for s in manifest.jobs.values()]
    store.apply(writes, [], AppliedManifest(digest="d1", path="jobs.yaml", applied_at=NOW))
    lease = store.join("test", 30)
    claims = []
    for job_id, statuses in per_job.items():
        runs = tuple(
            NewRun(
                job_id=job_id,
                scheduled_at=NOW - timedelta(hours=len(statuses) - n),
                status=status,
                error=RunError(type="Missed", message="a long message " * 100),
            )
            for n, status in enumerate(statuses)
        )
        claims.append(Claim(job_id=job_id, runs=runs))
    store.claim(claims, lease, None)


def test_recent_runs_of_many_jobs_newest_first_without_heavy_fields(store: Store) -> None:
    missed, skipped = RunStatus.MISSED, RunStatus.SKIPPED
    _fill(store, {"backup": [missed] * 5, "cleanup": [skipped, missed], "report": [skipped]})

    recent = store.recent_runs(["backup", "cleanup", "launch", "nope"], 3)

    assert set(recent) == {"backup", "cleanup"}  # no runs: absent
    assert [r.scheduled_at for r in recent["backup"]] == [
        NOW - timedelta(hours=h) for h in (1, 2, 3)
    ]
    assert [r.status for r in recent["cleanup"]] == [missed, skipped]
    everything = store.runs("backup", limit=3)
    assert [r.id for r in recent["backup"]] == [r.id for r in everything]
    assert all(r.error is None and r.result is None and r.output == "" for r in recent["backup"])
    assert all(r.error is not None for r in everything)


def test_recent_runs_pages_by_id_and_filters_by_status(store: Store) -> None:
    missed, skipped = RunStatus.MISSED, RunStatus.SKIPPED
    _fill(store, {"backup": [missed, skipped, missed, skipped, missed]})
    ids = [r.id for r in store.runs("backup")]

    first = store.recent_runs(["backup"], 2)["backup"]
    second = store.recent_runs(["backup"], 2, before=first[-1].id)["backup"]
    last = store.recent_runs(["backup"], 2, before=second[-1].id)["backup"]

    assert [r.id for r in first + second + last] == ids
    assert store.recent_runs(["backup"], 2, before=last[-1].id) == {}
    only_missed = store.recent_runs(["backup"], 10, statuses=["missed"])["backup"]
    assert [r.id for r in only_missed] == [ids[0], ids[2], ids[4]]


def test_recent_runs_of_more_jobs_than_one_statement_takes(store: Store) -> None:
    # 450 ids span three statements; the ones without runs simply are not answered.
    ids = ["backup", *(f"gone-{n}" for n in range(448)), "cleanup"]
    _fill(store, {"backup": [RunStatus.MISSED], "cleanup": [RunStatus.SKIPPED] * 2})

    recent = store.recent_runs(ids, 5)

    assert {k: len(v) for k, v in recent.items()} == {"backup": 1, "cleanup": 2}
    assert store.recent_runs([], 5) == {}
