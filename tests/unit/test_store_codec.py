"""The row codec and the schema's dialect words, as plain values: no database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import GOOD
from yamlcron.canonical import canonical_json
from yamlcron.manifest import parse_manifest
from yamlcron.model import AppliedManifest, NotifySpec
from yamlcron.runs import Queued, Run, RunError, RunStatus
from yamlcron.store import codec, schema

NOW = datetime(2026, 11, 23, 12, 0, 0, 250, tzinfo=UTC)


def test_an_apply_record_round_trips_with_and_without_notifiers() -> None:
    notify = (NotifySpec(via="webhook", on=("failure",), options={"url": "https://x"}),)
    for record in (
        AppliedManifest(digest="d", path="jobs.yaml", applied_at=NOW),
        AppliedManifest(
            digest="d", path="jobs.yaml", applied_at=NOW, commit="abc", rules="r", notify=notify
        ),
    ):
        row = codec.applied_row(record)
        assert len(row) == len(codec.APPLIED_COLUMNS.split(","))
        assert codec.applied_from_row(row) == record


def test_a_job_row_reads_as_the_spec_it_was_written_from() -> None:
    spec = next(iter(parse_manifest(GOOD, Path("jobs.yaml")).jobs.values()))
    at = codec.to_micros(NOW)
    row = (spec.id, spec.digest, canonical_json(spec.canonical), None, at, 1, "failure")
    assert len(row) == len(codec.JOB_COLUMNS.split(","))
    job_id, job = codec.stored_job_from_row(row)
    assert (job_id, job.spec, job.digest) == (spec.id, spec, spec.digest)
    assert (job.next_run_at, job.anchor, job.paused_override) == (None, NOW, True)
    assert job.last_status == "failure"


def test_a_run_row_reads_back_its_json_and_defaults() -> None:
    at = codec.to_micros(NOW)
    row = (
        7,
        "a",
        at,
        2,
        "failure",
        at,
        at + 1,
        3,
        "[1]",
        '{"type": "E", "message": "m", "traceback": null}',
        None,
        None,
        5,
        "d",
        None,
    )
    assert len(row) == len(codec.RUN_COLUMNS.split(","))
    assert codec.run_from_row(row) == Run(
        id=7,
        job_id="a",
        scheduled_at=NOW,
        attempt=2,
        status=RunStatus.FAILURE,
        started_at=NOW,
        finished_at=NOW + timedelta(microseconds=1),
        exit_code=3,
        result=[1],
        error=RunError(type="E", message="m"),
        output="",
        node="",
        cause_run_id=5,
        manifest_digest="d",
    )


def test_json_columns_keep_null_and_write_what_json_cannot_hold_as_its_repr() -> None:
    assert codec.json_text(None) is None
    assert json.loads(codec.json_text({"at": NOW, "é": 1}) or "") == {"at": repr(NOW), "é": 1}


def test_a_queued_fire_is_a_row_of_its_columns() -> None:
    item = Queued(job_id="a", due_at=NOW, scheduled_at=NOW, attempt=2, reason="retry")
    row = codec.queue_row(item)
    assert len(row) == len(codec.QUEUE_COLUMNS.split(","))
    assert row == ("a", codec.to_micros(NOW), codec.to_micros(NOW), 2, "retry", None)


def test_the_ddl_differs_between_dialects_only_in_their_words() -> None:
    one = schema.migrations(schema.DDLWords(bigint="B1", serial="S1"))
    two = schema.migrations(schema.DDLWords(bigint="B2", serial="S2"))
    assert len(one) == schema.SCHEMA_VERSION
    for a, b in zip(one, two, strict=True):
        assert a.replace("B1", "X").replace("S1", "Y") == b.replace("B2", "X").replace("S2", "Y")
    assert "{" not in "".join(one)  # every placeholder was substituted
