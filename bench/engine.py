"""Engine figures: fire lateness, idle CPU, subprocess throughput.

    python bench/engine.py [--jobs 1000] [--seconds 60] [--idle 30] [--spawns 500]

- lateness: N interval jobs every second, starts staggered evenly over the second, a no-op
  callable on the thread executor, SQLite store; lateness = recorded start - scheduled
  time, over the window after a 5 s warm-up; missed and skipped fires counted.
- idle: CPU seconds used by a `yamlcron run` process with 1,000 cron jobs due hours later.
- subprocess: `/bin/true` runs per second through the subprocess executor, next to a bare
  `subprocess.run` loop, both sequential, in this process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from yamlcron import Yamlcron
from yamlcron.manifest import parse_manifest
from yamlcron.registry import build_registry
from yamlcron.runs import RunContext


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def lateness(jobs: int, seconds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        (path / "noop.py").write_text("def noop():\n    return None\n")
        start = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
        lines = ["version: 1", "jobs:"]
        for i in range(jobs):
            offset = start + timedelta(seconds=i / jobs)
            lines += [
                f"  j{i}:",
                f"    trigger: {{interval: 1s, start: '{offset.isoformat()}'}}",
                "    run: {call: 'noop:noop'}",
                "    history: 1000",
            ]
        (path / "jobs.yaml").write_text("\n".join(lines) + "\n")
        cron = Yamlcron(path / "jobs.yaml", registry=build_registry(autoload=False), workers=64)
        cron.start()
        warm = start + timedelta(seconds=5)
        end = warm + timedelta(seconds=seconds)
        time.sleep(max((end - datetime.now(UTC)).total_seconds(), 0) + 2)
        cron.stop(timeout=10)
        reopened = Yamlcron(path / "jobs.yaml", registry=build_registry(autoload=False))
        runs = [r for r in reopened.store.runs(limit=10_000_000) if warm <= r.scheduled_at < end]
        reopened.stop()
    late = [
        (r.started_at - r.scheduled_at).total_seconds() * 1000
        for r in runs
        if r.status.value == "success" and r.started_at
    ]
    missed = sum(r.status.value in ("missed", "skipped") for r in runs)
    expected = jobs * seconds
    print(
        f"lateness   | {jobs} jobs x 1/s, {seconds} s | fires expected {expected}, recorded "
        f"{len(runs)}, missed/skipped {missed} | p50 {percentile(late, 0.5):.1f} ms, "
        f"p99 {percentile(late, 0.99):.1f} ms, max {max(late):.1f} ms"
    )


def idle(seconds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        hour = (datetime.now(UTC) + timedelta(hours=3)).hour
        body = "".join(
            f"  j{i}:\n    trigger: {{cron: '{i % 60} {hour} * * *'}}\n    run: {{shell: 'true'}}\n"
            for i in range(1000)
        )
        (path / "jobs.yaml").write_text(f"version: 1\njobs:\n{body}")
        proc = subprocess.Popen(
            [sys.executable, "-m", "yamlcron", "run", "--no-watch"],
            cwd=path,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(5)  # start-up and the first apply are not idle time
        before = _cpu(proc.pid)
        time.sleep(seconds)
        used = _cpu(proc.pid) - before
        proc.terminate()
        proc.wait()
    print(
        f"idle       | 1000 cron jobs due in hours | CPU {used:.3f} s in {seconds} s "
        f"({100 * used / seconds:.3f} %)"
    )


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spawns(count: int) -> None:
    registry = build_registry(autoload=False)
    text = "version: 1\njobs:\n  t: {trigger: {cron: '@daily'}, run: {command: ['/bin/true']}}\n"
    folder = Path(tempfile.gettempdir())
    spec = parse_manifest(text, folder / "jobs.yaml").jobs["t"]
    executor = registry.executor("subprocess")
    cancel = threading.Event()
    rates: dict[str, list[float]] = {"executor": [], "bare": []}
    for _ in range(3):  # interleaved repetitions
        started = time.perf_counter()
        for i in range(count):
            executor.execute(
                RunContext(
                    run_id=i,
                    job=spec,
                    scheduled_at=datetime.now(UTC),
                    attempt=1,
                    folder=folder,
                    cancel=cancel,
                    env={"YAMLCRON_JOB_ID": "t"},
                )
            )
        rates["executor"].append(count / (time.perf_counter() - started))
        started = time.perf_counter()
        for _ in range(count):
            subprocess.run(["/bin/true"], capture_output=True, check=False)
        rates["bare"].append(count / (time.perf_counter() - started))
    ours, bare = statistics.median(rates["executor"]), statistics.median(rates["bare"])
    print(
        f"subprocess | /bin/true x {count}, median of 3 | executor {ours:.0f}/s, "
        f"bare subprocess.run {bare:.0f}/s, ratio {ours / bare:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--idle", type=int, default=30)
    parser.add_argument("--spawns", type=int, default=500)
    parser.add_argument("--only", choices=["lateness", "idle", "subprocess"])
    options = parser.parse_args()
    if options.only in (None, "subprocess"):
        spawns(options.spawns)
    if options.only in (None, "idle"):
        idle(options.idle)
    if options.only in (None, "lateness"):
        lateness(options.jobs, options.seconds)


if __name__ == "__main__":
    main()
