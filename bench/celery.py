"""Dispatching to Celery: one ``yamlcron run`` beside ``celery beat``, same schedule, same run.

    python bench/celery.py [--rates 20,100,200] [--window 15] [--repeat 2] [--redis URL]

For each rate N: N jobs every second, on one Celery worker (prefork, 4 processes) with
Redis as broker and result backend. The task notes the moment it starts on the worker.

- yamlcron: N ``interval: 1s`` jobs staggered evenly over the second, ``task`` runs on the
  ``celery`` executor, SQLite store. Lateness = task start on the worker - the fire's
  scheduled time (its ``yamlcron_scheduled_at`` header); missed = runs recorded ``missed``.
- celery beat: N ``beat_schedule`` entries of ``schedule=1.0`` driving the same task.
  Beat has no scheduled time to compare with: lateness = start - (the entry's first start
  in the window + k seconds), the drift from a perfect every-second schedule.

Fires/s counts the task starts on the worker in the window, warm-up excluded. The rows
of one rate alternate between the two, ``--repeat`` times each.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TASKS = """\
import json, os, time
from celery import Celery

app = Celery("tasks", broker=os.environ["BROKER"], backend=os.environ["BACKEND"])
app.conf.task_default_queue = os.environ["QUEUE"]
RATE = int(os.environ.get("BEAT_RATE", "0"))
app.conf.beat_schedule = {
    f"e{n:04}": {"task": "tasks.mark", "schedule": 1.0, "args": (f"e{n:04}",)}
    for n in range(RATE)
}


@app.task(bind=True)
def mark(self, name=None):
    started = time.time()
    scheduled = getattr(self.request, "yamlcron_scheduled_at", None)
    with open(os.environ["LEDGER"], "a") as ledger:
        ledger.write(json.dumps([started, scheduled, name or self.request.id]) + "\\n")
"""


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


class Bench:
    def __init__(self, folder: Path, redis: str) -> None:
        self.folder = folder
        (folder / "tasks.py").write_text(TASKS)
        self.queue = f"bench-{uuid.uuid4().hex[:8]}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("YAMLCRON_")},
            "BROKER": f"{redis}/0",
            "BACKEND": f"{redis}/1",
            "QUEUE": self.queue,
            "LEDGER": str(folder / "ledger.jsonl"),
        }

    def start(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{args[0]}-{uuid.uuid4().hex[:4]}.log").open("wb")
        return subprocess.Popen(
            args,
            cwd=self.folder,
            env={**self.env, **env},
            stdout=log,
            stderr=log,
            start_new_session=True,
        )

    def worker(self) -> subprocess.Popen[bytes]:
        return self.start(
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tasks",
            "worker",
            "-Q",
            self.queue,
            "-c",
            "4",
            "-l",
            "warning",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        )

    def ledger(self) -> list[tuple[float, str | None, str]]:
        path = Path(self.env["LEDGER"])
        if not path.exists():
            return []
        import json

        return [tuple(json.loads(line)) for line in path.read_text().splitlines()]  # type: ignore[misc]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def yamlcron_row(redis: str, rate: int, window: float, warm: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="yc-bench-celery-") as tmp:
        bench = Bench(Path(tmp), redis)
        base = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
        jobs = "".join(
            f"  j{n:04}:\n"
            f'    trigger: {{interval: 1s, start: "{(base + timedelta(seconds=n / rate)).isoformat()}"}}\n'
            f"    run: {{task: tasks.mark}}\n"
            f"    executor: celery\n"
            f"    misfire_grace_time: 1s\n"
            f"    max_instances: 10\n"
            for n in range(rate)
        )
        (bench.folder / "jobs.yaml").write_text(
            "version: 1\nexecutors:\n"
            f'  celery: {{broker: "{bench.env["BROKER"]}", backend: "{bench.env["BACKEND"]}", '
            f"queue: {bench.queue}}}\n"
            f"jobs:\n{jobs}"
        )
        worker = bench.worker()
        daemon = bench.start(
            sys.executable, "-m", "yamlcron", "run", "-f", "jobs.yaml", "--no-watch"
        )
        begin = time.time()
        time.sleep(2 + warm + window)
        _stop(daemon)
        time.sleep(2)  # what was sent starts
        _stop(worker)
        since, until = begin + 2 + warm, begin + 2 + warm + window
        late = [
            start - datetime.fromisoformat(sched).timestamp()
            for start, sched, _ in bench.ledger()
            if sched and since <= datetime.fromisoformat(sched).timestamp() < until
        ]
        import sqlite3

        with sqlite3.connect(bench.folder / ".yamlcron" / "state.db") as db:
            missed = db.execute(
                "SELECT COUNT(*) FROM runs WHERE status IN ('missed', 'skipped') "
                "AND scheduled_at >= ? AND scheduled_at < ?",
                (int(since * 1e6), int(until * 1e6)),
            ).fetchone()[0]
        return {"fires/s": len(late) / window, "late": late, "missed": missed}


def beat_row(redis: str, rate: int, window: float, warm: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="yc-bench-celery-") as tmp:
        bench = Bench(Path(tmp), redis)
        worker = bench.worker()
        beat = bench.start(
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tasks",
            "beat",
            "-l",
            "warning",
            "-s",
            str(bench.folder / "beat-schedule"),
            BEAT_RATE=str(rate),
        )
        begin = time.time()
        time.sleep(2 + warm + window)
        _stop(beat)
        time.sleep(2)
        _stop(worker)
        since, until = begin + 2 + warm, begin + 2 + warm + window
        starts: dict[str, list[float]] = {}
        for start, _, name in bench.ledger():
            if since <= start < until:
                starts.setdefault(name, []).append(start)
        late = [
            s - (times[0] + k) for times in starts.values() for k, s in enumerate(sorted(times))
        ]
        fired = sum(len(t) for t in starts.values())
        return {"fires/s": fired / window, "late": late, "missed": rate * int(window) - fired}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="20,100,200")
    parser.add_argument("--window", type=float, default=15.0)
    parser.add_argument("--warm", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--redis", default=os.environ.get("YAMLCRON_TEST_REDIS_URL", "redis://127.0.0.1:6379")
    )
    options = parser.parse_args()
    print(f"one worker (prefork, 4), Redis broker and backend, {options.window:.0f} s windows")
    print(
        "| schedule | who | fires/s on the worker | lateness p50 / p99 / max (ms) | missed or skipped |"
    )
    print("|---|---|---|---|---|")
    for rate in (int(r) for r in options.rates.split(",")):
        rows = [("yamlcron run (SQLite)", yamlcron_row), ("celery beat", beat_row)] * options.repeat
        for who, row in rows:  # interleaved: the machine's load falls on both alike
            result = row(options.redis.rstrip("/"), rate, options.window, options.warm)
            late = [v * 1000 for v in result["late"]]
            print(
                f"| {rate} jobs every 1 s | {who} | {result['fires/s']:.1f} | "
                f"{_pct(late, 0.5):.0f} / {_pct(late, 0.99):.0f} / {max(late, default=float('nan')):.0f} | "
                f"{result['missed']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
