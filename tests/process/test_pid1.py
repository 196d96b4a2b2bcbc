"""``yamlcron run`` as PID 1 of a new PID namespace (as in a container): the orphans its jobs
leave are reaped, and SIGTERM, forwarded to the scheduler, stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import clean_env, cli
from tests.tools import require, tool

pytestmark = pytest.mark.process

# The shell exits at once; its background children outlive it, orphaned to PID 1, and one
# more escapes the run's process group as a daemon would.
JOBS = """\
version: 1
jobs:
  orphans:
    trigger: {cron: "0 0 1 1 *"}
    run: {shell: "(sleep 0.3 &) ; (sleep 0.2 &) ; setsid sleep 0.4 & exit 0"}
"""


def _stat(pid: int) -> tuple[str, int]:
    """A process's state letter and parent pid."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def _descendants(root: int) -> dict[int, str]:
    """Every live or zombie process under ``root``, with its state."""
    parents: dict[int, tuple[str, int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = _stat(int(entry.name))
            except (OSError, IndexError):
                continue
    found: dict[int, str] = {}
    for pid, (state, _) in parents.items():
        ancestor = parents[pid][1]
        while ancestor in parents and ancestor != root:
            ancestor = parents[ancestor][1]
        if ancestor == root:
            found[pid] = state
    return found


@pytest.fixture
def namespace(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    unshare = tool("unshare")
    require(os.geteuid() == 0, "a new PID namespace needs root (unshare --pid)")
    (tmp_path / "jobs.yaml").write_text(JOBS)
    proc = subprocess.Popen(
        [unshare, "--pid", "--fork", "--mount-proc", sys.executable, "-m", "yamlcron", "run"],
        cwd=tmp_path,
        env=clean_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    yield proc
    if proc.poll() is None:
        # Killing the namespace's PID 1 ends every process in it, and then unshare.
        for pid in [p for p, _ in _descendants(proc.pid).items() if _stat(p)[1] == proc.pid]:
            os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait()
    assert proc.stderr is not None
    proc.stderr.close()


def _init_of(unshare: subprocess.Popen[str]) -> int:
    """The host pid of the namespace's PID 1 (unshare's child)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = [pid for pid, _ in _descendants(unshare.pid).items()]
        inits = [pid for pid in children if _stat(pid)[1] == unshare.pid]
        if inits:
            return inits[0]
        time.sleep(0.05)
    pytest.fail("unshare started no process")


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # ended meanwhile
        return b""


def test_as_pid1_orphans_are_reaped_and_sigterm_stops_cleanly(
    namespace: subprocess.Popen[str], tmp_path: Path
) -> None:
    init = _init_of(namespace)
    deadline = time.monotonic() + 30
    while not (tmp_path / ".yamlcron" / "state.db.daemon").exists():
        assert namespace.poll() is None, "yamlcron exited at start"
        assert time.monotonic() < deadline, "yamlcron never started"
        time.sleep(0.05)
    for _ in range(3):
        done = cli(tmp_path, "trigger", "orphans", "--wait")
        assert done.returncode == 0, done.stderr
    # Init, the scheduler, its warden (yamlcron.warden) and (while they live) the sleeps:
    # once the sleeps are over, nothing else is left, a zombie least of all.
    deadline = time.monotonic() + 30
    while True:
        left = _descendants(init)
        sleeping = [
            pid
            for pid, state in left.items()
            if state != "Z" and pid != init and b"yamlcron.warden" not in _cmdline(pid)
        ]
        if "Z" not in left.values() and len(sleeping) == 1:
            break
        assert time.monotonic() < deadline, f"left in the namespace: {left}"
        time.sleep(0.05)
    os.kill(init, signal.SIGTERM)  # what `docker stop` and Kubernetes send to PID 1
    assert namespace.wait(60) == 0
    assert namespace.stderr is not None
    err = namespace.stderr.read()
    assert "SIGTERM: stopping" in err, err
    assert err.rstrip().endswith("stopped"), err
