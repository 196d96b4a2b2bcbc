"""The service (``yamlcron.app.Yamlcron``) as the CLI uses it, and its pure parts."""

from __future__ import annotations

import ast
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.tools import ROOT
from yamlcron.answers import fires
from yamlcron.app import Yamlcron
from yamlcron.errors import PlanRefusedError, StoreError, UnknownJobError
from yamlcron.interrupts import TIMED_OUT, stoppable
from yamlcron.manifest import parse_manifest
from yamlcron.model import Plan
from yamlcron.registry import build_registry
from yamlcron.runs import RunStatus

MANIFEST = """\
version: 1
jobs:
  ok:
    trigger: {cron: "0 3 * * *", timezone: Europe/Berlin}
    run: {shell: "echo fine"}
  slow:
    trigger: {cron: "0 3 * * *"}
    run: {shell: "sleep 30"}
"""


def service(folder: Path, *, create: bool = True) -> Yamlcron:
    return Yamlcron(folder / "jobs.yaml", registry=build_registry(autoload=False), create=create)


@pytest.fixture
def applied(tmp_path: Path) -> Path:
    (tmp_path / "jobs.yaml").write_text(MANIFEST)
    with service(tmp_path) as cron:
        cron.apply()
    return tmp_path


def test_a_reader_creates_no_store_and_says_where_it_looked(tmp_path: Path) -> None:
    (tmp_path / "jobs.yaml").write_text(MANIFEST)
    with service(tmp_path, create=False) as cron, pytest.raises(StoreError) as caught:
        cron.jobs()
    assert str(caught.value) == (
        f"no store at .yamlcron/state.db beside {tmp_path / 'jobs.yaml'}; "
        f"run 'yamlcron apply -f {tmp_path / 'jobs.yaml'}' first"
    )
    assert not (tmp_path / ".yamlcron").exists()


def test_a_reader_takes_no_daemon_lock(applied: Path) -> None:
    with service(applied, create=False) as reader:
        assert [job.spec.id for job in reader.jobs()] == ["ok", "slow"]
        assert not reader.store.daemon_alive()
        daemon = service(applied)
        daemon.start()  # the lock is free while the reader is open
        try:
            assert reader.store.daemon_alive()
        finally:
            assert daemon.stop(timeout=5)


def test_plan_shows_the_plan_before_the_guard_refuses_it(applied: Path) -> None:
    (applied / "jobs.yaml").write_text("version: 1\njobs: {}\n")
    shown: list[Plan] = []
    with service(applied) as cron, pytest.raises(PlanRefusedError):
        cron.plan(show=shown.append)
    assert [p.remove for p in shown] == [("ok", "slow")]


def test_an_unchanged_manifest_plans_and_applies_empty(applied: Path) -> None:
    with service(applied) as cron:
        assert cron.plan().is_empty
        applied_again = cron.apply()
    assert (applied_again.is_empty, applied_again.unchanged) == (True, 2)


def test_pause_and_resume_return_the_next_fire_time(applied: Path) -> None:
    clock = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    with Yamlcron(
        applied / "jobs.yaml", registry=build_registry(autoload=False), clock=lambda: clock
    ) as cron:
        paused = cron.pause("ok")
        assert [job.paused for job in cron.jobs()] == [True, False]
        resumed = cron.resume("ok")
        assert paused.spec.id == resumed.spec.id == "ok"
        assert resumed.next_run_at == datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 03:00 Berlin
        with pytest.raises(
            UnknownJobError, match=r"no job 'okk' in the store \(did you mean 'ok'\?\)"
        ):
            cron.pause("okk")


def test_trigger_without_a_loop_runs_here_and_records_the_run(applied: Path) -> None:
    with service(applied, create=False) as cron:
        handle = cron.trigger("ok")
        assert handle.outcome is not None
        assert handle.stopped is None
        assert handle.result().status == RunStatus.SUCCESS
        [run] = cron.history("ok")
        assert (run.id, run.output) == (handle.outcome.id, "fine\n")
        assert cron.zones(["ok", "gone"]).keys() == {"ok"}


def test_trigger_here_stops_the_run_when_its_time_runs_out(applied: Path) -> None:
    with service(applied, create=False) as cron:
        handle = cron.trigger("slow", timeout=0.2)
    assert handle.stopped == TIMED_OUT
    assert handle.result().status == RunStatus.INTERRUPTED


def test_history_filters_and_one_run(applied: Path) -> None:
    with service(applied, create=False) as cron:
        run = cron.trigger("ok").result()
        assert cron.history(statuses=["failure"]) == []
        assert cron.history(run_id=run.id) == [run]
        with pytest.raises(UnknownJobError, match=f"no run {run.id} of job 'slow'"):
            cron.history("slow", run_id=run.id)
        with pytest.raises(UnknownJobError, match="no job 'nope' in the store"):
            cron.history("nope")


def test_fires_counts_in_the_jobs_zone_from_text() -> None:
    spec = parse_manifest(MANIFEST, Path("jobs.yaml")).jobs["ok"]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    found = fires(spec, None, 2, "2026-03-28T12:00", now)
    assert [t.isoformat() for t in found.times] == [
        "2026-03-29T01:00:00+00:00",  # 03:00 CEST, the night the clocks go forward
        "2026-03-30T01:00:00+00:00",
    ]
    assert fires(spec, None, 1, None, now).after == now
    with pytest.raises(ValueError, match="'soon' is not an ISO 8601 datetime"):
        fires(spec, None, 1, "soon", now)


def test_stoppable_reports_what_stopped_the_work() -> None:
    cancelled = threading.Event()

    def wait() -> bool:
        return cancelled.wait(60)

    assert stoppable(lambda: "done", cancelled.set, None) == ("done", None)
    assert stoppable(wait, cancelled.set, 0.01) == (True, TIMED_OUT)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_cli_imports_neither_store_nor_reconciler_and_app_no_cli() -> None:
    package = ROOT / "yamlcron"
    forbidden = ("yamlcron.store", "yamlcron.reconcile")
    for module in sorted((package / "cli").glob("*.py")):
        names = _imports(module)
        assert not [n for n in names if n.startswith(forbidden)], module.name
    assert not {n for n in _imports(package / "app.py") if n.startswith("yamlcron.cli")}
