"""Fire lateness of real ``yamlcron run`` processes on PostgreSQL: one replica and three.

    python bench/replicas.py --url postgresql://postgres@127.0.0.1/test [--jobs 1000]

N interval jobs every second, staggered evenly over the second, a no-op callable on the
thread executor, misfire grace 1 s. Each row starts its processes against a fresh schema,
measures lateness (recorded start - scheduled time) of the fires in the window from the
store, and counts missed fires and duplicates. Beside them, in the same run: one yamlcron
on SQLite, and APScheduler 3 (the ``bench`` extra) with its SQLAlchemyJobStore on the
same PostgreSQL, which allows one scheduler only.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from run import (
    _pct,
    aps_lateness_on,
    lateness_manifest,
)  # bench/run.py: the same measures as its lateness rows

COMMAND = (
    sys.executable,
    "-m",
    "yamlcron",
    "run",
    "-f",
    "jobs.yaml",
    "--no-watch",
    "--workers",
    "64",
)


def yamlcron_lateness(url: str | None, replicas: int, jobs: int, window: float) -> dict[str, Any]:
    """Lateness p50/p99 (ms), missed share and duplicates for ``replicas`` processes."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        (path / "benchjobs.py").write_text("def noop():\n    return None\n")
        start = (datetime.now(UTC) + timedelta(seconds=5)).replace(microsecond=0)
        (path / "jobs.yaml").write_text(lateness_manifest(jobs, start))
        store = url or f"sqlite://{path / 'state.db'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("YAMLCRON_")}
        procs = [
            subprocess.Popen(
                [*COMMAND, "--store", store, "--node", f"r{i}"],
                cwd=path,
                env=env,
                stderr=subprocess.DEVNULL,
            )
            for i in range(replicas)
        ]
        warm = start + timedelta(seconds=3)
        end = warm + timedelta(seconds=window)
        time.sleep(max((end - datetime.now(UTC)).total_seconds(), 0) + 1.5)
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(60)
        rows = _runs(store, warm, end)
    late = [(s - at) / 1000 for _, at, status, s, _ in rows if status == "success" and s]
    fires = Counter((job, at) for job, at, _, _, _ in rows)
    nodes = Counter(node for *_, node in rows)
    return {
        "p50": _pct(late, 0.5),
        "p99": _pct(late, 0.99),
        "missed": 1 - len(late) / (jobs * window),
        "duplicates": sum(n - 1 for n in fires.values()),
        "split": "/".join(str(nodes[n]) for n in sorted(nodes)),
    }


def _runs(store: str, warm: datetime, end: datetime) -> list[tuple[Any, ...]]:
    lo, hi = (int(t.timestamp() * 1_000_000) for t in (warm, end))
    sql = (
        "SELECT job_id, scheduled_at, status, started_at, node FROM runs "
        "WHERE scheduled_at >= {0} AND scheduled_at < {0}"
    )
    if store.startswith("sqlite://"):
        import sqlite3

        with sqlite3.connect(store.removeprefix("sqlite://")) as db:
            return db.execute(sql.format("?"), (lo, hi)).fetchall()
    with psycopg.connect(store) as pg:
        return pg.execute(sql.format("%s"), (lo, hi)).fetchall()


def _schema(base: str) -> tuple[str, str]:
    """A fresh schema on ``base``: its name and a URL whose search_path is it."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as db:
        db.execute(f'CREATE SCHEMA "{name}"')
    return name, f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{name}"


def _drop(base: str, name: str) -> None:
    with psycopg.connect(base, autocommit=True) as db:
        db.execute(f'DROP SCHEMA "{name}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("YAMLCRON_TEST_POSTGRES_URL"))
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    logging.getLogger("apscheduler").setLevel(logging.CRITICAL)  # a line per missed fire
    if not args.url:
        parser.error("give --url postgresql://... (or set YAMLCRON_TEST_POSTGRES_URL)")
    rows: dict[str, list[dict[str, Any]]] = {}
    for _ in range(args.repeat):  # interleaved: each repetition runs every row once
        for label, replicas in (("1 replica", 1), ("3 replicas", 3)):
            name, url = _schema(args.url)
            try:
                result = yamlcron_lateness(url, replicas, args.jobs, args.window)
            finally:
                _drop(args.url, name)
            rows.setdefault(f"yamlcron PostgreSQL, {label}", []).append(result)
        result = yamlcron_lateness(None, 1, args.jobs, args.window)
        rows.setdefault("yamlcron SQLite, 1 process", []).append(result)
        name, url = _schema(args.url)
        try:
            p50, p99, missed = aps_lateness_on(
                url.replace("postgresql://", "postgresql+psycopg://", 1), args.jobs, args.window
            )
        finally:
            _drop(args.url, name)
        rows.setdefault("APScheduler 3 SQLAlchemy PostgreSQL", []).append(
            {"p50": p50, "p99": p99, "missed": missed, "duplicates": 0, "split": "-"}
        )
    print(
        f"\n{args.jobs} jobs every second ({args.jobs} fires/s), {args.window:.0f} s window, "
        f"median of {args.repeat}\n"
    )
    header = f"| {'scheduler':<38} | p50 ms | p99 ms | missed | duplicates | runs per replica |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for label, results in rows.items():
        med = {k: statistics.median(r[k] for r in results) for k in ("p50", "p99", "missed")}
        dup = max(r["duplicates"] for r in results)
        print(
            f"| {label:<38} | {med['p50']:6.1f} | {med['p99']:6.1f} | {med['missed']:6.1%} "
            f"| {dup:10d} | {results[-1]['split']:<16} |"
        )


if __name__ == "__main__":
    main()
