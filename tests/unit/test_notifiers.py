"""The built-in command and log notifiers, and JSON logs, end to end."""

from __future__ import annotations

import json
import logging
import signal
import sys
from pathlib import Path

import pytest

from tests.process.test_watch import git
from tests.processes import Daemon, cli
from yamlcron import RunStatus, Yamlcron
from yamlcron.registry import build_registry


def test_command_notifier_gets_the_event_on_stdin(tmp_path: Path) -> None:
    sink = tmp_path / "events.jsonl"
    text = f"""\
version: 1
jobs:
  a:
    trigger: {{cron: "0 0 1 1 *"}}
    run: {{shell: "exit 1"}}
    notify:
      - {{via: command, command: ["{sys.executable}", "-c", "import sys; open(sys.argv[1], 'a').write(sys.stdin.read() + '\\\\n')", "{sink}"], on: [failure]}}
"""
    cron = Yamlcron.from_text(text, tmp_path, registry=build_registry(autoload=False))
    cron.start()
    try:
        assert cron.trigger("a").result(timeout=10).status == RunStatus.FAILURE
        assert cron.events.flush(timeout=10)
    finally:
        cron.stop(timeout=5)
    [line] = sink.read_text().splitlines()
    event = json.loads(line)
    assert (event["event"], event["run"]["job_id"], event["run"]["status"]) == (
        "run.failed",
        "a",
        "failure",
    )


def test_log_notifier(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = "version: 1\njobs:\n  a: {trigger: {cron: '0 0 1 1 *'}, run: {shell: 'exit 3'}, notify: [{on: [failure]}]}\n"
    caplog.set_level(logging.INFO, logger="yamlcron")
    cron = Yamlcron.from_text(text, tmp_path, registry=build_registry(autoload=False))
    cron.start()
    try:
        cron.trigger("a").result(timeout=10)
        assert cron.events.flush(timeout=10)
    finally:
        cron.stop(timeout=5)
    [record] = [r for r in caplog.records if r.name == "yamlcron.notify"]
    assert record.levelno == logging.WARNING
    assert record.getMessage().endswith("of a failure: exited with code 3")


def test_json_logs(tmp_path: Path) -> None:
    (tmp_path / "jobs.yaml").write_text(
        "version: 1\njobs:\n  a: {trigger: {cron: '0 0 1 1 *'}, run: {shell: 'echo hi'}}\n"
    )
    assert cli(tmp_path, "apply").returncode == 0
    result = cli(tmp_path, "--log-format", "json", "trigger", "a")
    assert result.returncode == 0
    entries = [json.loads(line) for line in result.stderr.splitlines()]
    assert entries
    assert {"time", "level", "logger", "message"} <= set(entries[-1])
    assert entries[-1]["message"] == entries[-1]["message"].strip()
    assert any("a run" in e["message"] and "success" in e["message"] for e in entries)


def test_a_restart_on_the_applied_manifest_keeps_its_notifiers(tmp_path: Path) -> None:
    # The second start takes the manifest's notifiers from the store, not from the file.
    sink = tmp_path / "events.jsonl"
    write = "import sys; open(sys.argv[1], 'a').write(sys.stdin.read() + '\\\\n')"
    (tmp_path / "jobs.yaml").write_text(f"""\
version: 1
notify:
  - {{via: command, command: ["{sys.executable}", "-c", "{write}", "{sink}"], on: [failure]}}
jobs:
  a: {{trigger: {{cron: "0 0 1 1 *"}}, run: {{shell: "exit 1"}}}}
""")
    for start in (1, 2):
        cron = Yamlcron(tmp_path / "jobs.yaml", registry=build_registry(autoload=False))
        plan = cron.start()
        try:
            assert (plan.is_empty, plan.unchanged) == (start == 2, start - 1)
            assert cron.trigger("a").result(timeout=10).status == RunStatus.FAILURE
            assert cron.events.flush(timeout=10)
        finally:
            cron.stop(timeout=5)
        assert len(sink.read_text().splitlines()) == start


def test_a_start_that_changes_no_job_announces_no_apply(tmp_path: Path) -> None:
    # A new commit leaving the manifest as it was rewrites only the apply's record (which
    # commit runs come from): no job changed, so `applied` is not announced at each start.
    repo, sink = tmp_path / "repo", tmp_path / "events.jsonl"
    repo.mkdir()
    write = "import sys; open(sys.argv[1], 'a').write(sys.stdin.read() + '\\\\n')"
    (repo / "jobs.yaml").write_text(f"""\
version: 1
notify:
  - {{via: command, command: ["{sys.executable}", "-c", "{write}", "{sink}"], on: [applied]}}
jobs:
  a: {{trigger: {{interval: 1s}}, run: {{shell: "true"}}}}
""")
    (repo / ".gitignore").write_text(".yamlcron/\n*.log\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "jobs")
    assert cli(repo, "apply").returncode == 0
    assert [json.loads(line)["message"] for line in sink.read_text().splitlines()] == ["+ a"]

    git(repo, "commit", "-q", "--allow-empty", "-m", "deploy")
    cron = Yamlcron(repo / "jobs.yaml", registry=build_registry(autoload=False))
    try:
        cron.start()
        assert cron.events.flush(timeout=10)
        record = cron.store.last_applied()
        assert record is not None
        assert record.commit == git(repo, "rev-parse", "HEAD")
    finally:
        cron.stop(timeout=5)

    git(repo, "commit", "-q", "--allow-empty", "-m", "deploy again")
    daemon = Daemon(repo)
    try:
        mine = f"%:{daemon.proc.pid}"
        # A run of its own: the loop is running, so SIGTERM is handled (gracefully).
        daemon.wait_for(
            lambda: bool(daemon.rows("SELECT 1 FROM runs WHERE node LIKE ?", mine)), "a run"
        )
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()
    assert "~" not in daemon.log.read_text()  # the daemon did re-apply: no job changed
    assert len(sink.read_text().splitlines()) == 1


def test_the_command_notifier_runs_in_the_manifests_folder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # `notify.py` beside jobs.yaml, whatever folder yamlcron was started from (not tmp_path).
    (tmp_path / "notify.py").write_text(
        "import json, sys\n"
        "event = json.load(sys.stdin)\n"
        "open('events.txt', 'a').write(event['event'] + '\\n')\n"
    )
    text = f"""\
version: 1
notify:
  - {{via: command, command: ["{sys.executable}", "notify.py"], on: [applied, failure]}}
jobs:
  a: {{trigger: {{cron: "0 0 1 1 *"}}, run: {{shell: "exit 1"}}}}
"""
    assert Path.cwd() != tmp_path
    cron = Yamlcron.from_text(text, tmp_path, registry=build_registry(autoload=False))
    cron.start()
    try:
        assert cron.trigger("a").result(timeout=10).status == RunStatus.FAILURE
        assert cron.events.flush(timeout=10)
    finally:
        cron.stop(timeout=5)
    assert not [r.getMessage() for r in caplog.records if r.name == "yamlcron.notify.command"]
    assert sorted((tmp_path / "events.txt").read_text().splitlines()) == [
        "manifest.applied",
        "run.failed",
    ]
