"""yamlcron's side of bench/fires.py: real ``yamlcron run`` processes, one or several replicas.

Each workload writes a manifest into a fresh folder, starts the processes (the first alone,
so that it applies the manifest; the others once it runs), measures from outside (CPU from
``/proc``, runs from the store) and stops them with SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from replicas import (  # the same command line, read of the runs and figures
    COMMAND,
    _runs,
    lateness_figures,
)
from run import lateness_manifest
from windows import measure, sleep_until

TICK = os.sysconf("SC_CLK_TCK")


class Daemons:
    """``replicas`` ``yamlcron run`` processes on one store, from start until ready to stop."""

    def __init__(self, folder: Path, store: str, replicas: int) -> None:
        self.folder, self.store, self.replicas = folder, store, replicas
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Daemons:
        self._start(0)  # the first applies the manifest; the others find it applied
        for i in range(1, self.replicas):
            self._start(i, wait=False)
        for i in range(1, self.replicas):
            self._ready(i)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _start(self, i: int, wait: bool = True) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("YAMLCRON_")}
        with (self.folder / f"r{i}.log").open("wb") as log:
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, *COMMAND, "--store", self.store, "--node", f"r{i}"],
                    cwd=self.folder,
                    env=env,
                    stderr=log,
                )
            )
        if wait:
            self._ready(i)

    def _ready(self, i: int) -> None:
        """Until replica ``i`` logs that its loop runs ("running N jobs from ...")."""
        log = self.folder / f"r{i}.log"
        while b"jobs from" not in log.read_bytes():
            if self.procs[i].poll() is not None:
                last = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
                raise RuntimeError(
                    f"yamlcron run r{i} exited {self.procs[i].returncode}: {last[0]}"
                )
            time.sleep(0.02)

    def cpu(self) -> float:
        """CPU seconds the processes used so far, their ended threads included."""
        total = 0
        for proc in self.procs:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / TICK


def _folder() -> tuple[tempfile.TemporaryDirectory[str], Path]:
    holder = tempfile.TemporaryDirectory()
    path = Path(holder.name)
    (path / "benchjobs.py").write_text("def noop():\n    return None\n")
    return holder, path


def lateness(
    url: str | None, replicas: int, jobs: int, warm: float, window: float
) -> dict[str, Any]:
    """N interval jobs every second, staggered over the second (bench/run.py's manifest):
    p50/p99 ms, missed share, duplicates, runs per replica and CPU µs per fire.

    The window opens ``warm`` s after every replica runs and the first fire time has come.
    """
    holder, path = _folder()
    with holder:
        setup = time.perf_counter()
        first = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)
        (path / "jobs.yaml").write_text(lateness_manifest(jobs, first))
        store = url or f"sqlite://{path / 'state.db'}"
        with Daemons(path, store, replicas) as daemons:
            setup = time.perf_counter() - setup
            start, end, cpu, busy = measure(first, warm, window, daemons.cpu)
        rows = _runs(store, start, end)
    ran = sum(1 for _, _, status, started, _ in rows if status == "success" and started)
    return {
        **lateness_figures(rows, jobs * window),
        "cpu_us": cpu / ran * 1e6 if ran else float("nan"),
        "busy": busy,
        "setup": setup,
    }


def burst_manifest(jobs: int, instant: datetime, grace: float) -> str:
    """N jobs whose only fire in the next hour is ``instant``."""
    lines = ["version: 1", "jobs:"]
    for i in range(jobs):
        lines += [
            f"  b{i}:",
            f"    trigger: {{interval: 1h, start: '{instant.isoformat()}'}}",
            "    run: {call: 'benchjobs:noop'}",
            f"    misfire_grace_time: {grace:g}s",
        ]
    return "\n".join(lines) + "\n"


def burst(url: str | None, replicas: int, jobs: int, lead: float, grace: float) -> dict[str, Any]:
    """N jobs due at one instant ``lead`` s ahead: seconds from the instant to the last start
    and to the last run recorded (polled from the store), and how many did not run.

    ``{"not_ready": seconds}`` if the processes were not running 0.3 s before the instant.
    """
    holder, path = _folder()
    with holder:
        setup = time.perf_counter()
        # A whole second, which the store's microseconds hold exactly (no float rounding).
        instant = (datetime.now(UTC) + timedelta(seconds=lead + 1)).replace(microsecond=0)
        (path / "jobs.yaml").write_text(burst_manifest(jobs, instant, grace))
        store = url or f"sqlite://{path / 'state.db'}"
        with Daemons(path, store, replicas):
            setup = time.perf_counter() - setup
            if datetime.now(UTC) > instant - timedelta(seconds=0.3):
                return {"not_ready": setup}
            recorded = _recorded(store, instant, jobs, instant + timedelta(seconds=grace + 2))
        rows = _runs(store, instant, instant + timedelta(microseconds=1))
    started = [s for _, _, status, s, _ in rows if status == "success" and s]
    at = instant.timestamp()
    return {
        "last_start": max(started) / 1e6 - at if started else None,
        "last_record": recorded - at if recorded else None,
        "missed": jobs - len(started),
        "setup": setup,
    }


def _recorded(store: str, instant: datetime, jobs: int, deadline: datetime) -> float | None:
    """Epoch seconds when the store first held a final run for every one of the jobs
    (polled every 50 ms: a count over the runs, a millisecond of the machine's time)."""
    at = int(instant.timestamp() * 1_000_000)
    sleep_until(instant)
    db, mark = _connect(store)
    query = f"SELECT count(*) FROM runs WHERE scheduled_at = {mark} AND status <> 'running'"
    with closing(db):
        while datetime.now(UTC) < deadline:
            if db.execute(query, (at,)).fetchone()[0] >= jobs:
                return time.time()
            time.sleep(0.05)
    return None


def _connect(store: str) -> tuple[Any, str]:
    """A connection to the store and its parameter mark."""
    if store.startswith("sqlite://"):
        import sqlite3

        return sqlite3.connect(store.removeprefix("sqlite://"), isolation_level=None), "?"
    return psycopg.connect(store, autocommit=True), "%s"
