"""A soak: a real `yamlcron run` at 500 fires a second for 10 minutes, with hostile jobs.

    python bench/soak.py                        # 500 fires/s, 10 minutes, a sample each 30 s
    python bench/soak.py --minutes 2 --rate 100 # shorter
    python bench/soak.py --hostile-calls process  # the hostile call: jobs in a process each

Most jobs are no-op calls every second on the thread executor, their starts spread over
the second. Beside them, hostile jobs: a call that ends with ``sys.exit(0)``, one that
raises ``KeyboardInterrupt``, 50 MB of output from a shell and from a ``process`` call, a
call that returns 20 MB, and a shell that forks a child and leaves it behind.

Every 30 s it samples the daemon: resident memory, threads, open descriptors, the store's
size on disk, the runs recorded since the last sample, the runs left ``running`` and the
hostile jobs' children still alive. At the end it stops the daemon with SIGTERM and checks
that every fire time was recorded exactly once: for each job, the fire times from its
first recorded one to its last, against the run ids the store issued (runs are never
retried here, and history pruning deletes rows but never reuses an id).
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

TASKS = """\
import sys

def noop():
    pass

def exits():
    sys.exit(0)

def interrupts():
    raise KeyboardInterrupt

def big_output(megabytes):
    line = "z" * 999 + "\\n"
    for _ in range(megabytes * 1000):
        sys.stdout.write(line)

def big_result():
    return "r" * 20_000_000
"""

#: The hostile jobs: id -> (interval in seconds, the job's YAML body after its trigger).
HOSTILE = {
    "exit": (5, "run: {call: 'soaktasks:exits'}"),
    "interrupt": (7, "run: {call: 'soaktasks:interrupts'}"),
    "output-shell": (30, "run: {shell: \"head -c 50000000 /dev/zero | tr '\\\\0' x\"}"),
    "output-process": (
        30,
        "run: {call: 'soaktasks:big_output', args: [50]}\n    executor: process",
    ),
    "result": (30, "run: {call: 'soaktasks:big_result'}"),
    "orphan": (10, 'run: {shell: "(sleep 600 &); echo forked"}'),
}


def manifest(rate: int, start: datetime, hostile_calls: str) -> str:
    """``rate`` no-op jobs every second, staggered over the second, and the hostile jobs."""
    lines = ["version: 1", "jobs:"]
    for i in range(rate):
        offset = (start + timedelta(seconds=i / rate)).isoformat()
        lines += [
            f"  noop{i}:",
            f"    trigger: {{interval: 1s, start: '{offset}'}}",
            "    run: {call: 'soaktasks:noop'}",
        ]
    for name, (every, body) in HOSTILE.items():
        lines += [
            f"  {name}:",
            f"    trigger: {{interval: {every}s, start: '{start.isoformat()}'}}",
        ]
        lines += [f"    {body}"]
        if hostile_calls == "process" and name in ("exit", "interrupt", "result"):
            lines += ["    executor: process"]
    return "\n".join(lines) + "\n"


def intervals(rate: int) -> dict[str, int]:
    """Each job's interval in seconds."""
    found = {f"noop{i}": 1 for i in range(rate)}
    found.update((name, every) for name, (every, _) in HOSTILE.items())
    return found


class Sampler:
    """Reads a daemon's resources from /proc and its store with sqlite3."""

    def __init__(self, pid: int, folder: Path) -> None:
        self.pid = pid
        self.folder = folder
        self.store = folder / ".yamlcron" / "state.db"
        self.first: dict[str, int] = {}  # each job's first scheduled time seen (microseconds)
        self.issued = 0

    def status(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def store_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.store.parent.glob("state.db*"))

    def query(self, sql: str) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.store, timeout=30) as db:
            return db.execute(sql).fetchall()

    def runs_issued(self) -> int:
        rows = self.query("SELECT seq FROM sqlite_sequence WHERE name = 'runs'")
        return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]

    def note_first(self) -> None:
        """Keep each job's earliest recorded fire before pruning takes it."""
        for job_id, first in self.query(
            "SELECT job_id, MIN(scheduled_at) FROM runs GROUP BY job_id"
        ):
            key, value = str(job_id), int(first)  # type: ignore[call-overload]
            self.first[key] = min(self.first.get(key, value), value)

    def left_behind(self) -> int:
        """Children of the hostile jobs still alive (``sleep 600``) in the soak's folder."""
        count = 0
        for entry in Path("/proc").iterdir():
            try:
                cmd = (entry / "cmdline").read_bytes()
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if cmd == b"sleep\x00600\x00" and Path(cwd) == self.folder:
                count += 1
        return count

    def row(self, elapsed: float, window: float) -> str:
        issued = self.runs_issued()
        rate = (issued - self.issued) / window
        self.issued = issued
        self.note_first()
        running = self.query("SELECT COUNT(*) FROM runs WHERE status = 'running'")[0][0]
        return (
            f"| {elapsed:5.0f} | {self.status('VmRSS') / 1024:7.1f} | {self.status('Threads'):7d} "
            f"| {len(os.listdir(f'/proc/{self.pid}/fd')):4d} | {self.store_bytes() / 1e6:7.1f} "
            f"| {rate:9.1f} | {running:7} | {self.left_behind():8d} |"
        )


def check(sampler: Sampler, every: dict[str, int]) -> list[str]:
    """Every fire time recorded once: per job, first to last recorded, against ids issued."""
    sampler.note_first()
    rows = sampler.query("SELECT job_id, MAX(scheduled_at) FROM runs GROUP BY job_id")
    last = {str(job_id): int(at) for job_id, at in rows}  # type: ignore[call-overload]
    expected = 0
    for job_id, step in every.items():
        if job_id in last:
            span = last[job_id] - sampler.first[job_id]
            expected += span // (step * 1_000_000) + 1
    issued = sampler.runs_issued()
    statuses = sampler.query("SELECT status, COUNT(*) FROM runs GROUP BY status ORDER BY 2 DESC")
    kept = ", ".join(f"{status} {count}" for status, count in statuses)
    hostile = sampler.query(
        "SELECT job_id, status, COUNT(*) FROM runs WHERE job_id NOT LIKE 'noop%' "
        "GROUP BY job_id, status ORDER BY job_id"
    )
    return [
        f"fire times due (first to last recorded, per job): {expected}",
        f"runs recorded (ids issued): {issued} ({issued - expected:+d})",
        f"runs kept (history 100 a job): {kept}",
        "hostile jobs: " + ", ".join(f"{j} {s} {n}" for j, s, n in hostile),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=int, default=500, help="no-op fires a second")
    parser.add_argument("--sample", type=float, default=30, help="seconds between samples")
    parser.add_argument("--hostile-calls", choices=("thread", "process"), default="thread")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="yamlcron-soak-") as scratch:
        folder = Path(scratch).resolve()
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)
        (folder / "soaktasks.py").write_text(TASKS)
        (folder / "jobs.yaml").write_text(manifest(args.rate, start, args.hostile_calls))
        env = {k: v for k, v in os.environ.items() if not k.startswith("YAMLCRON_")}
        subprocess.run([sys.executable, "-m", "yamlcron", "apply"], cwd=folder, env=env, check=True)
        with (folder / "daemon.log").open("w") as log:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "yamlcron", "run", "--no-watch"],
                cwd=folder,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        sampler = Sampler(daemon.pid, folder)
        print(
            f"{args.rate} no-op fires/s and {len(HOSTILE)} hostile jobs "
            f"(calls on {args.hostile_calls}), {args.minutes:g} min, daemon pid {daemon.pid}"
        )
        print("|     s | RSS MiB | threads |  fds | store MB | recorded/s | running | left over |")
        print("|---|---|---|---|---|---|---|---|")
        began = time.monotonic()
        try:
            time.sleep(max((start - datetime.now(UTC)).total_seconds(), 0))
            began = time.monotonic()
            sampler.issued = sampler.runs_issued()
            print(sampler.row(0, 1), flush=True)
            end = began + args.minutes * 60
            last = began
            while time.monotonic() < end and daemon.poll() is None:
                time.sleep(min(args.sample, end - time.monotonic()))
                now = time.monotonic()
                print(sampler.row(now - began, now - last), flush=True)
                last = now
        finally:
            daemon.send_signal(signal.SIGTERM)
            code = daemon.wait(120)
        print(f"daemon exited {code} after {time.monotonic() - began:.0f} s")
        for line in check(sampler, intervals(args.rate)):
            print(line)
        errors = [
            line
            for line in (folder / "daemon.log").read_text().splitlines()
            if "Traceback" in line or "ERROR" in line
        ]
        print(
            f"daemon log: {len(errors)} ERROR/Traceback lines"
            + (f", first: {errors[0][:200]}" if errors else "")
        )


if __name__ == "__main__":
    main()
