"""give_way yields the interpreter lock only once an awaited start has come, and not often."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from yamlcron import giveway


@dataclass
class FakeTime:
    """``perf_counter`` as the test sets it; ``sleep`` calls noted."""

    now: float = 100.0
    slept: list[float] = field(default_factory=list)

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTime]:
    fake = FakeTime()
    monkeypatch.setattr(giveway, "time", fake)
    monkeypatch.setattr(giveway, "_last", type(giveway._last)())  # this thread never yielded
    yield fake
    giveway.awaited(None)


def test_nothing_awaited_never_yields(clock: FakeTime) -> None:
    giveway.awaited(None)
    for _ in range(5):
        clock.now += 1.0
        giveway.give_way()
    assert clock.slept == []


def test_a_start_yet_to_come_does_not_yield(clock: FakeTime) -> None:
    giveway.awaited(0.01)
    clock.now += 0.009
    giveway.give_way()
    assert clock.slept == []


def test_a_start_that_came_yields_at_most_once_every_interval(clock: FakeTime) -> None:
    giveway.awaited(0.01)
    clock.now += 0.01
    giveway.give_way()
    assert clock.slept == [0]
    clock.now += giveway.EVERY / 2
    giveway.give_way()  # too soon after the last
    assert clock.slept == [0]
    clock.now += giveway.EVERY / 2
    giveway.give_way()
    assert clock.slept == [0, 0]


def test_the_start_taken_stops_the_yields(clock: FakeTime) -> None:
    giveway.awaited(0.0)
    giveway.give_way()
    giveway.awaited(None)  # the leader has the lock and its work
    clock.now += 1.0
    giveway.give_way()
    assert clock.slept == [0]


def test_giving_way_passes_the_items_on_giving_way_before_each(clock: FakeTime) -> None:
    giveway.awaited(0.0)

    def items() -> Iterator[str]:
        for item in "abc":
            clock.now += giveway.EVERY  # each item a stretch as long as the interval
            yield item

    assert list(giveway.giving_way(items())) == ["a", "b", "c"]
    assert clock.slept == [0, 0, 0]
