"""Remote runs in the core: task runs and executor options in the manifest, references in
the store, adoption instead of interruption (``yamlcron.remote``). The engine's side, with
real Celery workers, is ``tests/process/test_celery.py``."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from yamlcron.canonical import job_from_json
from yamlcron.errors import ManifestError
from yamlcron.interfaces import Store
from yamlcron.manifest import parse_manifest
from yamlcron.model import AppliedManifest, JobWrite
from yamlcron.registry import build_registry
from yamlcron.remote import RemoteStore, reference, remote_run
from yamlcron.runs import Claim, Finish, NewRun, RunStatus
from yamlcron.schema import merged_schema

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)

TASKS = """\
version: 1
executors:
  celery: {broker: "redis://${REDIS_HOST:-127.0.0.1}:6379/0", backend: "redis://h/1"}
jobs:
  sync:
    trigger: {cron: "*/5 * * * *"}
    run: {task: billing.tasks.sync, args: [1], kwargs: {full: false}, timeout: 10m}
    executor: {via: celery, queue: billing, priority: 5}
  plain:
    trigger: {interval: 1h}
    run: {command: ["true"]}
"""


def _parse(text: str) -> dict[str, object]:
    manifest = parse_manifest(text, Path("jobs.yaml"), build_registry(autoload=False).components)
    return dict(manifest.jobs)


def _errors(text: str) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        _parse(text)
    return [f"{i.line}:{i.column}: {i.path}: {i.message}" for i in caught.value.issues]


def test_a_task_run_takes_its_executors_settings_under_its_own_options() -> None:
    manifest = parse_manifest(TASKS, Path("jobs.yaml"), build_registry(autoload=False).components)
    sync = manifest.jobs["sync"]
    assert (sync.run.kind, sync.run.task, sync.remote) == ("task", "billing.tasks.sync", True)
    assert sync.executor == "celery"
    assert sync.executor_options == {
        "broker": "redis://${REDIS_HOST:-127.0.0.1}:6379/0",  # never stored expanded
        "backend": "redis://h/1",
        "queue": "billing",
        "priority": 5,
    }
    assert sync.canonical["executor"]["via"] == "celery"
    assert sync.canonical["run"] == {
        "task": "billing.tasks.sync",
        "args": [1],
        "kwargs": {"full": False},
        "timeout": "10m",
    }
    again = job_from_json("sync", json.loads(json.dumps(sync.canonical)))
    assert again == sync
    assert again.digest == sync.digest
    plain = manifest.jobs["plain"]  # no options: the canonical form keeps the plain name
    assert (plain.canonical["executor"], plain.remote) == ("subprocess", False)


def test_options_are_expanded_when_sent_only() -> None:
    spec = parse_manifest(TASKS, Path("jobs.yaml"), build_registry(autoload=False).components).jobs[
        "sync"
    ]
    from yamlcron.runs import Run

    run = Run(id=7, job_id="sync", scheduled_at=NOW, attempt=2, status=RunStatus.RUNNING)
    sent = remote_run(run, spec, "ref", {"REDIS_HOST": "cache.internal"})
    assert sent.options["broker"] == "redis://cache.internal:6379/0"
    assert sent.expires_at == NOW + timedelta(seconds=60)  # misfire_grace_time's default
    assert sent.env["YAMLCRON_ATTEMPT"] == "2"
    assert spec.executor_options["broker"].startswith("redis://${REDIS_HOST")


def test_executor_mistakes_are_located() -> None:
    errors = _errors(
        """\
version: 1
executors:
  celery: {broker: "redis://x", backend: "redis://y", colour: red}
  celry: {}
jobs:
  a:
    trigger: {interval: 1h}
    run: {task: app.a}
  b:
    trigger: {interval: 1h}
    run: {task: app.b}
    executor: {via: celery, queue: 5}
  c:
    trigger: {interval: 1h}
    run: {command: ["true"]}
    executor: celery
  d:
    trigger: {interval: 1h}
    run: {task: app.d}
    executor: thread
  e:
    trigger: {interval: 1h}
    run: {command: ["true"], args: [1]}
  f:
    trigger: {interval: 1h}
    run: {task: app.f}
    executor: {via: thread, workers: 2}
"""
    )
    assert errors == [
        "3:55: executors.celery.colour: unknown key 'colour'; expected one of: "
        "broker, backend, queue, priority, headers",
        "4:3: executors.celry: unknown executor 'celry' (did you mean 'celery'?); installed: "
        "celery, process, subprocess, thread",
        "8:17: jobs.a.run.task: a task run needs an executor that runs tasks "
        "(such as executor: celery)",
        "12:36: jobs.b.executor.queue: expected a string, got 5",
        "16:15: jobs.c.executor: executor 'celery' runs task runs only (run: {task: ...})",
        "20:15: jobs.d.executor: executor 'thread' does not run task runs; "
        "use one that does (celery)",
        "23:30: jobs.e.run.args: 'args' goes only with 'call' or 'task'",
        "27:21: jobs.f.executor.via: executor 'thread' does not run task runs; "
        "use one that does (celery)",
    ]


def test_the_merged_schema_describes_executor_options() -> None:
    schema = merged_schema(build_registry(autoload=False).components)
    settings = schema["properties"]["executors"]["properties"]["celery"]
    assert "broker" in settings["properties"]
    assert settings["required"] == []
    [celery] = list(schema["$defs"]["executor"]["anyOf"][1]["allOf"])
    assert celery["if"]["properties"]["via"]["const"] == "celery"
    assert celery["then"]["required"] == ["broker", "backend"]


def test_references_are_derived_not_drawn() -> None:
    one = reference("store-a", "sync", NOW, 1)
    assert one == reference("store-a", "sync", NOW.astimezone(), 1)  # the instant, not its zone
    others = {
        reference("store-b", "sync", NOW, 1),
        reference("store-a", "sync2", NOW, 1),
        reference("store-a", "sync", NOW + timedelta(microseconds=1), 1),
        reference("store-a", "sync", NOW, 2),
    }
    assert one not in others
    assert len(others) == 4


def _applied(store: Store) -> None:
    jobs = parse_manifest(TASKS, Path("jobs.yaml"), build_registry(autoload=False).components).jobs
    writes = [JobWrite(spec=s, next_run_at=NOW, reschedule=True) for s in jobs.values()]
    store.apply(writes, [], AppliedManifest(digest="d1", path="jobs.yaml", applied_at=NOW))


def _fire(job_id: str, *, remote: bool) -> Claim:
    run = NewRun(
        job_id=job_id, scheduled_at=NOW, status=RunStatus.RUNNING, started_at=NOW, remote=remote
    )
    return Claim(job_id=job_id, expected=NOW, next_run_at=NOW + HOUR, runs=(run,))


def test_a_restart_adopts_remote_runs_and_interrupts_the_others(store: Store) -> None:
    assert isinstance(store, RemoteStore)
    _applied(store)
    gone = store.join("gone", 30)
    sync, plain = store.claim(
        [_fire("sync", remote=True), _fire("plain", remote=False)], gone, None
    )
    store.mark_sent([sync.id])
    store.leave(gone)  # as a stop does; a crash lets the lease expire
    heir = store.join("heir", 30)
    reaped = store.reap(NOW)
    assert [r.id for r in reaped] == [plain.id]  # the remote run is not cut short
    [adopted] = store.adopt_remote(heir)
    assert (adopted.run.id, adopted.sent) == (sync.id, True)
    assert adopted.reference == reference(store.store_identity(), "sync", NOW, 1)
    assert store.adopt_remote(heir) == []  # adopted once
    assert store.run(sync.id).status == RunStatus.RUNNING  # type: ignore[union-attr]
    # The heir's lease now owns it: its outcome is recorded under it, not under the old one.
    done = replace(sync, status=RunStatus.SUCCESS, finished_at=NOW, result={"n": 1})
    assert store.finish_many([Finish(run=done, lease=heir)]) == [None]
    assert store.run(sync.id).result == {"n": 1}  # type: ignore[union-attr]


def test_a_remote_run_never_sent_is_adopted_as_such(store: Store) -> None:
    assert isinstance(store, RemoteStore)
    _applied(store)
    gone = store.join("gone", 30)
    store.claim([_fire("sync", remote=True)], gone, None)
    store.leave(gone)
    heir = store.join("heir", 30)
    store.reap(NOW)
    [adopted] = store.adopt_remote(heir)
    assert not adopted.sent


def test_the_store_identity_is_kept(store: Store) -> None:
    assert isinstance(store, RemoteStore)
    first = store.store_identity()
    assert first == store.store_identity()
    assert len(first) == 32


class _Sunrise:
    """A schedule of its own kind (as celery's solar() is): nothing in a manifest says it."""

    def __repr__(self) -> str:
        return "<sunrise>"


def test_a_beat_schedule_becomes_a_manifest_that_validates(tmp_path: Path) -> None:
    celery = pytest.importorskip("celery")
    from celery.schedules import crontab

    from yamlcron.remotebeat import beat_to_manifest

    app = celery.Celery("proj", broker="redis://h:6379/0", backend="redis://h:6379/1")
    app.conf.timezone = "Europe/Berlin"
    app.conf.beat_schedule = {
        "nightly report": {
            "task": "proj.tasks.report",
            "schedule": crontab(minute=30, hour=3, day_of_week="mon-fri"),
            "args": (7,),
            "options": {"queue": "reports", "expires": 600},
        },
        "every-10s": {"task": "proj.tasks.ping", "schedule": 10.0, "kwargs": {"to": "x"}},
        "hourly": {"task": "proj.tasks.tick", "schedule": timedelta(hours=1)},
        "dawn": {"task": "proj.tasks.sun", "schedule": _Sunrise()},
    }
    manifest, skipped = beat_to_manifest(app)
    assert skipped == ["dawn: its schedule <sunrise> has no equivalent"]
    assert manifest["executors"] == {
        "celery": {"broker": "redis://h:6379/0", "backend": "redis://h:6379/1"}
    }
    assert manifest["jobs"] == {
        "nightly-report": {
            "trigger": {"cron": "30 3 * * mon-fri", "timezone": "Europe/Berlin"},
            "run": {"task": "proj.tasks.report", "args": [7]},
            "executor": {"via": "celery", "queue": "reports"},
            "misfire_grace_time": 600,
        },
        "every-10s": {
            "trigger": {"interval": 10},
            "run": {"task": "proj.tasks.ping", "kwargs": {"to": "x"}},
            "executor": "celery",
        },
        "hourly": {
            "trigger": {"interval": 3600},
            "run": {"task": "proj.tasks.tick"},
            "executor": "celery",
        },
    }
    import yaml

    jobs = _parse(yaml.safe_dump(manifest))
    assert set(jobs) == {"nightly-report", "every-10s", "hourly"}
