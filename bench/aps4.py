"""APScheduler 4's side of bench/fires.py, in a virtual environment of its own.

APScheduler 3 and 4 share the package name ``apscheduler``, so 4 cannot be installed beside
the ``bench`` extra. :func:`interpreter` makes (once) and reuses a venv under
``~/.cache/yamlcron-bench`` (``$XDG_CACHE_HOME`` if set) with the latest 4.x pre-release;
:func:`measure` runs this file there as a script, which prints its figures as one line of
JSON. The script imports nothing of yamlcron's and nothing of the project's venv.

    python bench/aps4.py '{"workload": "lateness", "url": null, "jobs": 1000, ...}'
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

# sniffio: 4.0.0a6's SQLAlchemy data store imports it without declaring it (anyio 4.5 dropped it).
# psycopg: the driver yamlcron uses too (SQLAlchemy's async engine drives it).
REQUIREMENTS = ("apscheduler[sqlalchemy]>=4.0.0a1", "psycopg[binary]>=3.2.1", "sniffio")


def venv() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "yamlcron-bench" / "apscheduler4"


def interpreter() -> Path:
    """The venv's python, made with the latest APScheduler 4 pre-release if not there yet.

    A stamp of the requirements marks a finished install: an interrupted one, or a list
    that changed since, installs again.
    """
    python, stamp = venv() / "bin" / "python", venv() / "requirements.txt"
    wanted = "\n".join(REQUIREMENTS)
    if not stamp.exists() or stamp.read_text() != wanted:
        print(f"installing APScheduler 4 into {venv()}", file=sys.stderr)
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv())], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--pre", "-U", *REQUIREMENTS], check=True
        )
        stamp.write_text(wanted)
    return python


def version() -> str:
    done = subprocess.run(
        [
            str(interpreter()),
            "-c",
            "from importlib.metadata import version as v; print(v('apscheduler'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def measure(workload: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
    """Run one workload in a fresh APScheduler 4 process; its figures as a dict."""
    done = subprocess.run(
        [str(interpreter()), __file__, json.dumps(workload)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(
            f"APScheduler 4 {workload['workload']}: exit {done.returncode}: {tail[0]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# -- the child, in APScheduler 4's venv ---------------------------------------------------


def noop() -> None:
    """The job (a task referenced as ``__main__:noop``)."""


def _scheduler(url: str | None) -> Any:
    """An AsyncScheduler (4's own API; its sync Scheduler is a thread around it) that runs
    sync jobs on its thread pool, as the sync Scheduler does and as yamlcron and
    APScheduler 3 run callables."""
    from apscheduler import AsyncScheduler, TaskDefaults
    from apscheduler.datastores.memory import MemoryDataStore

    defaults = TaskDefaults(job_executor="threadpool")
    if url is None:
        return AsyncScheduler(MemoryDataStore(), task_defaults=defaults)
    from apscheduler.datastores.sqlalchemy import SQLAlchemyDataStore

    return AsyncScheduler(SQLAlchemyDataStore(url), task_defaults=defaults)


async def _add(
    scheduler: Any, schedules: list[tuple[str, Any]], grace: float, instant: datetime | None = None
) -> float | None:
    """Add the schedules a few at a time (one by one, 10,000 take minutes on PostgreSQL).

    With ``instant``: stop once the adding is projected to end too late for it, and return
    the seconds it would have taken (bench/windows.py).
    """
    import anyio
    from windows import too_slow

    limit, began = anyio.CapacityLimiter(8), time.perf_counter()

    async def add(name: str, trigger: Any) -> None:
        async with limit:
            await scheduler.add_schedule(noop, trigger, id=name, misfire_grace_time=grace)

    for at in range(0, len(schedules), 200):
        async with anyio.create_task_group() as group:
            for name, trigger in schedules[at : at + 200]:
                group.start_soon(add, name, trigger)
        done = min(at + 200, len(schedules))
        if instant and (projected := too_slow(began, done, len(schedules), instant)):
            return projected
    return None


class Released:
    """Collects JobReleased events: scheduled start, actual start, release time, outcome."""

    def __init__(self) -> None:
        self.events: list[tuple[datetime, datetime | None, datetime, bool]] = []
        self.lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        from apscheduler import JobOutcome

        ok = event.outcome is JobOutcome.success
        with self.lock:
            self.events.append((event.scheduled_start, event.started_at, event.timestamp, ok))


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


async def lateness(url: str | None, jobs: int, warm: float, window: float) -> dict[str, Any]:
    """N interval jobs every second staggered over the second: p50/p99 ms, missed, CPU µs/fire.

    The window opens ``warm`` s after the scheduler has started and its first fire time.
    """
    from apscheduler import JobReleased
    from apscheduler.triggers.interval import IntervalTrigger
    from windows import machine

    setup = time.perf_counter()
    released = Released()
    first = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)
    async with _scheduler(url) as scheduler:
        scheduler.subscribe(released, {JobReleased})
        triggers = [
            (f"j{i}", IntervalTrigger(seconds=1, start_time=first + timedelta(seconds=i / jobs)))
            for i in range(jobs)
        ]
        await _add(scheduler, triggers, 1)
        await scheduler.start_in_background()
        setup = time.perf_counter() - setup
        window_start = max(datetime.now(UTC), first) + timedelta(seconds=warm)
        window_end = window_start + timedelta(seconds=window)
        await _sleep_until(window_start)
        cpu, (busy, total) = time.process_time(), machine()
        await _sleep_until(window_end)
        cpu = time.process_time() - cpu
        after_busy, after_total = machine()
        await _sleep_until(window_end + timedelta(seconds=1.2))  # the last fires are released
        await scheduler.stop()
        await scheduler.wait_until_stopped()
    with released.lock:
        late = [
            (started - at).total_seconds() * 1000
            for at, started, _, ok in released.events
            if ok and started and window_start <= at < window_end
        ]
    return {
        "p50": _pct(late, 0.5),
        "p99": _pct(late, 0.99),
        "missed": 1 - len(late) / (jobs * window),
        "cpu_us": cpu / len(late) * 1e6 if late else float("nan"),
        "busy": (after_busy - busy) / max(after_total - total, 1),
        "setup": setup,
    }


async def burst(url: str | None, jobs: int, lead: float, grace: float) -> dict[str, Any]:
    """N jobs due at one instant ``lead`` s ahead: seconds to the last start and to the last
    release (the data store's record of the run), and how many did not run."""
    from apscheduler import JobReleased
    from apscheduler.triggers.interval import IntervalTrigger

    setup = time.perf_counter()
    released = Released()
    instant = (datetime.now(UTC) + timedelta(seconds=lead + 1)).replace(microsecond=0)
    async with _scheduler(url) as scheduler:
        scheduler.subscribe(released, {JobReleased})
        # A trigger keeps its last fire time: one each, not one shared.
        triggers = [(f"b{i}", IntervalTrigger(hours=1, start_time=instant)) for i in range(jobs)]
        if projected := await _add(scheduler, triggers, grace, instant):
            return {"not_ready": projected}
        await scheduler.start_in_background()
        setup = time.perf_counter() - setup
        if datetime.now(UTC) > instant - timedelta(seconds=0.3):
            await scheduler.stop()
            return {"not_ready": setup}
        deadline = instant + timedelta(seconds=grace + 2)
        while datetime.now(UTC) < deadline and len(released.events) < jobs:
            await _sleep_until(datetime.now(UTC) + timedelta(seconds=0.05))
        await scheduler.stop()
        await scheduler.wait_until_stopped()
    with released.lock:
        done = [(started, at) for _, started, at, ok in released.events if ok and started]
    return {
        "last_start": (max(s for s, _ in done) - instant).total_seconds() if done else None,
        "last_record": (max(r for _, r in done) - instant).total_seconds() if done else None,
        "missed": jobs - len(done),
        "setup": setup,
    }


async def _sleep_until(moment: datetime) -> None:
    import anyio

    await anyio.sleep(max((moment - datetime.now(UTC)).total_seconds(), 0))


def main() -> None:
    import logging

    logging.basicConfig(level=logging.CRITICAL)  # a line per missed fire otherwise
    spec = json.loads(sys.argv[1])
    import anyio

    if spec["workload"] == "lateness":
        work = partial(lateness, spec["url"], spec["jobs"], spec["warm"], spec["window"])
    else:
        work = partial(burst, spec["url"], spec["jobs"], spec["lead"], spec["grace"])
    result = anyio.run(work)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
