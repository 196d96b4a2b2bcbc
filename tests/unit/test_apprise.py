"""The apprise notifier, delivering for real through apprise's json:// to a local server."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from tests.recorder import Recorder, run_jobs
from tests.tools import need
from tests.unit.test_startup import _imported
from yamlcron import RunStatus, Yamlcron
from yamlcron.errors import DeliveryError
from yamlcron.registry import build_registry

# apprise's e-mail plugin imports the standard library's imghdr, deprecated since 3.11, when
# apprise loads its plugins (on the first URL it reads): its warning, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


@pytest.fixture
def apprise() -> ModuleType:
    return need("apprise", "pip install 'yamlcron[apprise]'")


def deliver(tmp_path: Path, urls: str, *jobs: str) -> list[tuple[str, str]]:
    """Run ``jobs`` under a manifest whose top-level apprise notifier has ``urls``."""
    text = f"""\
version: 1
notify:
  - via: apprise
    urls: {urls}
    link: https://cron.example/
    lines: 2
    on: [failure, success]
jobs:
  backup:
    trigger: {{cron: "0 3 * * *", timezone: Europe/Berlin}}
    run: {{shell: "echo one; echo two; echo three; exit 2"}}
    retry: {{attempts: 2, delay: 1ms}}
  ok:
    trigger: {{cron: "0 3 * * *"}}
    run: {{shell: "echo fine"}}
"""
    return run_jobs(tmp_path, text, *jobs)[1]


def test_a_failure_reads_well_and_links_the_runs_page(
    tmp_path: Path, apprise: ModuleType, recorder: Recorder
) -> None:
    port = recorder.server.server_address[1]
    counted = deliver(tmp_path, f'["json://127.0.0.1:{port}/chat"]', "ok", "backup")
    messages = [json.loads(r.body) for r in recorder.wait_for(2)]
    [fine, failed] = sorted(messages, key=lambda m: str(m["type"]), reverse=True)
    assert counted == [("apprise", "ok")] * 2
    with Yamlcron.from_text("version: 1\njobs: {}\n", tmp_path, create=False) as cron:
        [final, first] = cron.history("backup")
    assert (first.attempt, final.attempt, final.status) == (1, 2, RunStatus.FAILURE)

    assert (failed["title"], failed["type"]) == ("yamlcron: backup failed", "failure")
    lines = failed["message"].splitlines()
    assert lines[:2] == ["Job: backup", "Status: failure (attempt 2 of 2)"]
    assert lines[2].startswith("Scheduled: ")
    assert lines[2].endswith(("+01:00", "+02:00"))  # in the job's zone, Europe/Berlin
    assert lines[3].startswith("Duration: ")
    assert lines[4:6] == ["Exit code: 2", "Error: Failure: exited with code 2"]
    assert f"Run: https://cron.example/runs/{final.id}" in lines
    assert lines[-3:] == ["Last output:", "two", "three"]  # lines: 2
    assert (fine["title"], fine["type"]) == ("yamlcron: ok succeeded", "success")


def test_a_service_that_fails_is_one_line_and_counted(
    tmp_path: Path, apprise: ModuleType, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    recorder.status = 500
    port = recorder.server.server_address[1]
    counted = deliver(tmp_path, f'["json://127.0.0.1:{port}/chat"]', "ok")
    assert recorder.count() == 1
    assert counted == [("apprise", "error")]
    [line] = [r.getMessage() for r in caplog.records if r.name == "yamlcron.notify.apprise"]
    assert line == (
        "apprise could not deliver to one or more of 1 URLs "
        "(the 'apprise' logger says which service failed)"
    )


def test_a_url_apprise_cannot_read_is_named_without_its_secret(
    tmp_path: Path, apprise: ModuleType, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    port = recorder.server.server_address[1]
    urls = f'["json://127.0.0.1:{port}/chat", "nope://s3cr3t@example.com/x"]'
    counted = deliver(tmp_path, urls, "ok")
    assert recorder.count() == 1  # the URL it reads is delivered to all the same
    assert counted == [("apprise", "error")]
    [line] = [r.getMessage() for r in caplog.records if r.name == "yamlcron.notify.apprise"]
    assert line == "apprise does not understand URL #2 (nope://)"
    assert not any("s3cr3t" in r.getMessage() for r in caplog.records)


def test_without_the_extra_a_delivery_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from yamlcron.events import ManifestEvent

    monkeypatch.setitem(sys.modules, "apprise", None)  # what `import apprise` meets uninstalled
    notifier = build_registry(autoload=False).notifier("apprise")
    event = ManifestEvent(kind="applied", path="jobs.yaml", time=datetime.now(UTC))
    with pytest.raises(DeliveryError) as raised:
        notifier.notify(event, {"urls": ["json://127.0.0.1:9/"]})
    assert str(raised.value) == (
        "the apprise notifier needs the apprise library: pip install 'yamlcron[apprise]'"
    )


def test_validate_does_not_import_apprise(tmp_path: Path) -> None:
    (tmp_path / "jobs.yaml").write_text(
        "version: 1\n"
        "notify: [{via: apprise, urls: ['slack://${SLACK}'], on: [failure]}]\n"
        "jobs:\n  a: {trigger: {cron: '0 3 * * *'}, run: {command: [echo, a]}}\n"
    )
    modules = _imported("validate", cwd=tmp_path)
    assert "yamlcron.manifest" in modules
    assert not {m for m in modules if m == "apprise" or m.startswith("apprise.")}
