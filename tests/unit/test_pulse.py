"""The loop's pulse: alive while resting or in a young pass, stuck in a long one."""

from __future__ import annotations

from yamlcron.scheduler.pulse import Pulse


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_resting_loop_is_alive_however_long_it_sleeps() -> None:
    clock = FakeMonotonic()
    pulse = Pulse(clock)
    pulse.passing()
    pulse.resting()
    clock.now += 86_400
    assert pulse.alive(stuck_after=60)
    assert pulse.stuck_for() == 0.0


def test_a_pass_longer_than_the_bound_is_stuck_and_the_next_rest_heals_it() -> None:
    clock = FakeMonotonic()
    pulse = Pulse(clock)
    pulse.passing()
    clock.now += 30
    assert pulse.alive(stuck_after=60)
    clock.now += 31
    assert not pulse.alive(stuck_after=60)
    assert pulse.stuck_for() == 61
    pulse.resting()
    assert pulse.alive(stuck_after=60)
    assert pulse.beats == 1


def test_a_stopped_loop_is_not_alive() -> None:
    pulse = Pulse(FakeMonotonic())
    pulse.stopped = True
    assert not pulse.alive(stuck_after=60)
