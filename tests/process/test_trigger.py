"""`yamlcron trigger`: a manual run behaves the same with or without a daemon."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.processes import Daemon, clean_env, cli
from tests.unit.test_executors import alive
from tests.unit.test_webhook import Hook

pytestmark = pytest.mark.process  # real processes: not in the lower-bounds job

NOTIFY_PY = """\
import json, sys
open("events.txt", "a").write(json.load(sys.stdin)["event"] + "\\n")
"""


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.close()


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_manual_run_notifies_the_same_with_or_without_a_daemon(
    tmp_path: Path, hook: Hook
) -> None:
    # The manifest's own notifier (a command) and the job's (a webhook), both real.
    (tmp_path / "notify.py").write_text(NOTIFY_PY)
    (tmp_path / "jobs.yaml").write_text(f"""\
version: 1
notify:
  - {{via: command, command: ["{sys.executable}", notify.py], on: [started, failure]}}
jobs:
  broken:
    trigger: {{cron: "0 0 1 1 *"}}
    run: {{shell: "exit 3"}}
    notify: [{{via: webhook, url: "{hook.url}", on: [failure], retries: 0}}]
""")
    events = tmp_path / "events.txt"
    assert cli(tmp_path, "apply").returncode == 0

    def heard() -> tuple[list[str], list[str]]:
        return sorted(events.read_text().splitlines()), [body["event"] for body, _ in hook.received]

    assert cli(tmp_path, "trigger", "broken", "--wait").returncode == 1  # no daemon: in process
    here = heard()
    events.unlink()
    hook.received.clear()

    daemon = Daemon(tmp_path)
    try:
        daemon.wait_for(lambda: "running 1 jobs" in daemon.log.read_text(), "the start")
        assert cli(tmp_path, "trigger", "broken", "--wait").returncode == 1
        daemon.wait_for(lambda: events.exists() and heard() == here, "the same events")
    finally:
        daemon.proc.kill()
        daemon.proc.wait()
    assert here == heard() == (["run.failed", "run.started"], ["run.failed"])


@pytest.fixture
def slow_job(tmp_path: Path) -> Iterator[Path]:
    """A job whose single process writes its pid, then sleeps; killed if a test leaves it."""
    (tmp_path / "jobs.yaml").write_text(
        'version: 1\njobs:\n  slow: {trigger: {cron: "0 0 1 1 *"}, '
        'run: {shell: "echo $$ > pid.tmp; mv pid.tmp pid; exec sleep 30"}, max_instances: 2}\n'
    )
    assert cli(tmp_path, "apply").returncode == 0
    yield tmp_path / "pid"
    if (tmp_path / "pid").exists():  # stopped by yamlcron, unless the test failed
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int((tmp_path / "pid").read_text()), signal.SIGKILL)


def last_run(folder: Path) -> dict[str, object]:
    history = cli(folder, "history", "slow", "--output", "json")
    runs: list[dict[str, object]] = json.loads(history.stdout)
    return runs[0]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupting_a_run_made_in_process_stops_its_group_and_records_it(
    tmp_path: Path, slow_job: Path, signum: int, code: int
) -> None:
    trigger = subprocess.Popen(
        [sys.executable, "-m", "yamlcron", "trigger", "slow", "--wait"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(slow_job.exists, "the job to start")
        pid = int(slow_job.read_text())
        trigger.send_signal(signum)
        out, err = trigger.communicate(timeout=60)
    finally:
        if trigger.poll() is None:
            trigger.kill()
            trigger.wait()
    assert trigger.returncode == code, err
    assert "interrupted" in out
    assert err.splitlines()[-1] == "interrupted"
    assert not alive(pid)  # stopped, not left behind re-parented to PID 1
    assert last_run(tmp_path)["status"] == "interrupted"


def test_timeout_without_a_daemon_stops_the_run_and_exits_124(
    tmp_path: Path, slow_job: Path, cli: Callable[..., CliResult]
) -> None:
    # Long enough for the job to start even on a loaded machine: then it is stopped.
    result = cli("trigger", "slow", "--timeout", "3", "-f", tmp_path / "jobs.yaml")
    assert result.code == 124
    assert result.err.splitlines()[-1] == (
        "error: gave up on the run of slow after 3.0 s; the run was stopped"
    )
    assert not alive(int(slow_job.read_text()))
    assert last_run(tmp_path)["status"] == "interrupted"


def test_through_a_daemon_json_without_wait_and_giving_up(
    tmp_path: Path, slow_job: Path, cli: Callable[..., CliResult]
) -> None:
    manifest = tmp_path / "jobs.yaml"
    daemon = Daemon(tmp_path)
    try:
        daemon.wait_for(lambda: "running 1 jobs" in daemon.log.read_text(), "the start")
        queued = cli("trigger", "slow", "--output", "json", "-f", manifest)
        assert queued.code == 0
        body = json.loads(queued.out)
        assert (body["job_id"], body["queued"]) == ("slow", True)
        wait_for(slow_job.exists, "the job to start")

        gave_up = cli("trigger", "slow", "--timeout", "0.2", "-f", manifest)  # implies --wait
        assert (gave_up.code, gave_up.out) == (124, "")
        assert gave_up.err.splitlines() == [
            "error: gave up on the run of slow after 0.2 s; it goes on in the daemon"
        ]
        daemon.signal(signal.SIGTERM)
        daemon.wait_for(lambda: "SIGTERM: stopping" in daemon.log.read_text(), "the first")
        daemon.signal(signal.SIGTERM)  # the second stops the runs at once
        assert daemon.exit_code() == 0
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()
    assert daemon.statuses("slow") == ["interrupted", "interrupted"]


def test_a_thread_call_that_outlives_the_timeout_reports_its_own_outcome(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    # A thread cannot be stopped: the run ends on its own, and says so; no "gave up".
    (tmp_path / "naps.py").write_text(
        "import time\n\ndef nap():\n    time.sleep(1)\n    return 'woke'\n"
    )
    manifest = tmp_path / "jobs.yaml"
    manifest.write_text(
        "version: 1\njobs:\n  nap: {trigger: {cron: '0 0 1 1 *'}, run: {call: 'naps:nap'}}\n"
    )
    assert cli("apply", "-f", manifest).code == 0
    result = cli("trigger", "nap", "--timeout", "0.2", "-f", manifest, "--output", "json")
    assert result.code == 0, result
    assert json.loads(result.out)["result"] == "woke"
