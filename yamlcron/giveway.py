"""Giving the interpreter lock away in long stretches of work, so that runs start on time.

A run starts on the pool's leader thread when its timer fires (``scheduler.pool``), but
the thread needs the interpreter lock to go on, and CPython hands it over poorly: a thread
that keeps the lock busy, whether in Python or in many short C calls that release it for
microseconds each (every SQLite statement and every row fetched), keeps a waiting thread
out for as long as it goes on, whatever ``sys.setswitchinterval`` says. On the 2-core
machine of bench/README.md, a thread woken 1 ms ahead waited up to the whole 6 ms of
another thread's busy stretch (p99 3-6 ms, switch interval 0.2 or 5 ms alike), and 0.4 ms
(p99) when that thread called ``time.sleep(0)`` every 0.3 ms.

The loop's passes and the recorder's transactions are such stretches: they call
``give_way`` between their steps and their rows (``giving_way`` around a loop in code that
knows no lock, such as ``firing.decide``), and it yields only when the leader's start has
come (``awaited``) and not within ``EVERY`` of the last yield. In a burst the leader runs work
back to back and waits for no timer, so nothing yields and nothing is slowed.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

#: Least seconds between two yields of one thread: a call sooner costs a clock read.
EVERY = 0.0002

# When a thread waiting for a start wakes (perf_counter); inf: none. One for the process:
# with several schedulers in it, the latest leader's, and a yield more or less is all it costs.
_awaited = math.inf
_last = threading.local()  # .at: when this thread last gave way (perf_counter)


def awaited(delay: float | None) -> None:
    """A thread starts a run in ``delay`` seconds and will want the lock then; None: not."""
    global _awaited
    _awaited = math.inf if delay is None else time.perf_counter() + delay


def give_way() -> None:
    """Let the thread whose start has come have the interpreter lock, if it may want it."""
    now = time.perf_counter()
    if now >= _awaited and now - getattr(_last, "at", 0.0) >= EVERY:
        time.sleep(0)  # the one call that reliably lets a waiting thread in
        _last.at = time.perf_counter()


def giving_way(items: Iterable[T]) -> Iterator[T]:
    """``items``, calling ``give_way`` before each: for a long loop in code that knows no lock."""
    for item in items:
        give_way()
        yield item
