"""The measuring window shared by bench/fires.py's workloads (bench/aps4.py has its own:
it runs in another venv, without this folder's modules)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


def opens(first: datetime, warm: float) -> datetime:
    """``warm`` s after both the system being ready (now) and its first fire time."""
    return max(datetime.now(UTC), first) + timedelta(seconds=warm)


def sleep_until(moment: datetime) -> None:
    time.sleep(max((moment - datetime.now(UTC)).total_seconds(), 0))
