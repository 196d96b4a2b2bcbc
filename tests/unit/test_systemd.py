"""systemd's notify protocol: a real ``yamlcron run`` talking to a real datagram socket, and
the unit file under deploy/systemd/ checked by systemd-analyze where it is installed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import clean_env
from tests.tools import ROOT, tool
from yamlcron.scheduler.pulse import Pulse
from yamlcron.sdnotify import ServiceManager, service_manager

UNIT = ROOT / "deploy" / "systemd" / "yamlcron.service"

JOBS = """\
version: 1
jobs:
  idle:
    trigger: {cron: "0 0 1 1 *"}
    run: {command: ["true"]}
"""


class Listener:
    """The service manager's end: a datagram socket that keeps every message it gets."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[dict[str, str]] = []

    def next(self, timeout: float = 30) -> dict[str, str]:
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096).decode()
        message = dict(line.split("=", 1) for line in data.splitlines())
        self.messages.append(message)
        return message

    def until(self, key: str, timeout: float = 30) -> dict[str, str]:
        """The next message that has ``key``, keeping the others (watchdog pings) too."""
        while True:
            message = self.next(timeout)
            if key in message:
                return message


@pytest.fixture
def listener() -> Iterator[Listener]:
    # A short path: a unix socket's address has room for 107 bytes, pytest's folders may not.
    folder = Path(tempfile.mkdtemp(prefix="yc-notify-"))
    heard = Listener(folder / "notify")
    yield heard
    heard.sock.close()
    (folder / "notify").unlink()
    folder.rmdir()


@pytest.mark.process
def test_yamlcron_run_tells_systemd_ready_reloading_watchdog_stopping(
    tmp_path: Path, listener: Listener
) -> None:
    (tmp_path / "jobs.yaml").write_text(JOBS)
    env = clean_env() | {
        "NOTIFY_SOCKET": listener.sock.getsockname(),
        "WATCHDOG_USEC": "200000",  # a ping every 0.1 s
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "yamlcron", "run", "-f", "jobs.yaml", "--no-watch"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = listener.until("READY")
        assert ready == {"READY": "1", "STATUS": "running 1 jobs"}
        # READY comes after the first apply: the store holds the manifest's job by then.
        jobs = subprocess.run(
            [sys.executable, "-m", "yamlcron", "jobs", "-f", "jobs.yaml"],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            check=True,
        )
        assert "idle" in jobs.stdout
        pings = sum("WATCHDOG" in m for m in listener.messages)
        while pings < 3:
            pings += "WATCHDOG" in listener.next()
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        proc.send_signal(signal.SIGHUP)
        reloading = listener.until("RELOADING")
        assert reloading["RELOADING"] == "1"
        assert before <= int(reloading["MONOTONIC_USEC"])
        assert listener.until("READY") == {"READY": "1", "STATUS": "reloaded"}
        proc.send_signal(signal.SIGTERM)
        stopping = listener.until("STOPPING")
        assert stopping["STOPPING"] == "1"
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        err = proc.stderr.read()
        proc.stderr.close()
    assert "Traceback" not in err


def test_a_stuck_loop_stops_the_watchdog_pings(tmp_path: Path) -> None:
    now = [100.0]
    pulse = Pulse(monotonic=lambda: now[0])
    path = tmp_path / "n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as heard:
        heard.bind(str(path))
        manager = ServiceManager(str(path), watchdog=5.0, pulse=pulse)
        pulse.resting()
        assert manager.beat()  # an idle loop is alive, however long it sleeps
        pulse.passing()
        now[0] += 4.9
        assert manager.beat()
        now[0] += 0.2  # the pass has lasted longer than the watchdog's period
        assert not manager.beat()
        pulse.resting()
        assert manager.beat()
        heard.settimeout(5)
        assert [heard.recv(100) for _ in range(3)] == [b"WATCHDOG=1"] * 3


def test_the_variables_leave_the_environment_and_a_watchdog_for_another_pid_is_ignored() -> None:
    env = {"NOTIFY_SOCKET": "@abstract", "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1", "X": "y"}
    manager = service_manager(Pulse(), env)
    assert (manager.address, manager.watchdog, env) == ("@abstract", None, {"X": "y"})
    own = {"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid())}
    assert service_manager(Pulse(), own).watchdog == 3.0
    silent = service_manager(Pulse(), {})
    silent.ready("up")  # nothing to talk to: nothing happens, no thread starts
    silent.stopping()


def test_an_abstract_socket_is_reached(tmp_path: Path) -> None:
    name = f"yamlcron-test-{os.getpid()}-{tmp_path.name}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as heard:
        heard.bind("\0" + name)
        ServiceManager("@" + name, None, Pulse()).send("READY=1", "STATUS=up")
        heard.settimeout(5)
        assert heard.recv(100) == b"READY=1\nSTATUS=up"


def test_the_unit_file_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    unit = tmp_path / "yamlcron.service"
    # verify wants ExecStart's program to exist: point it at this yamlcron.
    yamlcron = Path(sys.executable).with_name("yamlcron")
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/yamlcron", str(yamlcron)))
    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "yamlcron.service" not in done.stderr, done.stderr


def test_the_unit_file_says_what_the_protocol_needs() -> None:
    lines = {line.split("=", 1)[0]: line.split("=", 1)[1] for line in _settings()}
    assert lines["Type"] == "notify"
    assert lines["NotifyAccess"] == "main"
    assert lines["KillMode"] == "mixed"  # SIGTERM to yamlcron alone: it stops its runs itself
    assert "WatchdogSec" in lines
    assert lines["ExecReload"] == "/bin/kill -HUP $MAINPID"
    # Stop waits --shutdown-timeout (30 s) for runs, then 10 s for them to die: give it more.
    assert int(lines["TimeoutStopSec"].rstrip("s")) > 40


def _settings() -> list[str]:
    return [
        line
        for line in UNIT.read_text().splitlines()
        if "=" in line and not line.startswith(("#", ";"))
    ]
