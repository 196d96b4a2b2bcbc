"""APScheduler 3's side of bench/fires.py (the ``bench`` extra), run in a fresh process each.

``store``: ``"memory"`` (MemoryJobStore), ``"sqlite"`` (SQLAlchemyJobStore on a file of a
fresh folder) or a SQLAlchemy URL (SQLAlchemyJobStore, e.g. PostgreSQL). A
``BackgroundScheduler`` with its defaults (a pool of 10 threads), a no-op function.
APScheduler 3 records no runs: a run's start is its EXECUTED event (the no-op ends within
microseconds of its start), as in bench/run.py.
"""

from __future__ import annotations

import math
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from run import _pct, add_lateness_jobs, noop
from windows import measure


def _scheduler(store: str, folder: Path) -> Any:
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    if store == "memory":
        jobstore: Any = MemoryJobStore()
    else:
        url = f"sqlite:///{folder / 'aps.db'}" if store == "sqlite" else store
        jobstore = SQLAlchemyJobStore(url=url)
    return BackgroundScheduler(jobstores={"default": jobstore}, timezone="UTC")


class Events:
    """Each executed or missed fire: (scheduled time, when heard, ran)."""

    def __init__(self) -> None:
        self.seen: list[tuple[datetime, datetime, bool]] = []
        self.lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        from apscheduler.events import EVENT_JOB_EXECUTED

        with self.lock:
            self.seen.append(
                (event.scheduled_run_time, datetime.now(UTC), event.code == EVENT_JOB_EXECUTED)
            )


def _listen(scheduler: Any) -> Events:
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED

    events = Events()
    scheduler.add_listener(events, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    return events


def lateness(store: str, jobs: int, warm: float, window: float) -> dict[str, Any]:
    """N interval jobs every second staggered over the second, misfire grace 1 s: p50/p99 ms,
    missed share and CPU µs per fire (this process's CPU over the window / fires run).

    The window opens ``warm`` s after ``start()`` returned and the first fire time came.
    """
    with tempfile.TemporaryDirectory() as folder:
        setup = time.perf_counter()
        scheduler = _scheduler(store, Path(folder))
        events = _listen(scheduler)
        first = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)
        add_lateness_jobs(scheduler, jobs, first)
        scheduler.start()
        setup = time.perf_counter() - setup
        start, end, cpu, busy = measure(first, warm, window, time.process_time)
        scheduler.shutdown(wait=True)
    with events.lock:
        late = [
            (heard - at).total_seconds() * 1000
            for at, heard, ran in events.seen
            if ran and start <= at < end
        ]
    return {
        "p50": _pct(late, 0.5),
        "p99": _pct(late, 0.99),
        "missed": 1 - len(late) / (jobs * window),
        "cpu_us": cpu / len(late) * 1e6 if late else float("nan"),
        "busy": busy,
        "setup": setup,
    }


def burst(store: str, jobs: int, lead: float, grace: float) -> dict[str, Any]:
    """N jobs due at one instant ``lead`` s ahead: seconds to the last start, and how many did
    not run (``last_record`` is None: APScheduler 3 keeps no record of a run)."""
    with tempfile.TemporaryDirectory() as folder:
        setup = time.perf_counter()
        scheduler = _scheduler(store, Path(folder))
        events = _listen(scheduler)
        # A whole second, which the store's microseconds hold exactly (no float rounding).
        instant = (datetime.now(UTC) + timedelta(seconds=lead + 1)).replace(microsecond=0)
        for i in range(jobs):
            scheduler.add_job(
                noop,
                "interval",
                hours=1,
                id=f"b{i}",
                misfire_grace_time=math.ceil(grace),  # whole seconds only
                start_date=instant,
            )
        # Added before start(), the jobs are stored by start() (as in the lateness workload,
        # whose setup gave the lead); added to a started scheduler, each wakes it up.
        scheduler.start()
        setup = time.perf_counter() - setup
        if datetime.now(UTC) > instant - timedelta(seconds=0.3):
            scheduler.shutdown(wait=False)
            return {"not_ready": setup}
        deadline = instant + timedelta(seconds=grace + 2)
        while datetime.now(UTC) < deadline and len(events.seen) < jobs:
            time.sleep(0.05)
        scheduler.shutdown(wait=True)
    with events.lock:
        ran = [heard for at, heard, ok in events.seen if ok and at == instant]
    return {
        "last_start": (max(ran) - instant).total_seconds() if ran else None,
        "last_record": None,
        "missed": jobs - len(ran),
        "setup": setup,
    }
