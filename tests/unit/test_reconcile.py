"""Plan is pure and apply is one transaction; the deletion guard."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import GOOD
from yamlcron import reconcile
from yamlcron.cli.render import plan_text
from yamlcron.errors import PlanRefusedError
from yamlcron.manifest import load_manifest, parse_manifest, rules_digest
from yamlcron.model import Manifest, Plan, StoredJob
from yamlcron.registry import build_registry
from yamlcron.shapes import plan_json
from yamlcron.store.sqlite import SQLiteStore

NOW = datetime(2026, 11, 23, 12, 0, 30, tzinfo=UTC)


def _manifest(text: str = GOOD) -> Manifest:
    return parse_manifest(text, Path("jobs.yaml"))


def _apply(store: SQLiteStore, manifest: Manifest, now: datetime = NOW) -> Plan:
    stored = store.load_jobs()
    result = reconcile.plan(manifest, stored, now)
    reconcile.apply(result, manifest, store, stored, now)
    return result


def test_first_apply_adds_everything_then_nothing(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    first = _apply(store, _manifest())
    assert [s.id for s in first.add] == ["backup", "cleanup", "launch", "report"]
    second = reconcile.plan(_manifest(), store.load_jobs(), NOW + timedelta(minutes=5))
    assert second.is_empty
    assert second.unchanged == 4
    assert plan_text(second) == "No changes: 4 unchanged."


def test_initial_fire_times(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    _apply(store, _manifest())
    jobs = store.load_jobs()
    assert jobs["backup"].next_run_at == datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 03:00 Berlin
    # Intervals are anchored at the (whole-second) moment of the first apply.
    assert jobs["cleanup"].anchor == NOW.replace(microsecond=0)
    assert jobs["cleanup"].next_run_at == NOW + timedelta(minutes=15)
    assert jobs["report"].next_run_at is None


def test_changed_trigger_moves_next_fire_and_changed_command_does_not(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    _apply(store, _manifest())
    before = store.load_jobs()
    edited = GOOD.replace('"0 3 * * *"', '"0 4 * * *"').replace("echo cleanup", "echo tidy")
    later = NOW + timedelta(minutes=7)
    result = _apply(store, _manifest(edited), later)
    changes = {spec.id: changes for spec, changes in result.change}
    assert [(c.path, c.old, c.new) for c in changes["backup"]] == [
        ("trigger.cron", "0 3 * * *", "0 4 * * *")
    ]
    assert [(c.path, c.old, c.new) for c in changes["cleanup"]] == [
        ("run.shell", "echo cleanup", "echo tidy")
    ]
    after = store.load_jobs()
    assert after["backup"].next_run_at == datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    assert after["cleanup"].next_run_at == before["cleanup"].next_run_at
    assert after["cleanup"].anchor == before["cleanup"].anchor


def test_plan_json_and_text(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    _apply(store, _manifest())
    edited = GOOD.replace('"0 3 * * *"', '"0 4 * * *"').replace("  launch:", "  launch2:")
    result = reconcile.plan(_manifest(edited), store.load_jobs(), NOW)
    assert plan_json(result) == {
        "add": ["launch2"],
        "change": {"backup": [{"path": "trigger.cron", "old": "0 3 * * *", "new": "0 4 * * *"}]},
        "remove": ["launch"],
        "unchanged": 2,
    }
    assert plan_text(result).splitlines() == [
        "+ launch2  date 2031-12-01T09:00:00+01:00 (Europe/Berlin)",
        "~ backup",
        '    trigger.cron: "0 3 * * *" -> "0 4 * * *"',
        "- launch",
        "Plan: 1 to add, 1 to change, 1 to remove, 2 unchanged.",
    ]


def test_past_date_warns_and_never_fires_unless_within_grace(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    past = GOOD.replace("2031-12-01T09:00:00+01:00", "2026-11-23T12:00:00+00:00")
    # 30 s late: within the default 60 s grace, so it still fires.
    result = _apply(store, _manifest(past))
    assert result.warnings == ()
    assert store.load_jobs()["launch"].next_run_at == datetime(2026, 11, 23, 12, tzinfo=UTC)
    long_past = GOOD.replace("2031-12-01T09:00:00+01:00", "2026-01-01T00:00:00+00:00")
    result = _apply(store, _manifest(long_past))
    assert result.warnings == (
        "job 'launch': its date 2026-01-01T00:00:00+00:00 has passed; it will never fire",
    )
    assert store.load_jobs()["launch"].next_run_at is None


def test_paused_jobs_get_no_fire_time_until_unpaused(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    _apply(store, _manifest(GOOD.replace("  retry:", "  paused: true\n  retry:")))
    assert all(j.next_run_at is None for j in store.load_jobs().values())
    _apply(store, _manifest())
    assert store.load_jobs()["backup"].next_run_at is not None


def _jobs(count: int) -> str:
    body = "".join(
        f"  j{i}:\n    trigger: {{cron: '@daily'}}\n    run: {{shell: x}}\n" for i in range(count)
    )
    return f"version: 1\njobs:\n{body}" if count else "version: 1\njobs: {}\n"


@pytest.mark.parametrize(
    ("stored", "kept", "refused"),
    [(4, 2, False), (4, 1, True), (6, 2, True), (3, 1, False), (2, 0, True), (10, 5, False)],
)
def test_deletion_guard(stored: int, kept: int, refused: bool) -> None:
    manifest = _manifest(_jobs(stored))
    current = {i: StoredJob.of(s, next_run_at=None, anchor=NOW) for i, s in manifest.jobs.items()}
    result = reconcile.plan(_manifest(_jobs(kept)), current, NOW)
    if refused:
        with pytest.raises(PlanRefusedError, match="pass --force"):
            reconcile.check_guard(result, len(current), force=False)
    else:
        reconcile.check_guard(result, len(current), force=False)
    reconcile.check_guard(result, len(current), force=True)


def test_empty_manifest_over_empty_store_is_not_refused() -> None:
    result = reconcile.plan(_manifest(_jobs(0)), {}, NOW)
    reconcile.check_guard(result, 0, force=False)
    assert result.is_empty


def test_the_applied_manifest_is_known_by_its_record_and_an_old_record_is_renewed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(GOOD.replace("jobs:\n", "notify: [{via: log, on: [failure]}]\njobs:\n"))
    components = build_registry(autoload=False).components
    rules = rules_digest(components)
    store = SQLiteStore(tmp_path / "state.db")
    manifest = load_manifest(path, components)
    assert reconcile.current_record(path, store, rules) is None
    assert reconcile.sync(manifest, store, NOW)[1]
    record = store.last_applied()
    assert record is not None
    assert record.notify == manifest.notify != ()
    assert reconcile.current_record(path, store, rules) == record
    quick = reconcile.empty_plan(store)
    assert (quick.is_empty, quick.unchanged) == (True, 4)
    # A record from before the store kept the notifiers cannot stand in for the manifest;
    # the next sync of the same manifest writes one that can, once.
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute("UPDATE applies SET notify = NULL")
    assert reconcile.current_record(path, store, rules) is None
    assert reconcile.sync(manifest, store, NOW)[1]
    assert not reconcile.sync(manifest, store, NOW)[1]
    assert reconcile.current_record(path, store, rules) is not None
    # Other bytes are another manifest.
    path.write_text(path.read_text() + "\n")
    assert reconcile.current_record(path, store, rules) is None


def test_far_future_start_applies_and_a_schedule_past_9999_just_ends(tmp_path: Path) -> None:
    # Both crashed apply with OverflowError: a zoned cron starting in 9990 (its 30-year
    # search horizon ran past 9999), and one whose next fire would be after 9999.
    store = SQLiteStore(tmp_path / "state.db")
    jobs = """\
version: 1
jobs:
  far:
    trigger: {cron: "0 3 * * *", timezone: Europe/Berlin, start: "9990-01-01"}
    run: {shell: "true"}
  ended:
    trigger: {cron: "0 0 29 2 *", timezone: America/Adak, start: "9997-01-01"}
    run: {shell: "true"}
"""
    _apply(store, _manifest(jobs))
    stored = store.load_jobs()
    assert stored["far"].next_run_at == datetime(9990, 1, 1, 2, tzinfo=UTC)
    assert stored["ended"].next_run_at is None
