"""The worker pool: work now, or held until its start and run by the thread that waited for it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.clock import FakeClock
from yamlcron.scheduler import pool as pool_module
from yamlcron.scheduler.pool import WorkerPool

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MS = timedelta(milliseconds=1)


class Seen:
    """What ran, in order, and on which thread."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.threads: list[str] = []
        self.lock = threading.Lock()
        self.count = threading.Semaphore(0)

    def work(self, name: str, before: Callable[[], None] = lambda: None) -> Callable[[], None]:
        def run() -> None:
            before()
            with self.lock:
                self.names.append(name)
                self.threads.append(threading.current_thread().name)
            self.count.release()

        return run

    def wait(self, count: int) -> None:
        for _ in range(count):
            assert self.count.acquire(timeout=10)


@pytest.fixture
def clock() -> FakeClock:
    """Stands at T0 until moved: work held for T0 or before is due."""
    return FakeClock(T0)


@pytest.fixture
def pool(clock: FakeClock) -> Iterator[WorkerPool]:
    """Four threads on ``clock``."""
    pool = WorkerPool(4, clock, name="test-pool")
    yield pool
    pool.shutdown()
    deadline = time.monotonic() + 10
    while _threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _threads()


def _threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("test-pool")]


def test_quick_work_runs_in_start_order_on_the_thread_that_waited_for_it(
    pool: WorkerPool, clock: FakeClock
) -> None:
    seen = Seen()
    for i in (3, 1, 2, 0):
        pool.submit_at(T0 + (i + 1) * MS, seen.work(f"q{i}"), quick=True)
    clock.now = T0 + 10 * MS  # the leader looks again within a millisecond: all are due
    seen.wait(4)
    assert seen.names == ["q0", "q1", "q2", "q3"]
    assert len(set(seen.threads)) == 1  # one leader ran them one after another


def test_whether_work_is_quick_is_asked_at_its_start(
    pool: WorkerPool, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool_module, "WATCH", 60.0)  # no watcher to make up for a leader stuck
    seen, slow_running, release = Seen(), threading.Event(), threading.Event()
    quick_now = [True]  # said when handed in, no longer so at its start

    def slow() -> None:
        slow_running.set()
        assert release.wait(10)

    pool.submit_at(T0 + MS, seen.work("slow", slow), quick=lambda: quick_now[0])
    quick_now[0] = False
    clock.now = T0 + 2 * MS
    assert slow_running.wait(10)
    pool.submit_at(T0 + MS, seen.work("next"), quick=True)
    seen.wait(1)  # not run in turn after the slow one: the lead was handed on
    assert seen.names == ["next"]
    release.set()
    seen.wait(1)


def test_work_that_is_not_quick_hands_the_lead_on_so_the_next_start_is_kept(
    pool: WorkerPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool_module, "WATCH", 60.0)  # no watcher to make up for a leader stuck
    seen, slow_running, release = Seen(), threading.Event(), threading.Event()

    def slow() -> None:
        slow_running.set()
        assert release.wait(10)

    pool.submit_at(T0 - 2 * MS, seen.work("slow", slow))
    assert slow_running.wait(10)
    pool.submit_at(T0 - MS, seen.work("next"), quick=True)
    seen.wait(1)  # while the slow one still runs
    assert seen.names == ["next"]
    release.set()
    seen.wait(1)


def test_quick_work_that_turns_out_slow_loses_the_lead_to_the_watcher(pool: WorkerPool) -> None:
    seen, stuck, release = Seen(), threading.Event(), threading.Event()

    def turns_slow() -> None:
        stuck.set()
        assert release.wait(10)

    pool.submit_at(T0 - 2 * MS, seen.work("surprise", turns_slow), quick=True)
    assert stuck.wait(10)
    pool.submit_at(T0 - MS, seen.work("after"), quick=True)
    seen.wait(1)  # the watcher took the lead: not after the surprise ends
    assert seen.names == ["after"]
    release.set()
    seen.wait(1)


def test_work_held_for_later_waits_and_release_hands_it_out_in_time_order(
    pool: WorkerPool,
) -> None:
    seen = Seen()
    pool.submit_at(T0 + timedelta(hours=2), seen.work("b"))
    pool.submit_at(T0 + timedelta(hours=1), seen.work("a"))
    pool.submit(seen.work("now"))
    seen.wait(1)
    assert seen.names == ["now"]  # the others wait for their hour
    pool.release_held()
    pool.submit_at(T0 + timedelta(hours=3), seen.work("c"))  # released: at once
    seen.wait(3)
    assert seen.names[0] == "now"
    assert sorted(seen.names[1:]) == ["a", "b", "c"]


def test_work_submitted_after_shutdown_runs_on_the_caller(pool: WorkerPool) -> None:
    seen = Seen()
    pool.shutdown()
    pool.submit(seen.work("late"))
    assert seen.threads == [threading.current_thread().name]
