"""No run outlives its scheduler: the warden, and recovery from the recorded process group.

Linux's: a group is named through ``/proc``; elsewhere these are skipped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import GOOD
from tests.processes import Daemon, cli
from yamlcron.interfaces import Store
from yamlcron.manifest import parse_manifest
from yamlcron.model import AppliedManifest, JobWrite
from yamlcron.runs import Claim, NewRun, RunStatus
from yamlcron.warden import identity, running, same_group, stop_recorded

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="process groups are named through Linux's /proc"
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SLOW = """\
    slow:
      trigger: {cron: "0 0 1 1 *"}
      run: {shell: "echo $$ >> groups; sleep 100 & sleep 100"}
      retry: {attempts: 2, delay: 0s}
"""


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process leading a group of its own, as a run's is, ended after the test."""
    proc = subprocess.Popen(["sleep", "100"], start_new_session=True)
    yield proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _wait(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _warden_of(pid: int) -> int:
    """The warden process that daemon ``pid`` started."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"yamlcron.warden" in cmdline:
            return int(entry.name)
    raise AssertionError(f"daemon {pid} started no warden")


def _started(d: Daemon) -> int:
    """Wait for the run's group to be recorded; its id (the shell's pid)."""
    cli(d.folder, "trigger", "slow")
    d.wait_for(lambda: d.rows("SELECT process_group FROM runs") not in ([], [(None,)]), "a group")
    (group,) = d.rows("SELECT process_group FROM runs")[0]
    assert int((d.folder / "groups").read_text().split()[0]) == group
    return int(group)


@pytest.mark.process
def test_a_killed_daemon_takes_its_runs_groups_with_it(daemon: Callable[..., Daemon]) -> None:
    d = daemon(SLOW)
    d.wait_for(lambda: d.rows("SELECT 1 FROM jobs") != [], "the apply")
    group = _started(d)
    d.proc.kill()  # SIGKILL: the daemon can do nothing about it
    d.proc.wait()
    # The warden saw the daemon go and stopped the group, the background sleep too.
    _wait(lambda: not running(group), "the orphaned group to be stopped")


@pytest.mark.process
def test_recovery_stops_the_recorded_group_before_the_retry(daemon: Callable[..., Daemon]) -> None:
    d = daemon(SLOW)
    d.wait_for(lambda: d.rows("SELECT 1 FROM jobs") != [], "the apply")
    group = _started(d)
    warden = _warden_of(d.proc.pid)
    os.kill(warden, signal.SIGKILL)  # a whole process tree killed: the warden first
    d.proc.kill()
    d.proc.wait()
    assert running(group)  # nobody stopped it: an orphan
    again = daemon(SLOW, "--shutdown-timeout", "1")
    again.wait_for(lambda: again.statuses("slow") == ["interrupted", "running"], "the retry")
    assert not running(group)
    assert "stopped process group" in again.log.read_text()
    again.signal(signal.SIGTERM)
    assert again.exit_code() == 0


def test_a_group_is_stopped_only_while_it_is_the_one_recorded(
    sleeper: subprocess.Popen[bytes],
) -> None:
    recorded = identity(sleeper.pid)
    assert recorded is not None
    boot, start = recorded.split()
    reused = f"{boot} {int(start) - 1}"  # another process that had this pid before
    elsewhere = f"not-this-boot {start}"  # a replica's run on another host
    assert same_group(sleeper.pid, recorded)
    assert stop_recorded([(sleeper.pid, reused), (sleeper.pid, elsewhere)], grace=1) == []
    assert sleeper.poll() is None
    assert stop_recorded([(sleeper.pid, recorded)], grace=5) == [sleeper.pid]
    assert sleeper.wait(timeout=10) == -signal.SIGTERM


def test_a_group_whose_leader_exited_is_still_stopped(tmp_path: Path) -> None:
    # The leader starts a member and exits at once; the member holds the group.
    script = "import os, subprocess, sys; p = subprocess.Popen(['sleep', '100']); print(p.pid)"
    leader = subprocess.Popen(
        [sys.executable, "-c", script], start_new_session=True, stdout=subprocess.PIPE, text=True
    )
    recorded = identity(leader.pid)
    assert recorded is not None
    assert leader.stdout is not None
    member = int(leader.stdout.readline())
    leader.stdout.close()
    leader.wait()
    try:
        assert running(leader.pid)
        assert stop_recorded([(leader.pid, recorded)], grace=5) == [leader.pid]
        _wait(lambda: not running(leader.pid), "the group to end")
    finally:
        if running(leader.pid):
            os.killpg(leader.pid, signal.SIGKILL)
    assert not Path(f"/proc/{member}").exists() or "Z" in Path(f"/proc/{member}/stat").read_text()


def test_a_runs_group_is_recorded_while_it_runs_on_every_store(store: Store) -> None:
    manifest = parse_manifest(GOOD, Path("jobs.yaml"))
    writes = [JobWrite(spec=s, next_run_at=NOW, reschedule=True) for s in manifest.jobs.values()]
    store.apply(writes, [], AppliedManifest(digest="d", path="jobs.yaml", applied_at=NOW))
    lease = store.join("test", 30)
    new = [
        NewRun(job_id="backup", scheduled_at=NOW, status=RunStatus.RUNNING, started_at=NOW),
        NewRun(job_id="cleanup", scheduled_at=NOW, status=RunStatus.MISSED, started_at=NOW),
    ]
    runs = store.claim([Claim(job_id="backup", runs=tuple(new))], lease, None)
    running, missed = (r.id for r in runs)
    big = 2**40  # a 64-bit group id fits
    store.mark_process(running, big, "boot 123")
    store.mark_process(missed, 7, "boot 1")  # a run that is not running records nothing
    assert store.process_groups([running, missed]) == [(big, "boot 123")]
    assert store.process_groups([]) == []
