"""On PostgreSQL every batch size is one statement text, so the server prepares each once.

Written for any batch size, a multi-row ``INSERT`` or ``IN`` list is a new statement text
per size: psycopg then prepares none of them (it prepares a text seen five times) and the
server parses SQL on every claim. On PostgreSQL a batch is one JSON document, one statement
text for every size, which psycopg also converts only once (it parses again in Python, on
every call, a statement of more than 50 parameters). SQLite parses cheaply: its statements
are written for the batch at hand.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.contract.test_leases import _applied
from yamlcron.errors import LeaseLostError
from yamlcron.registry import build_registry
from yamlcron.runs import Claim, Finish, NewRun, RunStatus

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _claims(first: int, count: int) -> list[Claim]:
    """``count`` manual fires of one job, each at its own second (so none conflicts)."""
    claims = []
    for n in range(first, first + count):
        at = NOW + timedelta(seconds=n)
        run = NewRun(job_id="backup", scheduled_at=at, status=RunStatus.RUNNING, started_at=at)
        claims.append(Claim(job_id="backup", expected=None, next_run_at=None, runs=(run,)))
    return claims


def test_every_batch_size_reuses_a_few_prepared_statements(postgres_url: str) -> None:
    store = build_registry().open_store(postgres_url, create=True)
    try:
        _applied(store)
        lease = store.join("alpha", 30)
        made = 0
        sizes = range(1, 41)
        for _ in range(6):  # psycopg prepares a statement text on its fifth use
            for size in sizes:
                runs = store.claim(_claims(made, size), lease, None)
                assert len(runs) == size  # padding made no extra run
                ends = [
                    Finish(run=replace(r, status=RunStatus.SUCCESS, finished_at=NOW), lease=lease)
                    for r in runs
                ]
                assert not any(isinstance(r, LeaseLostError) for r in store.finish_many(ends))
                made += size
        assert len(store.runs("backup", limit=100_000)) == made
        # The claim and the record are a statement each whatever the batch size (arrays),
        # each prepared on its own session: the loop's and the recorder's.
        sql = "SELECT statement FROM pg_prepared_statements"
        claiming = store._main.execute(sql).fetchall()  # type: ignore[attr-defined]
        recording = store._recorder.execute(sql).fetchall()  # type: ignore[attr-defined]
        assert len([s for (s,) in claiming if s.startswith("WITH lease")]) == 1
        assert len([s for (s,) in recording if s.startswith("UPDATE runs SET status")]) == 1
        assert len(claiming) + len(recording) < 10
    finally:
        store.close()


@pytest.mark.parametrize("size", [1, 5, 64, 65, 600])
def test_a_claim_of_any_size_makes_each_run_once_with_ids_in_a_row(
    tmp_path: object, size: int
) -> None:
    store = build_registry().open_store(f"sqlite:///{tmp_path}/state.db", create=True)
    try:
        _applied(store)
        lease = store.join("alpha", 30)
        runs = store.claim(_claims(0, size), lease, None)
        assert len(runs) == size == len({r.id for r in runs})
        assert sorted(r.id for r in runs) == list(range(1, size + 1))  # no id used up
        assert store.claim(_claims(0, size), lease, None) == []  # claimed before: never twice
    finally:
        store.close()
