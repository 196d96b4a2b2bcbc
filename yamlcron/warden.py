"""No run outlives its scheduler: the warden process, and the groups recorded for recovery.

A run's process group leads a session of its own, so it does not die with yamlcron: after
a ``kill -9`` of the daemon (or the OOM killer) it would run on while the next daemon
retries it, two copies at once. Two guards stop it:

1. **The warden.** The first process group a scheduler starts also starts a small helper
   process (``python -m yamlcron.warden``), in a session of its own so that a terminal's
   Ctrl-C does not reach it. The scheduler tells it through a pipe which groups are under
   way. When the scheduler dies, however it dies, the kernel closes the pipe; the warden
   reads its end, stops every group it was told about (SIGTERM, then SIGKILL after the
   kill grace) and exits. A clean stop closes the pipe with no group left. A
   parent-death signal (``PR_SET_PDEATHSIG``) on each run would only reach the group's
   leader, and fires when the *thread* that started it ends, not the process.
2. **The record.** Each run row keeps its group's id and what names that group against
   pid reuse (the boot id and the leader's start time, from ``/proc``). Recovery, which
   marks a dead scheduler's runs ``interrupted``, stops any such group that is still the
   same before the retry can start (the warden itself may have been killed: ``kill -9``
   of a whole process tree).

Both are Linux's: ``/proc`` names a group; elsewhere the warden still runs but a group is
not recorded, so recovery cannot check one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Iterable, Iterator
from typing import Protocol

from yamlcron.errors import StoreError
from yamlcron.procgroup import group_alive

log = logging.getLogger("yamlcron.scheduler")

_PROC = "/proc"


def identity(pid: int) -> str | None:
    """What names process ``pid`` across pid reuse: ``BOOT_ID START_TICKS``; None off Linux."""
    try:
        with open(f"{_PROC}/sys/kernel/random/boot_id") as boot:
            boot_id = boot.read().strip()
        start = _stat(pid)[19]
    except (OSError, IndexError):
        return None
    return f"{boot_id} {start}"


def _stat(pid: int) -> list[str]:
    """Fields 3 on of ``/proc/PID/stat`` (after the command name, which may hold spaces)."""
    with open(f"{_PROC}/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def same_group(pgid: int, recorded: str) -> bool:
    """Whether group ``pgid`` still is the one recorded as ``recorded`` (``identity``).

    The leader alive with its recorded start time; or, the leader gone, members left that
    all started after it on this boot (the kernel gives no new process a pid still in use
    as a group id, so a group that outlived its leader is the same group).
    """
    boot, _, start = recorded.partition(" ")
    here = identity(os.getpid())
    if here is None or here.partition(" ")[0] != boot:
        return False  # another host's run (a replica), or before a reboot: not ours to stop
    leader = identity(pgid)
    if leader is not None:
        return leader == recorded
    members = list(_members(pgid))
    return bool(members) and all(int(started) >= int(start) for started in members)


def running(pgid: int) -> bool:
    """Whether group ``pgid`` has a member that is not a zombie.

    An orphan's zombie waits for an init that may never reap it (a container without one):
    it counts for ``killpg`` but runs nothing.
    """
    if not os.path.isdir(_PROC):
        return group_alive(pgid)
    return any(True for _ in _members(pgid))


def _members(pgid: int) -> Iterator[str]:
    """The start times of the processes in group ``pgid``."""
    for entry in os.listdir(_PROC):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = _stat(int(entry))
            if int(fields[2]) == pgid and fields[0] != "Z":
                yield fields[19]


def stop_recorded(groups: Iterable[tuple[int, str]], grace: float) -> list[int]:
    """Stop each recorded group (id, ``identity``) that still is the same; those stopped."""
    stopped = [pgid for pgid, recorded in groups if running(pgid) and same_group(pgid, recorded)]
    stop_groups(stopped, grace)
    return stopped


def stop_groups(pgids: Collection[int], grace: float) -> None:
    """SIGTERM each group, then SIGKILL what is left of them after ``grace`` seconds."""
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(map(running, pgids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pgid in [pgid for pgid in pgids if running(pgid)]:  # an ended one's id may be reused
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


class GroupRecords(Protocol):
    """Where a run's group is recorded: the store's history role."""

    def mark_process(self, run_id: int, pgid: int, identity: str) -> None:
        """Record the group that ``run_id`` leads, named by ``identity``."""
        ...

    def process_groups(self, run_ids: Collection[int]) -> list[tuple[int, str]]:
        """The groups recorded for ``run_ids``: (group id, identity)."""
        ...


class Warden:
    """The scheduler's side: starts the warden on first use, tells it of groups, records them.

    Thread-safe. ``close`` ends the warden process (with no group left, it simply exits).
    """

    def __init__(self, grace: float, records: GroupRecords) -> None:
        """Nothing starts until the first group is watched."""
        self.grace = grace
        self.records = records
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None

    @contextlib.contextmanager
    def tracked(self, run_id: int, pid: int) -> Iterator[None]:
        """Guard group ``pid`` of run ``run_id`` while the block runs (``RunContext.tracked``)."""
        self._tell(f"+{pid}\n")
        try:
            recorded = identity(pid)
            if recorded is not None:
                try:
                    self.records.mark_process(run_id, pid, recorded)
                except StoreError as exc:  # the warden still guards it; the run goes on
                    log.warning("cannot record the process group of run %s: %s", run_id, exc)
            yield
        finally:
            self._tell(f"-{pid}\n")

    def stop_left(self, run_ids: Collection[int]) -> None:
        """Stop the groups still running of runs that a dead scheduler left (at recovery)."""
        for pgid in stop_recorded(self.records.process_groups(run_ids), self.grace):
            log.warning("stopped process group %s, left running by a scheduler that died", pgid)

    def _tell(self, line: str) -> None:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:  # none yet, or killed
                self._proc = subprocess.Popen(
                    # -P: the daemon's folder (a manifest's, maybe shared) is not on its path.
                    [sys.executable, "-P", "-m", "yamlcron.warden", str(self.grace)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    start_new_session=True,
                )
            assert self._proc.stdin is not None
            with contextlib.suppress(OSError):  # the warden is gone: recovery is the guard
                self._proc.stdin.write(line.encode())
                self._proc.stdin.flush()

    def close(self) -> None:
        """End the warden process: the runs are over, so it has nothing to stop."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            assert proc.stdin is not None
            with contextlib.suppress(OSError):
                proc.stdin.close()
            proc.wait()


def main(argv: list[str]) -> None:
    """The warden process: read ``+PID``/``-PID`` lines; at end of input, stop what is left."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)  # only the pipe's end ends the warden
    grace = float(argv[0]) if argv else 10.0
    groups: set[int] = set()
    for line in sys.stdin.buffer:
        pid = int(line[1:])
        if line.startswith(b"+"):
            groups.add(pid)
        else:
            groups.discard(pid)
    for pid in groups:  # the scheduler died under them
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)  # a leader not yet leading its group (``process``)
    stop_groups(groups, grace)


if __name__ == "__main__":
    main(sys.argv[1:])
