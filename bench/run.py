"""yamlcron beside APScheduler 3, same workloads, same machine, same run, interleaved.

    pip install -e '.[bench]'
    python bench/run.py                 # the full table (about 35 minutes on 2 cores)
    python bench/run.py --quick         # shorter windows and sizes (about 3 minutes)

Prints one table: per workload, yamlcron's and APScheduler's medians with [min-max] over
the repetitions, and the yamlcron/APScheduler ratio. Each repetition runs both systems one
after the other, so machine noise hits both. See bench/README.md for what each measures.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import multiprocessing
import os
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from croniter import croniter

from yamlcron import Yamlcron
from yamlcron.interfaces import RunContext
from yamlcron.manifest import parse_manifest
from yamlcron.registry import build_registry
from yamlcron.runs import Run
from yamlcron.store.sqlite import SQLiteStore
from yamlcron.triggers import CronSchedule, zone

EXPRESSIONS = [
    "* * * * *",
    "*/5 * * * *",
    "0 3 * * 1-5",
    "15,45 9-17 * * *",
    "0 */6 * * *",
    "23 0-20/2 * * *",
    "*/15 8-18 * * mon-fri",
    "0 12 1,15 * *",
    "0 0 1 1 *",
    "0 0 29 2 *",
]
Row = tuple[str, list[float], list[float], str]  # workload, yamlcron, apscheduler, unit
T = TypeVar("T")


def noop() -> None:
    """The job both schedulers fire."""


# -- fire lateness --------------------------------------------------------------------------


def lateness_manifest(jobs: int, start: datetime) -> str:
    """N interval jobs every second from ``start``, staggered evenly over the second."""
    lines = ["version: 1", "jobs:"]
    for i in range(jobs):
        offset = start + timedelta(seconds=i / jobs)
        lines += [
            f"  j{i}:",
            f"    trigger: {{interval: 1s, start: '{offset.isoformat()}'}}",
            "    run: {call: 'benchjobs:noop'}",
            "    history: 1000",
            "    misfire_grace_time: 1s",
        ]
    return "\n".join(lines) + "\n"


def yamlcron_lateness(
    jobs: int, window: float, in_memory: bool = False
) -> tuple[float, float, float, float]:
    """p50, p99 (ms), the share of fires missed and the CPU µs a fire, N interval jobs
    every second; ``in_memory``: on a SQLite store in memory rather than in a file, which
    shows what keeping the record durable costs."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        (path / "benchjobs.py").write_text("def noop():\n    return None\n")
        start = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
        (path / "jobs.yaml").write_text(lateness_manifest(jobs, start))
        cron = Yamlcron(
            path / "jobs.yaml",
            store="sqlite://:memory:" if in_memory else None,
            registry=build_registry(autoload=False),
            workers=64,
            freeze_gc=True,  # as `yamlcron run` does
        )
        cron.start()
        warm = start + timedelta(seconds=2)
        end = warm + timedelta(seconds=window)
        used = cpu_between(warm, end)
        time.sleep(1.5)
        if in_memory:  # read before the store goes with the process's scheduler
            late = lateness_of(cron.history(limit=10**8, since=warm), warm, end)
        cron.stop(timeout=10)
        if not in_memory:
            late = recorded_lateness(path, warm, end)
    expected = jobs * window
    return _pct(late, 0.5), _pct(late, 0.99), 1 - len(late) / expected, used / expected * 1e6


def cpu_between(start: datetime, end: datetime) -> float:
    """CPU seconds this process used from ``start`` to ``end`` (sleeping until then):
    every thread's, user and system, as ``getrusage`` counts them."""

    def used() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    time.sleep(max((start - datetime.now(UTC)).total_seconds(), 0))
    before = used()
    time.sleep(max((end - datetime.now(UTC)).total_seconds(), 0))
    return used() - before


def recorded_lateness(folder: Path, warm: datetime, end: datetime) -> list[float]:
    """Milliseconds late of each successful run scheduled in [warm, end), as the store has them."""
    store = SQLiteStore(folder / ".yamlcron" / "state.db")
    runs = store.runs(limit=10**8)
    store.close()
    return lateness_of(runs, warm, end)


def lateness_of(runs: list[Run], warm: datetime, end: datetime) -> list[float]:
    """Milliseconds late of each successful run of ``runs`` scheduled in [warm, end)."""
    return [
        (r.started_at - r.scheduled_at).total_seconds() * 1000
        for r in runs
        if warm <= r.scheduled_at < end and r.status.value == "success" and r.started_at
    ]


def add_lateness_jobs(scheduler: Any, jobs: int, first: datetime) -> None:
    """``lateness_manifest`` as APScheduler 3 jobs: N every second from ``first``, staggered."""
    for i in range(jobs):
        scheduler.add_job(
            noop,
            "interval",
            seconds=1,
            id=f"j{i}",
            misfire_grace_time=1,
            start_date=first + timedelta(seconds=i / jobs),
        )


def aps_lateness(jobs: int, window: float, store: str) -> tuple[float, float, float, float]:
    with tempfile.TemporaryDirectory() as folder:
        url = None if store == "memory" else f"sqlite:///{Path(folder) / 'aps.db'}"
        return aps_lateness_on(url, jobs, window)


def aps_lateness_on(url: str | None, jobs: int, window: float) -> tuple[float, float, float, float]:
    """APScheduler's lateness on its MemoryJobStore (``None``) or a SQLAlchemy URL, as
    ``yamlcron_lateness`` measures it."""
    from apscheduler.events import EVENT_JOB_EXECUTED
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    store = MemoryJobStore() if url is None else SQLAlchemyJobStore(url=url)
    scheduler = BackgroundScheduler(jobstores={"default": store}, timezone="UTC")
    late: list[float] = []
    window_start = datetime.now(UTC) + timedelta(seconds=5)
    window_end = window_start + timedelta(seconds=window)

    def executed(event: Any) -> None:
        if window_start <= event.scheduled_run_time < window_end:
            late.append((datetime.now(UTC) - event.scheduled_run_time).total_seconds() * 1000)

    scheduler.add_listener(executed, EVENT_JOB_EXECUTED)
    first = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
    add_lateness_jobs(scheduler, jobs, first)
    scheduler.start()
    used = cpu_between(window_start, window_end)
    time.sleep(1.5)
    scheduler.shutdown(wait=True)
    expected = jobs * window
    return _pct(late, 0.5), _pct(late, 0.99), 1 - len(late) / expected, used / expected * 1e6


def _aps_store(kind: str, folder: Path) -> Any:
    if kind == "memory":
        from apscheduler.jobstores.memory import MemoryJobStore

        return MemoryJobStore()
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    return SQLAlchemyJobStore(url=f"sqlite:///{folder / 'aps.db'}")


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


# -- the burst ------------------------------------------------------------------------------

#: Seconds from starting a burst's scheduler to the instant every job is due: time for
#: the slowest (APScheduler's SQLite store adding 10,000 jobs) to be ready before it.
BURST_LEAD = 25.0
#: Grace of the burst's jobs on both sides: long enough that a fire waiting its turn is
#: late, not missed, so the time to the last start is measured.
BURST_GRACE = 120
_burst_starts: list[float] = []


def burst_job() -> None:
    """APScheduler's burst job: notes when it started (by reference, for its SQLite store)."""
    _burst_starts.append(time.time())


def yamlcron_burst(jobs: int) -> tuple[float, float, float]:
    """Seconds from the instant N jobs are due to the last start and the last recorded
    end, and the share missed, of N interval jobs (every hour) all due at one instant."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        (path / "benchjobs.py").write_text("def noop():\n    return None\n")
        # Whole seconds: the instant must be the same to the microsecond for every job.
        instant = (datetime.now(UTC) + timedelta(seconds=BURST_LEAD)).replace(microsecond=0)
        body = "".join(
            f"  j{i}: {{trigger: {{interval: 1h, start: '{instant.isoformat()}'}}, "
            f"run: {{call: 'benchjobs:noop'}}, misfire_grace_time: {BURST_GRACE}s}}\n"
            for i in range(jobs)
        )
        (path / "jobs.yaml").write_text("version: 1\njobs:\n" + body)
        cron = Yamlcron(
            path / "jobs.yaml",
            registry=build_registry(autoload=False),
            workers=64,
            freeze_gc=True,
        )
        cron.start()
        deadline = instant + timedelta(seconds=BURST_GRACE)
        while _recorded_count(path, instant) < jobs and datetime.now(UTC) < deadline:
            time.sleep(0.1)
        cron.stop(timeout=10)
        with sqlite3.connect(path / ".yamlcron" / "state.db") as db:
            ran, last_start, last_record = db.execute(
                "SELECT COUNT(*), MAX(started_at), MAX(recorded_at) FROM runs "
                "WHERE status = 'success' AND scheduled_at = ?",
                (int(instant.timestamp() * 1e6),),
            ).fetchone()
    at = instant.timestamp()
    return last_start / 1e6 - at, last_record / 1e6 - at, 1 - ran / jobs


def _recorded_count(folder: Path, instant: datetime) -> int:
    with sqlite3.connect(folder / ".yamlcron" / "state.db") as db:
        return int(
            db.execute(
                "SELECT COUNT(*) FROM runs WHERE status != 'running' AND scheduled_at = ?",
                (int(instant.timestamp() * 1e6),),
            ).fetchone()[0]
        )


def aps_burst(jobs: int, store: str) -> tuple[float, float, float]:
    """As ``yamlcron_burst``, APScheduler 3 on its memory or SQLite store: the last start
    (the job notes it), the last end (its EXECUTED event), the share missed."""
    from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
    from apscheduler.schedulers.background import BackgroundScheduler

    with tempfile.TemporaryDirectory() as folder:
        scheduler = BackgroundScheduler(
            jobstores={"default": _aps_store(store, Path(folder))}, timezone="UTC"
        )
        ended: list[float] = []
        missed: list[int] = []
        scheduler.add_listener(lambda _: ended.append(time.time()), EVENT_JOB_EXECUTED)
        scheduler.add_listener(lambda _: missed.append(1), EVENT_JOB_MISSED)
        instant = (datetime.now(UTC) + timedelta(seconds=BURST_LEAD)).replace(microsecond=0)
        for i in range(jobs):
            scheduler.add_job(
                burst_job,
                "interval",
                hours=1,
                id=f"j{i}",
                start_date=instant,
                misfire_grace_time=BURST_GRACE,
            )
        scheduler.start()
        deadline = instant + timedelta(seconds=BURST_GRACE)
        while len(ended) + len(missed) < jobs and datetime.now(UTC) < deadline:
            time.sleep(0.1)
        scheduler.shutdown(wait=True)
    at = instant.timestamp()
    return max(_burst_starts) - at, max(ended) - at, len(missed) / jobs


# -- apply ----------------------------------------------------------------------------------


def manifest_text(jobs: int, variant: int = 0) -> str:
    lines = ["version: 1", "jobs:"]
    for i in range(jobs):
        command = f"echo {i}" + (" changed" if variant and i % 100 == 0 else "")
        lines += [
            f"  j{i}:",
            f"    trigger: {{cron: '{EXPRESSIONS[i % 10]}'}}",
            f"    run: {{shell: '{command}'}}",
        ]
    return "\n".join(lines) + "\n"


def yamlcron_apply(jobs: int, start: bool = False) -> tuple[float, float, float, float]:
    """Seconds: cold apply, re-apply of the same file, apply with 1 % of jobs changed,
    and (with ``start``) a fresh ``yamlcron run`` on that store until its loop is ready."""
    registry = build_registry()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "jobs.yaml"
        path.write_text(manifest_text(jobs))
        times = []
        for variant in (0, 0, 1):
            path.write_text(manifest_text(jobs, variant))
            started = time.perf_counter()
            _cli(["apply", "-f", str(path), "-o", "json"], registry)
            times.append(time.perf_counter() - started)
        times.append(ready(Path(folder)) if start else float("nan"))
    return times[0], times[1], times[2], times[3]


def ready(cwd: Path) -> float:
    """Seconds from starting `yamlcron run` on an applied store to its loop being ready."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "yamlcron", "run", "--no-watch"],
        cwd=cwd,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stderr is not None
    try:
        for line in child.stderr:  # "running N jobs from ..." is logged as the loop starts
            if "running" in line and "jobs from" in line:
                return time.perf_counter() - started
        raise SystemExit(f"yamlcron run ended without starting (exit {child.wait()})")
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(60)


def _cli(args: list[str], registry: Any) -> None:
    from contextlib import redirect_stdout
    from io import StringIO

    from yamlcron.cli import main

    with redirect_stdout(StringIO()):
        code = main(args, make_registry=lambda: registry)
    logging.getLogger("yamlcron").setLevel(logging.WARNING)  # main() turned logs on
    if code:
        raise SystemExit(f"yamlcron {' '.join(args)} exited {code}")


def aps_apply(jobs: int, store: str, start: bool = False) -> tuple[float, float, float, float]:
    """Seconds: add N cron jobs and start; the same again (replace); again with 1 % changed;
    and (with ``start``) a fresh process starting a scheduler on that store."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

    times = []
    with tempfile.TemporaryDirectory() as folder:
        for variant in (0, 0, 1):
            started = time.perf_counter()
            scheduler = BackgroundScheduler(
                jobstores={"default": _aps_store(store, Path(folder))}, timezone="UTC"
            )
            for i in range(jobs):
                # A deploy re-declares every job; in the 1 % variant every 100th one differs.
                expr = EXPRESSIONS[(i + (variant and i % 100 == 0)) % 10]
                trigger = CronTrigger.from_crontab(expr, timezone="UTC")
                scheduler.add_job(noop, trigger, id=f"j{i}", replace_existing=True)
            scheduler.start(paused=True)
            times.append(time.perf_counter() - started)
            scheduler.shutdown(wait=False)
        times.append(_aps_ready(Path(folder) / "aps.db") if start else float("nan"))
    return times[0], times[1], times[2], times[3]


APS_START_CHILD = """
import sys
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
store = SQLAlchemyJobStore(url='sqlite:///' + sys.argv[1])
scheduler = BackgroundScheduler(jobstores={'default': store}, timezone='UTC')
scheduler.start()
print('ready', flush=True)
scheduler.shutdown(wait=False)
"""


def _aps_ready(database: Path) -> float:
    """Seconds from starting a process to its APScheduler having started on ``database``."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", APS_START_CHILD, str(database)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    try:
        if child.stdout.readline().strip() != "ready":
            raise SystemExit(f"APScheduler did not start (exit {child.wait()})")
        return time.perf_counter() - started
    finally:
        child.wait(60)


# -- next fire, memory, idle, subprocess ------------------------------------------------------


def next_fires_per_second(ours: bool, seconds: float = 1.0) -> float:
    tz = zone("Europe/Berlin")
    rates = []
    for expr in EXPRESSIONS:
        moment = datetime(2026, 1, 1, tzinfo=tz)
        count = 0
        started = time.perf_counter()
        if ours:
            schedule = CronSchedule(expr, tz, None, None)
            while time.perf_counter() - started < seconds / len(EXPRESSIONS):
                found = schedule.next_fire(moment)
                moment = found or moment
                count += 1
        else:
            iterator = croniter(expr, moment, ret_type=datetime)
            while time.perf_counter() - started < seconds / len(EXPRESSIONS):
                iterator.get_next()
                count += 1
        rates.append(count / (time.perf_counter() - started))
    return statistics.geometric_mean(rates)


MEMORY_CHILD = """
import gc, json, sys, tempfile, time
from pathlib import Path
jobs, system, exprs = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * 4096
gc.collect(); base = rss()
if system == 'yamlcron':
    from yamlcron import Yamlcron
    from yamlcron.registry import build_registry
    folder = Path(tempfile.mkdtemp())
    body = ''.join(
        "  j%d: {trigger: {cron: '%s'}, run: {shell: 'echo'}}\\n" % (i, exprs[i % 10])
        for i in range(jobs))
    (folder / 'jobs.yaml').write_text('version: 1\\njobs:\\n' + body)
    Yamlcron(folder / 'jobs.yaml', registry=build_registry(autoload=False)).start()
else:
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger
    s = BackgroundScheduler(timezone='UTC')
    for i in range(jobs):
        s.add_job(print, CronTrigger.from_crontab(exprs[i % 10], timezone='UTC'), id='j%d' % i)
    s.start()
time.sleep(1)
gc.collect()
print(rss() - base)
"""


def memory_per_job(jobs: int, system: str) -> float:
    """Resident bytes per job of a running scheduler: the growth from N/10 to N jobs."""

    def rss(count: int) -> int:
        done = subprocess.run(
            [sys.executable, "-c", MEMORY_CHILD, str(count), system, json.dumps(EXPRESSIONS)],
            capture_output=True,
            text=True,
            check=True,
        )
        return int(done.stdout.strip().splitlines()[-1])

    small = jobs // 10
    return (rss(jobs) - rss(small)) / (jobs - small)


def idle_cpu(seconds: float, system: str) -> float:
    """CPU seconds used by a scheduler with 1,000 cron jobs due hours later.

    ``system``: ``yamlcron`` (the Python API's background thread, as APScheduler's
    BackgroundScheduler), ``yamlcron run`` (the daemon, watching its manifest) or
    ``apscheduler``.
    """
    hour = (datetime.now(UTC) + timedelta(hours=3)).hour
    folder = Path(tempfile.mkdtemp())
    body = "".join(
        f"  j{i}: {{trigger: {{cron: '{i % 60} {hour} * * *'}}, run: {{shell: 'true'}}}}\n"
        for i in range(1000)
    )
    (folder / "jobs.yaml").write_text("version: 1\njobs:\n" + body)
    child = f"""
import sys, time
from pathlib import Path
if sys.argv[1] == 'yamlcron':
    from yamlcron import Yamlcron
    from yamlcron.registry import build_registry
    Yamlcron(Path('jobs.yaml'), registry=build_registry(autoload=False)).start()
else:
    from apscheduler.schedulers.background import BackgroundScheduler
    s = BackgroundScheduler(timezone='UTC')
    for i in range(1000):
        s.add_job(print, 'cron', minute=i % 60, hour={hour}, id=f'j{{i}}')
    s.start()
print('ready', file=sys.stderr, flush=True)
time.sleep(3600)
"""
    command = (
        [sys.executable, "-m", "yamlcron", "run", "-f", "jobs.yaml"]
        if system == "yamlcron run"
        else [sys.executable, "-c", child, system]
    )
    proc = subprocess.Popen(command, cwd=folder, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    proc.stderr.readline()  # the daemon's first log line comes once it has applied
    time.sleep(2)
    before = _cpu(proc.pid)
    time.sleep(seconds)
    used = _cpu(proc.pid) - before
    proc.kill()
    proc.wait()
    shutil.rmtree(folder)
    return used


def _cpu(pid: int) -> float:
    """CPU seconds of a process's threads, to the nanosecond (schedstat): the 10 ms clock
    ticks of /proc/PID/stat round an idle daemon's few milliseconds to 0 or 0.01."""
    return (
        sum(
            int(task.joinpath("schedstat").read_text().split()[0])
            for task in Path(f"/proc/{pid}/task").iterdir()
        )
        / 1e9
    )


def subprocess_rate(count: int, ours: bool) -> float:
    if not ours:
        started = time.perf_counter()
        for _ in range(count):
            subprocess.run(["/bin/true"], capture_output=True, check=False)
        return count / (time.perf_counter() - started)
    registry = build_registry(autoload=False)
    folder = Path(tempfile.gettempdir())
    text = "version: 1\njobs:\n  t: {trigger: {cron: '@daily'}, run: {command: ['/bin/true']}}\n"
    spec = parse_manifest(text, folder / "jobs.yaml").jobs["t"]
    executor, cancel = registry.executor("subprocess"), threading.Event()
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
                env={},
            )
        )
    return count / (time.perf_counter() - started)


# -- the table ------------------------------------------------------------------------------


WORKLOADS = ["lateness", "burst", "apply", "next-fire", "subprocess", "memory", "idle"]
#: Not in the default run: yamlcron's store in memory against APScheduler's, what a durable
#: record costs a fire (bench/README.md, "What durability costs").
EXTRA = ["lateness-in-memory"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="short windows and small sizes")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--only",
        nargs="+",
        choices=WORKLOADS + EXTRA,
        default=WORKLOADS,
        help="run these workloads only (default: all)",
    )
    parser.add_argument(
        "--rates",
        nargs="+",
        type=int,
        help="fires per second of the lateness workload (default: 100 1000 10000): "
        "rates above 10,000 show how much headroom that target has on this machine",
    )
    options = parser.parse_args()
    only = set(options.only)
    quick = options.quick
    window = 5.0 if quick else 20.0
    rates = options.rates or ([100, 1000] if quick else [100, 1000, 10000])
    sizes = [1000] if quick else [1000, 10000]
    # Adding 100,000 jobs to APScheduler's SQLite store takes minutes a variant: once a run.
    large = [] if quick else [100000]
    memory_sizes = [1000] if quick else [10000, 100000]
    rows: dict[tuple[str, str], tuple[list[float], list[float]]] = {}

    def add(name: str, unit: str, ours: float, theirs: float) -> None:
        mine, peer = rows.setdefault((name, unit), ([], []))
        mine.append(ours)
        peer.append(theirs)

    for rep in range(options.repeat):
        print(f"repetition {rep + 1}/{options.repeat}", file=sys.stderr)
        for n in rates if "lateness" in only else []:
            ours = fresh(yamlcron_lateness, n, window)
            for store in ("memory", "sqlite"):
                theirs = fresh(aps_lateness, n, window, store)
                label = f"lateness {n}/s, APS {store}"
                add(f"{label}: p50", "ms", ours[0], theirs[0])  # yamlcron: SQLite store
                add(f"{label}: p99", "ms", ours[1], theirs[1])
                add(f"{label}: missed", "%", 100 * ours[2], 100 * theirs[2])
                add(f"{label}: CPU a fire", "µs", ours[3], theirs[3])
        for n in rates if "lateness-in-memory" in only else []:
            # Interleaved: the file store, the store in memory, APScheduler's memory store.
            durable = fresh(yamlcron_lateness, n, window)
            in_memory = fresh(yamlcron_lateness, n, window, True)
            theirs = fresh(aps_lateness, n, window, "memory")
            for label, ours in (("file", durable), ("in memory", in_memory)):
                name = f"lateness {n}/s, yamlcron {label}, APS memory"
                add(f"{name}: p99", "ms", ours[1], theirs[1])
                add(f"{name}: missed", "%", 100 * ours[2], 100 * theirs[2])
                add(f"{name}: CPU a fire", "µs", ours[3], theirs[3])
        for n in [10000] if "burst" in only else []:
            ours_burst = fresh(yamlcron_burst, n)
            for store in ("memory", "sqlite"):
                theirs_burst = fresh(aps_burst, n, store)
                label = f"burst of {n}, APS {store}"
                add(f"{label}: last start", "s", ours_burst[0], theirs_burst[0])
                add(f"{label}: last end recorded", "s", ours_burst[1], theirs_burst[1])
                add(f"{label}: missed", "%", 100 * ours_burst[2], 100 * theirs_burst[2])
        for n in sizes + (large if rep == 0 else []) if "apply" in only else []:
            ours_apply = fresh(yamlcron_apply, n, n in large)
            theirs_apply = fresh(aps_apply, n, "sqlite", n in large)
            for i, what in enumerate(("cold", "re-apply same", "1% changed")):
                add(
                    f"apply {n} cron jobs, {what} (APS sqlite)", "s", ours_apply[i], theirs_apply[i]
                )
            if n in large:
                add(f"start with {n} jobs stored (APS sqlite)", "s", ours_apply[3], theirs_apply[3])
        if "next-fire" in only:
            add(
                "next fire/s (croniter bare as peer)",
                "/s",
                next_fires_per_second(True),
                next_fires_per_second(False),
            )
        if "subprocess" in only:
            add(
                "subprocess /bin/true (bare run as peer)",
                "/s",
                subprocess_rate(200, True),
                subprocess_rate(200, False),
            )
        for n in memory_sizes if "memory" in only else []:
            add(
                f"memory per job at {n} (APS memory)",
                "B",
                memory_per_job(n, "yamlcron"),
                memory_per_job(n, "apscheduler"),
            )
        idle = 10.0 if quick else 30.0
        if "idle" in only:
            theirs_idle = idle_cpu(idle, "apscheduler")
            add(
                f"idle CPU in {idle:.0f} s, 1000 jobs (API)",
                "s",
                idle_cpu(idle, "yamlcron"),
                theirs_idle,
            )
            add(
                f"idle CPU in {idle:.0f} s, 1000 jobs (yamlcron run)",
                "s",
                idle_cpu(idle, "yamlcron run"),
                theirs_idle,
            )
        gc.collect()
    print(
        f"yamlcron vs APScheduler 3 (python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"{options.repeat} repetitions, median [min-max])"
    )
    print(f"| {'workload':<48} | {'unit':<4} | {'yamlcron':<24} | {'APScheduler':<24} | ratio |")
    print(f"|{'-' * 50}|------|{'-' * 26}|{'-' * 26}|-------|")
    for (name, unit), (mine, peer) in rows.items():
        ratio = (
            statistics.median(mine) / statistics.median(peer)
            if statistics.median(peer)
            else float("nan")
        )
        print(f"| {name:<48} | {unit:<4} | {_cell(mine):<24} | {_cell(peer):<24} | {ratio:5.2f} |")
    print(
        f"(max RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB)"
    )


def fresh(workload: Callable[..., T], *args: Any) -> T:
    """Run one workload in a fresh process: no threads, heap or caches left by the last."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_quiet) as pool:
        return pool.submit(workload, *args).result()


def _quiet() -> None:
    # APScheduler logs each missed fire with a line, and tracebacks when shut down busy.
    logging.getLogger("apscheduler").setLevel(logging.CRITICAL)


def _cell(values: list[float]) -> str:
    return f"{statistics.median(values):.3g} [{min(values):.3g}-{max(values):.3g}]"


if __name__ == "__main__":
    main()
