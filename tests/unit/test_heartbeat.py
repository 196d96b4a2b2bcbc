"""The daemon's heartbeat: pings while the loop is alive, none once it is stuck or stopped."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.processes import Daemon, cli
from tests.recorder import Recorder
from yamlcron.heartbeat import Heartbeat, HeartbeatSpec
from yamlcron.scheduler.pulse import Pulse

SECRET = "hc-s3cr3t-uuid"


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def beating(recorder: Recorder, clock: FakeMonotonic) -> tuple[Heartbeat, Pulse]:
    pulse = Pulse(clock)
    spec = HeartbeatSpec(f"{recorder.url}/ping/{SECRET}", interval=60, stuck_after=60)
    return Heartbeat(spec, pulse), pulse


def test_a_beat_pings_while_the_loop_rests_or_is_in_a_young_pass(recorder: Recorder) -> None:
    clock = FakeMonotonic()
    heart, pulse = beating(recorder, clock)
    assert heart.beat()  # resting, however long
    pulse.passing()
    clock.now += 59
    assert heart.beat()  # a young pass
    first = recorder.wait_for(2)[0]
    assert (first.method, first.path) == ("GET", f"/ping/{SECRET}")
    assert (heart.sent, heart.withheld, heart.failed) == (2, 0, 0)


def test_a_stuck_or_stopped_loop_withholds_the_ping(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeMonotonic()
    heart, pulse = beating(recorder, clock)
    pulse.passing()
    clock.now += 61
    assert not heart.beat()
    assert not heart.beat()
    pulse.resting()  # the pass ended after all
    assert heart.beat()
    pulse.stopped = True
    assert not heart.beat()
    assert (heart.sent, heart.withheld) == (1, 3)
    assert recorder.count() == 1
    warned = [r.getMessage() for r in caplog.records if r.name == "yamlcron.heartbeat"]
    assert warned == ["heartbeat withheld: the scheduler loop is stuck in a pass of 61 s"]


def test_a_failing_ping_is_logged_once_without_its_secret(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="yamlcron.heartbeat")
    heart, _ = beating(recorder, FakeMonotonic())
    recorder.status = 503
    assert not heart.beat()
    assert not heart.beat()
    recorder.status = 200
    assert heart.beat()
    assert (heart.sent, heart.failed) == (1, 2)
    lines = [r.getMessage() for r in caplog.records if r.name == "yamlcron.heartbeat"]
    assert lines == [
        f"heartbeat ping failed: {recorder.url} failed (HTTP 503); trying again at each beat",
        f"heartbeat ping to {recorder.url} answered again",
    ]
    assert not any(SECRET in r.getMessage() for r in caplog.records)


def test_the_thread_beats_and_stops_with_nothing_left(recorder: Recorder) -> None:
    spec = HeartbeatSpec(f"{recorder.url}/beat", interval=0.05)
    heart = Heartbeat(spec, Pulse()).start()
    try:
        recorder.wait_for(3)
    finally:
        heart.stop()
    sent = recorder.count()
    assert heart.sent == sent  # no ping under way once stop returned


def test_a_heartbeat_url_must_be_http(cli: Callable[..., CliResult], project: Path) -> None:
    result = cli("run", "-f", project / "jobs.yaml", "--heartbeat", f"ftp://host/{SECRET}")
    assert result.code == 64
    assert "--heartbeat" in result.err
    assert "must start with http:// or https://" in result.err
    assert SECRET not in result.err


@pytest.mark.process
def test_a_stopped_daemon_stops_its_heartbeat(
    recorder: Recorder, daemon: Callable[..., Daemon]
) -> None:
    interval = 0.1
    proc = daemon(
        "idle: {trigger: {cron: '0 0 1 1 *'}, run: {shell: 'true'}}\n",
        "--heartbeat",
        f"{recorder.url}/ping/{SECRET}",
        "--heartbeat-interval",
        str(interval),
    )
    proc.wait_for(lambda: recorder.count() >= 3, "three heartbeats")
    assert SECRET not in proc.log.read_text()

    proc.signal(signal.SIGSTOP)
    try:
        before = recorder.count()
        # A window of many intervals, measured by the recording server's own count: the one
        # ping that may have been under way when the process froze is all that may arrive.
        time.sleep(20 * interval)
        frozen = recorder.count() - before
    finally:
        proc.signal(signal.SIGCONT)
    assert frozen <= 1

    thawed = recorder.count()
    proc.wait_for(lambda: recorder.count() >= thawed + 3, "heartbeats after SIGCONT")
    proc.signal(signal.SIGTERM)
    assert proc.exit_code() == 0
    assert all(r.path == f"/ping/{SECRET}" for r in recorder.requests)
    assert "heartbeat: pinging http://127.0.0.1" in proc.log.read_text()


@pytest.mark.process
def test_a_stopping_daemon_stops_its_heartbeat_while_it_waits_for_runs(
    recorder: Recorder, daemon: Callable[..., Daemon]
) -> None:
    # Alive but no longer scheduling: SIGTERM ends the loop, and the daemon waits for the run
    # under way (some 50 intervals) before it exits.
    interval = 0.1
    proc = daemon(
        "slow: {trigger: {cron: '0 0 1 1 *'}, run: {shell: 'sleep 5'}}\n",
        "--heartbeat",
        f"{recorder.url}/beat",
        "--heartbeat-interval",
        str(interval),
    )
    proc.wait_for(lambda: recorder.count() >= 2, "two heartbeats")
    assert cli(proc.folder, "trigger", "slow").returncode == 0
    proc.wait_for(lambda: proc.statuses("slow") == ["running"], "the run under way")
    proc.signal(signal.SIGTERM)
    proc.wait_for(lambda: "stopping: waiting" in proc.log.read_text(), "the shutdown's wait")
    waiting = recorder.count()
    assert proc.exit_code() == 0
    assert proc.statuses("slow") == ["success"]  # it did wait for the run
    assert recorder.count() - waiting <= 1  # the one ping that may have been under way
