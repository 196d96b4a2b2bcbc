"""How long the status page takes to build with many jobs and runs (``page()``, no server).

A SQLite store with N jobs (tags on every seventh), 20 runs for each of the first 1,000
jobs, each run with 64 KiB of output (the most a run keeps). Each figure is the median of
several builds in one process, as a running daemon builds them. For comparison, the strips
of one front page read the way ``history`` reads runs (one query a job, output included).

    python bench/pages.py [--jobs 10000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from yamlcron.app import Yamlcron
from yamlcron.http.pages import page
from yamlcron.runs import Claim, NewRun, RunStatus

RUNS_PER_JOB = 20
JOBS_WITH_RUNS = 1000
OUTPUT = ("x" * 99 + "\n") * 655  # 64 KiB


def manifest(jobs: int) -> str:
    lines = ["version: 1", "jobs:"]
    for i in range(jobs):
        lines += [
            f"  j{i:05d}:",
            f"    trigger: {{cron: '{i % 60} * * * *'}}",
            f"    run: {{shell: 'echo {i}'}}",
        ]
        if i % 7 == 0:
            lines.append(f"    tags: [t{i % 5}]")
    return "\n".join(lines) + "\n"


def fill(folder: Path, jobs: int) -> None:
    """Apply the manifest, then record runs with full outputs."""
    (folder / "jobs.yaml").write_text(manifest(jobs))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with Yamlcron(folder / "jobs.yaml") as app:
        app.apply()
        lease = app.store.join("bench", 60)
        claims = [
            Claim(
                job_id=f"j{i:05d}",
                runs=tuple(
                    NewRun(
                        job_id=f"j{i:05d}",
                        scheduled_at=start + timedelta(minutes=n),
                        status=RunStatus.MISSED if n % 5 else RunStatus.SKIPPED,
                    )
                    for n in range(RUNS_PER_JOB)
                ),
            )
            for i in range(min(jobs, JOBS_WITH_RUNS))
        ]
        app.store.claim(claims, lease, None)
    with sqlite3.connect(folder / ".yamlcron" / "state.db") as db:
        db.execute("UPDATE runs SET output = ?", (OUTPUT,))


def median_ms(build: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        build()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        fill(folder, options.jobs)
        with Yamlcron(folder / "jobs.yaml", create=False) as app:
            first_run = app.history("j00000", limit=1)[0].id
            cases: list[tuple[str, Callable[[], object]]] = [
                (f"{path}?{'&'.join(f'{k}={v}' for k, v in query.items())}".rstrip("?"), build)
                for path, query in [
                    ("/", {}),
                    ("/", {"page": str(options.jobs // 50)}),
                    ("/", {"per": "1000"}),
                    ("/", {"q": "j0999"}),
                    ("/", {"tag": "t3"}),
                    ("/", {"status": "paused"}),
                    ("/jobs/j00000", {}),
                    (f"/runs/{first_run}", {}),
                ]
                for build in [lambda path=path, query=query: page(app, path, query)]
            ]
            ids = sorted(app.jobs_by_id())[:50]
            cases.append(
                (
                    "50 strips as history reads them",
                    lambda: [app.history(i, limit=RUNS_PER_JOB) for i in ids],
                )
            )
            cases.append(("50 strips in one query", lambda: app.recent_runs(ids, RUNS_PER_JOB)))
            note = f"python {sys.version.split()[0]}, {os.cpu_count()} cores"
            print(
                f"status page, {options.jobs} jobs, {RUNS_PER_JOB} runs of 64 KiB output "
                f"for each of the first {JOBS_WITH_RUNS} ({note}); median of {options.repeat}"
            )
            print(f"{'page':<36} | {'ms':>7}")
            for label, build in cases:
                print(f"{label:<36} | {median_ms(build, options.repeat):>7.1f}")


if __name__ == "__main__":
    main()
