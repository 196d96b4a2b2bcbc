"""Events in words: what the apprise notifier says and the healthchecks ping's body starts with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from yamlcron.events import ManifestEvent, RunEvent, run_event
from yamlcron.manifest import parse_manifest
from yamlcron.message import compose, last_bytes, last_lines
from yamlcron.model import JobSpec
from yamlcron.runs import Run, RunError, RunStatus

MANIFEST = """\
version: 1
jobs:
  backup:
    trigger: {cron: "0 3 * * *", timezone: America/New_York}
    run: {command: [pg_dump]}
    retry: {attempts: 3}
"""
START = datetime(2026, 11, 29, 8, 0, 0, tzinfo=UTC)


def backup_run(status: RunStatus, **fields: object) -> Run:
    return Run(
        id=42,
        job_id="backup",
        scheduled_at=START,
        attempt=2,
        status=status,
        **fields,  # type: ignore[arg-type]
    )


def job() -> JobSpec:
    return parse_manifest(MANIFEST, Path("jobs.yaml")).jobs["backup"]


def test_a_retried_failure_with_its_facts_link_and_last_lines() -> None:
    run = backup_run(
        RunStatus.TIMEOUT,
        started_at=START + timedelta(seconds=1),
        finished_at=START + timedelta(seconds=91.5),
        error=RunError(type="Timeout", message="ran past its timeout of 1m30s\nmore"),
        output="".join(f"line {i}\n" for i in range(30)),
        node="db-1:4242",
    )
    event = run_event(run, job(), retrying=True)
    message = compose(event, link="https://cron.example/", lines=3)
    assert message.title == "yamlcron: backup failed and will be retried"
    assert message.body == (
        "Job: backup\n"
        "Status: timeout (attempt 2 of 3)\n"
        "Scheduled: 2026-11-29 03:00:00-05:00\n"
        "Duration: 1m30s500ms\n"
        "Error: Timeout: ran past its timeout of 1m30s\n"
        "Node: db-1:4242\n"
        "Run: https://cron.example/runs/42\n"
        "\n"
        "Last output:\n"
        "line 27\nline 28\nline 29"
    )


def test_a_missed_run_has_no_duration_and_no_output() -> None:
    run = backup_run(RunStatus.MISSED, error=RunError(type="Missed", message="late by 2h"))
    message = compose(run_event(run, job()))
    assert message.title == "yamlcron: backup missed a run"
    assert message.body.splitlines()[-1] == "Error: Missed: late by 2h"
    assert "Duration" not in message.body
    assert "Last output" not in message.body


def test_a_run_of_a_removed_job_still_reads() -> None:
    event = RunEvent(kind="succeeded", run=backup_run(RunStatus.SUCCESS, exit_code=0), job=None)
    assert compose(event).body.splitlines()[:3] == [
        "Job: backup",
        "Status: success (attempt 2)",
        "Scheduled: 2026-11-29 08:00:00+00:00",
    ]


def test_a_manifest_event() -> None:
    event = ManifestEvent(
        kind="reload_failed",
        path="/srv/jobs.yaml",
        time=START,
        message="jobs.yaml:4:5: jobs.a.trigger: unknown key",
    )
    message = compose(event)
    assert message.title == "yamlcron: manifest reload failed"
    assert message.body == "Manifest: /srv/jobs.yaml\njobs.yaml:4:5: jobs.a.trigger: unknown key"


def test_the_end_of_a_text_by_lines_and_by_bytes() -> None:
    assert last_lines("a\nb\nc\n", 2) == "b\nc"
    assert last_lines("a\nb\n", 0) == ""
    assert last_bytes("abc", 10) == "abc"
    assert last_bytes("xé€", 4) == "€"  # the 2-byte é is not cut in two
    assert last_bytes("xé€", 5) == "é€"
