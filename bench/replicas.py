"""Fire lateness of real ``yamlcron run`` processes on PostgreSQL: one replica and three.

    python bench/replicas.py --url postgresql://postgres@127.0.0.1/test [--jobs 1000]
    python bench/replicas.py --url ... --rates 1000 3000 5000 8000 --burst 10000 \
        [--other before=OTHER_VENV/bin/python] [--no-others]

N interval jobs every second, staggered evenly over the second, a no-op callable on the
thread executor, misfire grace 1 s. Each row starts its processes against a fresh schema,
measures lateness (recorded start - scheduled time) of the fires in the window from the
store, and counts missed fires and duplicates. Beside them, in the same run: one yamlcron
on SQLite, and APScheduler 3 (the ``bench`` extra) with its SQLAlchemyJobStore on the
same PostgreSQL, which allows one scheduler only (``--no-others`` leaves those out).

``--rates`` runs the rows at each rate and prints each one's highest rate with nothing
missed (its 0-missed ceiling among the rates given). ``--burst N``: N jobs due at one
instant (an hourly interval all starting then), 1 and 3 replicas: seconds from the instant
to the last start and to the last record, and fires missed. ``--other LABEL=PYTHON`` runs
the yamlcron rows again with another interpreter (another checkout's venv), interleaved.
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
    "-m",
    "yamlcron",
    "run",
    "-f",
    "jobs.yaml",
    "--no-watch",
    "--workers",
    "64",
)


def _start(python: str, store: str, path: Path, replicas: int) -> list[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YAMLCRON_")}
    return [
        subprocess.Popen(
            [python, *COMMAND, "--store", store, "--node", f"r{i}"],
            cwd=path,
            env=env,
            stderr=subprocess.DEVNULL,
        )
        for i in range(replicas)
    ]


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()  # a row that cannot stop is reported by its figures, not by a hang
            proc.wait()


def yamlcron_lateness(
    url: str | None, replicas: int, jobs: int, window: float, python: str = sys.executable
) -> dict[str, Any]:
    """Lateness p50/p99 (ms), missed share and duplicates for ``replicas`` processes."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        (path / "benchjobs.py").write_text("def noop():\n    return None\n")
        start = (datetime.now(UTC) + timedelta(seconds=5 + jobs / 2000)).replace(microsecond=0)
        (path / "jobs.yaml").write_text(lateness_manifest(jobs, start))
        store = url or f"sqlite://{path / 'state.db'}"
        procs = _start(python, store, path, replicas)
        warm = start + timedelta(seconds=3)
        end = warm + timedelta(seconds=window)
        time.sleep(max((end - datetime.now(UTC)).total_seconds(), 0) + 1.5)
        _stop(procs)
        rows = _runs(store, warm, end)
    return lateness_figures(rows, jobs * window)


def burst_manifest(jobs: int, at: datetime) -> str:
    """N jobs due at one instant ``at`` (hourly, as thousands of ``0 * * * *`` jobs are)."""
    lines = ["version: 1", "jobs:"]
    for i in range(jobs):
        lines += [
            f"  b{i}:",
            f"    trigger: {{interval: 1h, start: '{at.isoformat()}'}}",
            "    run: {call: 'benchjobs:noop'}",
            "    misfire_grace_time: 10s",
        ]
    return "\n".join(lines) + "\n"


def yamlcron_burst(url: str, replicas: int, jobs: int, python: str) -> dict[str, Any]:
    """Seconds from the instant to the last start and the last record, fires missed."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        (path / "benchjobs.py").write_text("def noop():\n    return None\n")
        at = (datetime.now(UTC) + timedelta(seconds=8 + jobs / 1000)).replace(microsecond=0)
        (path / "jobs.yaml").write_text(burst_manifest(jobs, at))
        procs = _start(python, url, path, replicas)
        time.sleep(max((at - datetime.now(UTC)).total_seconds(), 0) + 12)
        _stop(procs)
        with psycopg.connect(url) as pg:
            rows = pg.execute("SELECT status, started_at, recorded_at, job_id FROM runs").fetchall()
    instant = at.timestamp() * 1_000_000
    ran = [r for r in rows if r[0] == "success"]
    fires = Counter(job for *_, job in rows)
    return {
        "start": (max(r[1] for r in ran) - instant) / 1e6 if ran else float("nan"),
        "record": (max(r[2] for r in ran) - instant) / 1e6 if ran else float("nan"),
        "missed": jobs - len(ran),
        "duplicates": sum(n - 1 for n in fires.values()),
    }


def lateness_figures(rows: list[tuple[Any, ...]], expected: float) -> dict[str, Any]:
    """p50/p99 ms, missed share, duplicates and runs per replica of a window's ``rows``
    (``_runs``), of which ``expected`` fires should have run."""
    late = [(s - at) / 1000 for _, at, status, s, _ in rows if status == "success" and s]
    fires = Counter((job, at) for job, at, _, _, _ in rows)
    nodes = Counter(node for *_, node in rows)
    return {
        "p50": _pct(late, 0.5),
        "p99": _pct(late, 0.99),
        "missed": 1 - len(late) / expected,
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


def _fresh(base: str, row: Any, *args: Any) -> dict[str, Any]:
    """``row(url, *args)`` against a schema of its own, dropped after."""
    name, url = _schema(base)
    try:
        result: dict[str, Any] = row(url, *args)
        return result
    finally:
        _drop(base, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("YAMLCRON_TEST_POSTGRES_URL"))
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rates", type=int, nargs="*", help="fires/s (default: --jobs)")
    parser.add_argument("--burst", type=int, default=0, help="jobs due at one instant")
    parser.add_argument("--other", action="append", default=[], help="LABEL=PYTHON")
    parser.add_argument("--no-others", action="store_true", help="no SQLite, no APScheduler")
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    logging.getLogger("apscheduler").setLevel(logging.CRITICAL)  # a line per missed fire
    if not args.url:
        parser.error("give --url postgresql://... (or set YAMLCRON_TEST_POSTGRES_URL)")
    trees = [("", sys.executable)] + [
        (f"{label} ", python) for label, python in (o.split("=", 1) for o in args.other)
    ]
    rates = args.rates or [args.jobs]
    rows: dict[tuple[str, int], list[dict[str, Any]]] = {}
    bursts: dict[str, list[dict[str, Any]]] = {}
    for _ in range(args.repeat):  # interleaved: each repetition runs every row once
        for rate in rates:
            for replicas in (1, 3):
                for label, python in trees:
                    result = _fresh(
                        args.url, yamlcron_lateness, replicas, rate, args.window, python
                    )
                    key = f"{label}yamlcron PostgreSQL, {replicas} replica{'s' * (replicas > 1)}"
                    rows.setdefault((key, rate), []).append(result)
            if args.no_others:
                continue
            result = yamlcron_lateness(None, 1, rate, args.window)
            rows.setdefault(("yamlcron SQLite, 1 process", rate), []).append(result)
            name, url = _schema(args.url)
            try:
                p50, p99, missed = aps_lateness_on(
                    url.replace("postgresql://", "postgresql+psycopg://", 1), rate, args.window
                )
            finally:
                _drop(args.url, name)
            rows.setdefault(("APScheduler 3 SQLAlchemy PostgreSQL", rate), []).append(
                {"p50": p50, "p99": p99, "missed": missed, "duplicates": 0, "split": "-"}
            )
        if args.burst:
            for replicas in (1, 3):
                for label, python in trees:
                    key = f"{label}{replicas} replica{'s' * (replicas > 1)}"
                    result = _fresh(args.url, yamlcron_burst, replicas, args.burst, python)
                    bursts.setdefault(key, []).append(result)
    print(
        f"\nN jobs every second (N fires/s), {args.window:.0f} s window, median of {args.repeat}\n"
    )
    header = (
        f"| {'scheduler':<44} | rate/s | p50 ms | p99 ms | missed | duplicates | runs per replica |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    ceilings: dict[str, int] = {}
    for (label, rate), results in rows.items():
        med = {k: statistics.median(r[k] for r in results) for k in ("p50", "p99", "missed")}
        dup = max(r["duplicates"] for r in results)
        if max(r["missed"] for r in results) == 0:
            ceilings[label] = max(ceilings.get(label, 0), rate)
        print(
            f"| {label:<44} | {rate:6d} | {med['p50']:6.1f} | {med['p99']:6.1f} "
            f"| {med['missed']:6.1%} | {dup:10d} | {results[-1]['split']:<16} |"
        )
    if len(rates) > 1:
        print("\n0-missed ceiling among the rates given (every repetition):\n")
        for label in dict.fromkeys(label for label, _ in rows):
            print(f"- {label}: {ceilings.get(label, 0) or 'none'}")
    if bursts:
        print(f"\nburst: {args.burst} jobs due at one instant, median of {args.repeat}\n")
        print("| replicas | last start s | last record s | missed | duplicates |")
        print("|---|---|---|---|---|")
        for label, results in bursts.items():
            med = {k: statistics.median(r[k] for r in results) for k in ("start", "record")}
            missed = max(r["missed"] for r in results)
            dup = max(r["duplicates"] for r in results)
            print(f"| {label} | {med['start']:.2f} | {med['record']:.2f} | {missed} | {dup} |")


if __name__ == "__main__":
    main()
