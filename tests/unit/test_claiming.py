"""Runs claimed ahead of their start: held in time order, handed out at their time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from yamlcron.scheduler.claiming import Held, Starter

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def note(seen: list[str], name: str) -> Callable[[], None]:
    return lambda: seen.append(name)


def test_held_work_is_taken_in_time_order_then_in_the_order_held() -> None:
    held, seen = Held(), list[str]()
    held.hold(T0 + timedelta(milliseconds=20), note(seen, "c"))
    held.hold(T0 + timedelta(milliseconds=10), note(seen, "a"))
    held.hold(T0 + timedelta(milliseconds=10), note(seen, "b"))  # same time: after a
    held.hold(T0 + timedelta(milliseconds=30), note(seen, "d"))
    assert held.next_at() == T0 + timedelta(milliseconds=10)
    assert held.take(T0) == []
    for work in held.take(T0 + timedelta(milliseconds=20)):
        work()
    assert seen == ["a", "b", "c"]
    assert (len(held), held.next_at()) == (1, T0 + timedelta(milliseconds=30))
    for work in held.drain():
        work()
    assert seen == ["a", "b", "c", "d"]
    assert (len(held), held.next_at(), held.drain()) == (0, None, [])


class ListPool:
    """Takes work and runs it at once, on the thread that hands it in."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.ran = threading.Event()

    def submit(self, work: Callable[[], None]) -> None:
        work()
        self.ran.set()

    def shutdown(self) -> None:
        pass


def test_the_starter_hands_out_what_is_due_by_its_clock() -> None:
    pool = ListPool()
    starter = Starter(pool, clock=lambda: T0)
    try:
        starter.hold(T0 - timedelta(milliseconds=1), note(pool.seen, "due"))
        assert pool.ran.wait(10)  # by the starter's thread, the start being past
        starter.hold(T0 + timedelta(hours=1), note(pool.seen, "later"))
        assert pool.seen == ["due"]
    finally:
        starter.close()
    assert pool.seen == ["due", "later"]  # closing hands out what is held


def test_closing_hands_out_everything_in_time_order_and_then_at_once() -> None:
    pool = ListPool()
    starter = Starter(pool, clock=lambda: T0)
    starter.hold(T0 + timedelta(hours=2), note(pool.seen, "b"))
    starter.hold(T0 + timedelta(hours=1), note(pool.seen, "a"))
    starter.close()
    assert pool.seen == ["a", "b"]
    starter.hold(T0 + timedelta(hours=3), note(pool.seen, "c"))  # closed: no thread waits
    assert pool.seen == ["a", "b", "c"]
    assert not [t for t in threading.enumerate() if t.name == "yamlcron-starter"]
