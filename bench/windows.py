"""The measuring window shared by bench/fires.py's workloads (standard library only: bench/aps4.py
imports it in APScheduler 4's venv)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path


def opens(first: datetime, warm: float) -> datetime:
    """``warm`` s after both the system being ready (now) and its first fire time."""
    return max(datetime.now(UTC), first) + timedelta(seconds=warm)


def sleep_until(moment: datetime) -> None:
    time.sleep(max((moment - datetime.now(UTC)).total_seconds(), 0))


def machine() -> tuple[int, int]:
    """Clock ticks the machine's cores spent busy, and in all, so far (``/proc/stat``)."""
    # user nice system idle iowait irq softirq steal: guest time is counted in user already.
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


def measure(
    first: datetime, warm: float, window: float, cpu: Callable[[], float]
) -> tuple[datetime, datetime, float, float]:
    """The window (``opens``, ``window`` s long), the CPU seconds ``cpu()`` grew by over it,
    and the share of the machine's cores busy meanwhile (every process, a database server's
    too: 1.0 is all of them); returns 1.2 s after its end, so that its last runs are
    recorded."""
    start = opens(first, warm)
    end = start + timedelta(seconds=window)
    sleep_until(start)
    used, (busy, total) = cpu(), machine()
    sleep_until(end)
    used = cpu() - used
    after_busy, after_total = machine()
    sleep_until(end + timedelta(seconds=1.2))
    return start, end, used, (after_busy - busy) / max(after_total - total, 1)


def too_slow(began: float, done: int, total: int, instant: datetime) -> float | None:
    """The seconds a setup that began at ``began`` (perf_counter) is projected to take, if at
    its pace so far (``done`` of ``total``) it would not end 0.5 s before ``instant``: a burst
    set up too late gives up early rather than at the end, and tries again with more lead."""
    elapsed = time.perf_counter() - began
    projected = elapsed * total / done
    end = datetime.now(UTC) + timedelta(seconds=projected - elapsed)
    return projected if end > instant - timedelta(seconds=0.5) else None
