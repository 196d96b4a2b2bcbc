"""The healthchecks notifier against a real local HTTP server that records its pings.

Also the counting of deliveries (``EventBus.observe_deliveries``), with real notifiers.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from plugins.healthchecks import BODY_LIMIT, HealthchecksNotifier, ping_url, run_uuid
from tests.conftest import CliResult
from tests.recorder import Recorder, Request, closed_port, run_jobs
from yamlcron import RunStatus, Yamlcron
from yamlcron.errors import DeliveryError
from yamlcron.events import ManifestEvent, RunEvent
from yamlcron.registry import build_registry
from yamlcron.runs import Run, RunError

SECRET = "s3cr3t-ping-key"


def manifest(url: str, *, on: str = "[started, success, failure]", extra: str = "") -> str:
    return f"""\
version: 1
notify:
  - via: healthchecks
    url: "{url}/ping/${{HC_PING_KEY}}/nightly"
    on: {on}
    timeout: 2s
    {extra}
jobs:
  ok:
    trigger: {{cron: "0 0 1 1 *"}}
    run: {{shell: "echo hello"}}
  bad:
    trigger: {{cron: "0 0 1 1 *"}}
    run: {{shell: "echo oops; exit 2"}}
"""


@pytest.fixture
def ping_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HC_PING_KEY", SECRET)
    return SECRET


def of_run(pings: list[Request], run: Run) -> list[Request]:
    return [p for p in pings if p.query.get("rid") == run_uuid(run)]


def test_start_success_and_fail_pings_carry_the_run_uuid(
    tmp_path: Path, recorder: Recorder, ping_key: str
) -> None:
    (ok, bad), counted = run_jobs(tmp_path, manifest(recorder.url), "ok", "bad")
    assert (ok.status, bad.status) == (RunStatus.SUCCESS, RunStatus.FAILURE)
    pings = recorder.wait_for(4)
    assert len(pings) == 4
    base = f"/ping/{ping_key}/nightly"

    started, succeeded = of_run(pings, ok)
    assert (started.path, succeeded.path) == (f"{base}/start", base)
    assert uuid.UUID(started.query["rid"]).version == 5  # healthchecks takes only a UUID
    assert b"hello" in succeeded.body
    assert b"Job: ok\nStatus: success (attempt 1 of 1)\n" in succeeded.body

    started, failed = of_run(pings, bad)
    assert (started.path, failed.path) == (f"{base}/start", f"{base}/fail")
    assert failed.body.endswith(b"\n\noops\n")
    assert b"Exit code: 2\nError: Failure: exited with code 2" in failed.body
    assert failed.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert run_uuid(ok) != run_uuid(bad)
    assert counted == [("healthchecks", "ok")] * 4


def test_the_body_is_the_facts_and_the_end_of_the_output_bounded(
    tmp_path: Path, recorder: Recorder, ping_key: str
) -> None:
    lines = "seq -f 'line %g' 0 19999"
    text = manifest(recorder.url, on="[success]").replace('"echo hello"', f'"{lines}"')
    (run,), _ = run_jobs(tmp_path, text, "ok")
    assert len(run.output.encode()) > 5 * BODY_LIMIT  # the store keeps more than a ping
    [ping] = recorder.wait_for(1)
    assert len(ping.body) <= BODY_LIMIT
    assert ping.body.startswith(b"Job: ok\n")
    assert ping.body.endswith(b"line 19999\n")
    assert b"\nline 19200\n" in ping.body  # 11 bytes a line: some 900 lines fit
    assert b"\nline 18000\n" not in ping.body


def test_a_failing_ping_is_logged_without_its_secret_counted_and_stops_nothing(
    tmp_path: Path, recorder: Recorder, ping_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    recorder.status = 500
    text = manifest(recorder.url, on="[failure]", extra="retries: 1")
    runs, counted = run_jobs(tmp_path, text, "bad", "bad")
    assert [r.status for r in runs] == [RunStatus.FAILURE] * 2  # the scheduler carried on
    assert recorder.count() == 4  # two events, each tried twice
    assert counted == [("healthchecks", "error")] * 2
    lines = [r.getMessage() for r in caplog.records if r.name == "yamlcron.notify.healthchecks"]
    assert lines == [f"healthchecks ping /fail: {recorder.url} failed 2 times (HTTP 500)"] * 2
    assert not any(ping_key in r.getMessage() for r in caplog.records)
    assert all(r.exc_info is None for r in caplog.records if r.name.startswith("yamlcron.notify"))


def test_a_4xx_is_not_tried_again(tmp_path: Path, recorder: Recorder, ping_key: str) -> None:
    recorder.status = 404  # a check that was deleted
    _, counted = run_jobs(tmp_path, manifest(recorder.url, on="[failure]"), "bad")
    assert recorder.count() == 1
    assert counted == [("healthchecks", "error")]


def event(kind: str, status: RunStatus, *, run_id: int = 7) -> RunEvent:
    run = Run(
        id=run_id,
        job_id="backup",
        scheduled_at=datetime(2026, 11, 29, 3, tzinfo=UTC),
        attempt=1,
        status=status,
        error=RunError(type=status.value.capitalize(), message="why") if status.failed else None,
    )
    return RunEvent(kind=kind, run=run, job=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "status", "ping"),
    [
        ("missed", RunStatus.MISSED, "/fail"),  # it did not run when it should have
        ("skipped", RunStatus.SKIPPED, "/log"),  # a run under way pings for itself
        ("retried", RunStatus.FAILURE, "/log"),  # the next attempt pings
        ("interrupted", RunStatus.INTERRUPTED, "/fail"),
        ("failed", RunStatus.TIMEOUT, "/fail"),
    ],
)
def test_what_each_run_event_pings(
    recorder: Recorder, kind: str, status: RunStatus, ping: str
) -> None:
    HealthchecksNotifier().notify(event(kind, status), {"url": f"{recorder.url}/hc"})
    [got] = recorder.wait_for(1)
    assert (got.path, got.query) == (f"/hc{ping}", {"rid": run_uuid(event(kind, status).run)})


@pytest.mark.parametrize(
    ("kind", "path"),
    [("applied", "/hc"), ("reload_failed", "/hc/fail"), ("plan_refused", "/hc/fail")],
)
def test_manifest_events_ping_without_a_run(recorder: Recorder, kind: str, path: str) -> None:
    manifest_event = ManifestEvent(
        kind=kind,  # type: ignore[arg-type]
        path="jobs.yaml",
        time=datetime(2026, 11, 29, tzinfo=UTC),
        message="jobs.yaml:3:5: jobs.a: bad",
    )
    HealthchecksNotifier().notify(manifest_event, {"url": f"{recorder.url}/hc"})
    [got] = recorder.wait_for(1)
    assert (got.path, got.query) == (path, {})
    assert got.body == b"Manifest: jobs.yaml\njobs.yaml:3:5: jobs.a: bad"


def test_a_start_that_comes_after_its_end_is_dropped(recorder: Recorder) -> None:
    # The bus sends from a pool: a short run's end may be picked up before its start.
    notifier = HealthchecksNotifier()
    options = {"url": f"{recorder.url}/hc"}
    notifier.notify(event("succeeded", RunStatus.SUCCESS), options)
    notifier.notify(event("started", RunStatus.RUNNING), options)
    notifier.notify(event("started", RunStatus.RUNNING, run_id=8), options)  # another run
    assert [p.path for p in recorder.wait_for(2)] == ["/hc", "/hc/start"]
    assert recorder.requests[1].query["rid"] == run_uuid(event("", RunStatus.RUNNING, run_id=8).run)


def test_an_end_waits_for_its_start_under_way(recorder: Recorder) -> None:
    notifier = HealthchecksNotifier()
    options = {"url": f"{recorder.url}/hc"}
    recorder.delays["/hc/start"] = 1.0  # a slow answer to the start only
    starting = threading.Thread(
        target=notifier.notify, args=(event("started", RunStatus.RUNNING), options)
    )
    starting.start()
    try:
        # Sent once the start is under way (the server has it, and sits on it).
        while not notifier._order._starting:
            time.sleep(0.01)
        notifier.notify(event("succeeded", RunStatus.SUCCESS), options)
    finally:
        starting.join()
    assert [p.path for p in recorder.wait_for(2)] == ["/hc/start", "/hc"]


def test_the_run_uuid_is_the_runs_own() -> None:
    first = event("started", RunStatus.RUNNING).run
    assert run_uuid(first) == run_uuid(event("succeeded", RunStatus.SUCCESS).run)
    assert run_uuid(first) != run_uuid(event("started", RunStatus.RUNNING, run_id=8).run)


def test_the_ping_url_keeps_its_query() -> None:
    # A slug URL may ask healthchecks to create the check on its first ping.
    assert (
        ping_url("https://hc.example/k/backup?create=1", "fail", "r")
        == "https://hc.example/k/backup/fail?create=1&rid=r"
    )
    assert ping_url("https://hc.example/uuid/", "", None) == "https://hc.example/uuid/"


def test_a_server_that_is_down_fails_in_one_line() -> None:
    port = closed_port()
    with pytest.raises(DeliveryError) as raised:
        HealthchecksNotifier().notify(
            event("started", RunStatus.RUNNING),
            {"url": f"http://127.0.0.1:{port}/secret", "retries": 0, "timeout": "1s"},
        )
    assert (
        str(raised.value) == f"healthchecks ping /start: http://127.0.0.1:{port} failed (URLError)"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("{via: healthchecks}", "missing required key 'url'"),
        ("{via: healthchecks, url: 'ftp://x'}", "url: 'ftp://x' is not valid here"),
        (
            "{via: healthchecks, url: 'https://x', retries: 9}",
            "retries: 9 is greater than the maximum of 5",
        ),
        ("{via: healthchecks, url: 'https://x', pth: 1}", "unknown key 'pth'"),
    ],
)
def test_its_options_are_validated(
    cli: Callable[..., CliResult], write: Callable[[str], Path], options: str, message: str
) -> None:
    path = write(
        f"version: 1\njobs:\n  a:\n    trigger: {{cron: '0 3 * * *'}}\n    run: {{shell: 'true'}}\n"
        f"    notify: [{options}]\n"
    )
    result = cli("validate", "-f", path)
    assert result.code == 1
    [line] = result.err.splitlines()
    assert line.startswith(f"{path}:6:")
    assert "jobs.a.notify[0]" in line
    assert message in line


# -- counting deliveries -------------------------------------------------------------------


def test_every_delivery_is_observed_with_its_result(
    tmp_path: Path, recorder: Recorder, ping_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Three notifiers hear one failure: a webhook that answers, a healthchecks ping to a
    # server that is down, and an observer that raises does not stop the next observer.
    text = f"""\
version: 1
jobs:
  bad:
    trigger: {{cron: "0 0 1 1 *"}}
    run: {{shell: "exit 1"}}
    notify:
      - {{via: webhook, url: "{recorder.url}/hook", retries: 0}}
      - {{via: healthchecks, url: "http://127.0.0.1:{closed_port()}/down", retries: 0, timeout: 1s}}
"""
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def broken(via: str, result: str) -> None:
        raise RuntimeError("observer bug")

    def count(via: str, result: str) -> None:
        with lock:
            seen.append((via, result))

    cron = Yamlcron.from_text(text, tmp_path, registry=build_registry(autoload=False))
    cron.events.observe_deliveries(broken)
    forget = cron.events.observe_deliveries(count)
    cron.start()
    try:
        cron.trigger("bad").result(timeout=20)
        assert cron.events.flush(timeout=30)
        forget()
        cron.trigger("bad").result(timeout=20)
        assert cron.events.flush(timeout=30)
    finally:
        cron.stop(timeout=5)
    assert sorted(seen) == [("healthchecks", "error"), ("webhook", "ok")]
    assert recorder.count() == 2  # the second run was delivered, not counted
    raised = [
        r for r in caplog.records if r.getMessage() == "a delivery observer raised; carrying on"
    ]
    assert len(raised) == 4
    assert logging.ERROR in {r.levelno for r in raised}
