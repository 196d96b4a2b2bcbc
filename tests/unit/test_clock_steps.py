"""The wall clock set back or forward under a running scheduler (SPEC §5), on a fake clock.

Set back past ``firing.STEP_BACK``, schedules re-anchor at the new time, so frequent jobs
keep running as under cron, and no fire already recorded runs again. Set forward past the
catch-up cap, the fire times beyond it are one ``missed`` record with their count.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from tests.unit.test_scheduler import T0, Harness, harness, job
from yamlcron.runs import RunStatus

__all__ = ["harness"]  # the fixture, used by name

M = timedelta(minutes=1)


def test_minutely_jobs_keep_running_after_the_clock_goes_back_an_hour(
    harness: Callable[..., Harness],
) -> None:
    h = harness(job("a", "{cron: '* * * * *'}"))
    for minute in range(1, 11):
        h.tick(T0 + minute * M)
    assert len(h.statuses()) == 10
    back = T0 + 10 * M - timedelta(hours=1)
    h.tick(back + timedelta(seconds=30))  # 11:10:30: the clock was set back an hour
    for minute in range(1, 4):
        h.tick(back + minute * M)
    assert h.statuses()[10:] == [
        ("11:11:00", "success"),
        ("11:12:00", "success"),
        ("11:13:00", "success"),
    ]


def test_a_fire_already_recorded_is_not_repeated_after_the_clock_goes_back(
    harness: Callable[..., Harness],
) -> None:
    h = harness(job("daily", "{cron: '5 12 * * *'}") + job("often", "{cron: '* * * * *'}"))
    for minute in range(1, 11):
        h.tick(T0 + minute * M)
    h.tick(T0 + 10 * M - timedelta(hours=1))
    for minute in range(1, 61):  # the hour again, up to 12:10 once more
        h.tick(T0 + 10 * M - timedelta(hours=1) + minute * M)
    assert h.statuses("daily") == [("12:05:00", "success")]  # not twice
    often = h.statuses("often")
    assert len(often) == len(set(often)) == 60  # 12:01-12:10, then 11:11-12:00: no repeat
    assert h.store.load_jobs()["daily"].next_run_at == T0 + timedelta(days=1, minutes=5)


def test_past_the_catch_up_cap_a_clock_set_forward_records_the_rest_as_one(
    harness: Callable[..., Harness],
) -> None:
    h = harness(job("a", "{interval: 10s}"))
    h.tick(T0 + timedelta(hours=3))  # 1,080 fire times came at once
    runs = h.runs()
    assert len(runs) == 100  # the newest `history`
    *_, beyond, last = runs
    assert (last.scheduled_at, last.status) == (T0 + timedelta(hours=3), RunStatus.SUCCESS)
    assert beyond.status == RunStatus.MISSED
    assert beyond.scheduled_at == T0 + timedelta(seconds=10_010)
    assert beyond.error is not None
    assert beyond.error.message.startswith("79 fire times from 2026-11-23T14:46:50+00:00 to ")
