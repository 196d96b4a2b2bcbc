"""Next fire times: cron syntax, DST rules of SPEC §5 in several zones, far-future ends.

The random comparison with an independent reading of SPEC §5 is in test_cron_oracle.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import CliResult
from yamlcron.cronexpr import check_cron
from yamlcron.model import TriggerSpec
from yamlcron.triggers import CronSchedule, schedule_for, zone


def fires(expr: str, tz_name: str, start: datetime, count: int = 4) -> list[str]:
    """The next ``count`` fire times after a local wall time, shown in local time."""
    tz = ZoneInfo(tz_name)
    schedule = CronSchedule(expr, zone(tz_name), None, None)
    moment: datetime | None = start.replace(tzinfo=tz)
    out = []
    for _ in range(count):
        assert moment is not None
        moment = schedule.next_fire(moment)
        assert moment is not None
        out.append(moment.astimezone(tz).strftime("%m-%d %H:%M%z"))
    return out


# (zone, expr, start, expected) — each night named in the issue, both directions.
DST_CASES = [
    # Europe/Berlin: 02:00 -> 03:00 on 2026-03-29; 03:00 -> 02:00 on 2026-10-25.
    (
        "Europe/Berlin",
        "30 2 * * *",
        datetime(2026, 3, 28),
        ["03-28 02:30+0100", "03-29 03:00+0200", "03-30 02:30+0200", "03-31 02:30+0200"],
    ),
    (
        "Europe/Berlin",
        "30 2 * * *",
        datetime(2026, 10, 24),
        ["10-24 02:30+0200", "10-25 02:30+0200", "10-26 02:30+0100", "10-27 02:30+0100"],
    ),
    (
        "Europe/Berlin",
        "0 * * * *",
        datetime(2026, 3, 29, 0, 30),
        ["03-29 01:00+0100", "03-29 03:00+0200", "03-29 04:00+0200", "03-29 05:00+0200"],
    ),
    (
        "Europe/Berlin",
        "0 * * * *",
        datetime(2026, 10, 25, 0, 30),
        ["10-25 01:00+0200", "10-25 02:00+0200", "10-25 02:00+0100", "10-25 03:00+0100"],
    ),
    (
        "Europe/Berlin",
        "*/30 */1 * * *",
        datetime(2026, 10, 25, 1, 45),
        ["10-25 02:00+0200", "10-25 02:30+0200", "10-25 02:00+0100", "10-25 02:30+0100"],
    ),
    # A fixed hour with a minute step: the skipped hour fires once, the repeated hour once.
    (
        "Europe/Berlin",
        "*/15 2 * * *",
        datetime(2026, 3, 29),
        ["03-29 03:00+0200", "03-30 02:00+0200", "03-30 02:15+0200", "03-30 02:30+0200"],
    ),
    (
        "Europe/Berlin",
        "*/20 2 * * *",
        datetime(2026, 10, 25, 1),
        ["10-25 02:00+0200", "10-25 02:20+0200", "10-25 02:40+0200", "10-26 02:00+0100"],
    ),
    # America/New_York: 2026-03-08 and 2026-11-01.
    (
        "America/New_York",
        "30 2 * * *",
        datetime(2026, 3, 7),
        ["03-07 02:30-0500", "03-08 03:00-0400", "03-09 02:30-0400", "03-10 02:30-0400"],
    ),
    (
        "America/New_York",
        "30 1 * * *",
        datetime(2026, 10, 31),
        ["10-31 01:30-0400", "11-01 01:30-0400", "11-02 01:30-0500", "11-03 01:30-0500"],
    ),
    (
        "America/New_York",
        "0 * * * *",
        datetime(2026, 11, 1, 0, 30),
        ["11-01 01:00-0400", "11-01 01:00-0500", "11-01 02:00-0500", "11-01 03:00-0500"],
    ),
    # Australia/Lord_Howe: a 30-minute shift (02:00 -> 02:30 on 2026-10-04; back on 04-05).
    (
        "Australia/Lord_Howe",
        "15 2 * * *",
        datetime(2026, 10, 3),
        ["10-03 02:15+1030", "10-04 02:30+1100", "10-05 02:15+1100", "10-06 02:15+1100"],
    ),
    (
        "Australia/Lord_Howe",
        "45 1 * * *",
        datetime(2026, 4, 4),
        ["04-04 01:45+1100", "04-05 01:45+1100", "04-06 01:45+1030", "04-07 01:45+1030"],
    ),
    (
        "Australia/Lord_Howe",
        "*/30 * * * *",
        datetime(2026, 4, 5, 1),
        ["04-05 01:30+1100", "04-05 01:30+1030", "04-05 02:00+1030", "04-05 02:30+1030"],
    ),
    # America/Santiago: the jump is at midnight (24:00 -> 01:00 on 2026-09-06).
    (
        "America/Santiago",
        "0 0 * * *",
        datetime(2026, 9, 4, 12),
        ["09-05 00:00-0400", "09-06 01:00-0300", "09-07 00:00-0300", "09-08 00:00-0300"],
    ),
    # ... and back at midnight (2026-04-05 00:00 -> 04-04 23:00): 23:30 fires once, first.
    (
        "America/Santiago",
        "30 23 * * *",
        datetime(2026, 4, 3, 12),
        ["04-03 23:30-0300", "04-04 23:30-0300", "04-05 23:30-0400", "04-06 23:30-0400"],
    ),
    (
        "America/Santiago",
        "30 * * * *",
        datetime(2026, 4, 4, 22, 45),
        ["04-04 23:30-0300", "04-04 23:30-0400", "04-05 00:30-0400", "04-05 01:30-0400"],
    ),
]


@pytest.mark.parametrize(("tz_name", "expr", "start", "expected"), DST_CASES)
def test_dst_rules(tz_name: str, expr: str, start: datetime, expected: list[str]) -> None:
    assert fires(expr, tz_name, start) == expected


def test_start_in_second_pass_of_repeated_hour() -> None:
    tz = ZoneInfo("Europe/Berlin")
    schedule = CronSchedule("30 2 * * *", zone("Europe/Berlin"), None, None)
    # 02:10 on the second pass (+01): today's 02:30 already fired on the first pass.
    after = datetime(2026, 10, 25, 2, 10, tzinfo=tz, fold=1)
    found = schedule.next_fire(after)
    assert found is not None
    assert found.astimezone(tz).isoformat() == "2026-10-26T02:30:00+01:00"


def test_hourly_from_first_pass_sees_second_pass() -> None:
    tz = ZoneInfo("Europe/Berlin")
    schedule = CronSchedule("0 * * * *", zone("Europe/Berlin"), None, None)
    after = datetime(2026, 10, 25, 2, 45, tzinfo=tz)  # first pass (+02)
    found = schedule.next_fire(after)
    assert found is not None
    assert found.astimezone(tz).isoformat() == "2026-10-25T02:00:00+01:00"


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("@daily", ["01-02 00:00+0000", "01-03 00:00+0000"]),
        ("@hourly", ["01-01 01:00+0000", "01-01 02:00+0000"]),
        ("@weekly", ["01-04 00:00+0000", "01-11 00:00+0000"]),  # Sundays
        ("0 0 * * 7", ["01-04 00:00+0000", "01-11 00:00+0000"]),  # 7 is Sunday too
        ("0 0 13 * fri", ["01-02 00:00+0000", "01-09 00:00+0000"]),  # both restricted: OR
        ("0 0 */2 * 1", ["01-05 00:00+0000", "01-19 00:00+0000"]),  # '*' prefix: AND
        ("0 9 1-7 * mon", ["01-01 09:00+0000", "01-02 09:00+0000"]),  # OR, as in cronie
        ("0 12 * jan-mar/2 *", ["01-01 12:00+0000", "01-02 12:00+0000"]),
        ("0 0 29 2 *", ["02-29 00:00+0000", "02-29 00:00+0000"]),
        # A range a-a is the one value a, whatever croniter's version reads (>= 5: all).
        ("33 * * * 5-5", ["01-02 00:33+0000", "01-02 01:33+0000"]),  # Fridays only
        ("0 0 1 jan-jan *", ["01-01 00:00+0000"]),  # 2027-01-01, not 2026-02-01
        ("0 23-23 * * *", ["01-01 23:00+0000", "01-02 23:00+0000"]),
        ("0 0-0/5 * * MON-mon", ["01-05 00:00+0000", "01-12 00:00+0000"]),
        ("0 12 * * 0-sun", ["01-04 12:00+0000", "01-11 12:00+0000"]),
        ("0 0 * * 5-7", ["01-02 00:00+0000", "01-03 00:00+0000", "01-04 00:00+0000"]),
        ("0\t0  * *\n*", ["01-02 00:00+0000"]),  # ASCII spaces, tabs and newlines separate
        # Both day fields restricted: either matches, also where one names every day.
        ("0 0 1,*/2 * 7,*/1", ["01-02 00:00+0000", "01-03 00:00+0000"]),
        ("0 0 1-31 * mon", ["01-02 00:00+0000", "01-03 00:00+0000"]),
        ("0 0 13 * 0-6", ["01-02 00:00+0000", "01-03 00:00+0000"]),
        # Day-of-week 7 is Sunday with seconds first too (croniter before 7.0 refused it).
        ("0 0 0 * * 7", ["01-04 00:00+0000", "01-11 00:00+0000"]),
        ("0 0 0 * * 5-7", ["01-02 00:00+0000", "01-03 00:00+0000", "01-04 00:00+0000"]),
        ("0 0 0 * * 1-7/2", ["01-02 00:00+0000", "01-04 00:00+0000", "01-05 00:00+0000"]),
    ],
)
def test_cron_syntax(expr: str, expected: list[str]) -> None:
    assert fires(expr, "UTC", datetime(2026, 1, 1), len(expected)) == expected


def test_six_fields_have_seconds_first() -> None:
    schedule = CronSchedule("*/15 * * * * *", UTC, None, None)
    after = datetime(2026, 1, 1, tzinfo=UTC)
    assert schedule.next_fire(after) == after + timedelta(seconds=15)


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("* * * *", "5 fields"),
        ("0 0 30 2 *", "never matches"),
        ("0 0 L * *", "invalid day-of-month field 'L'"),
        ("0 0 * * 1#1", "invalid day-of-week field '1#1'"),
        ("H * * * *", "invalid minute field 'H'"),
        ("@fortnightly", "unknown cron alias"),
        ("0 0 * foo *", "invalid month field 'foo'"),
        ("0 \u0663 * * *", "invalid hour field '\u0663'"),  # an Arabic-Indic digit three
        # A value out of range names its field, not croniter's "[...] is not acceptable".
        ("61 * * * *", "minute 61 is out of range 0-59"),
        ("0 25 * * *", "hour 25 is out of range 0-23"),
        ("0 0 0 * *", "day-of-month 0 is out of range 1-31"),
        ("0 0 * 13 *", "month 13 is out of range 1-12"),
        ("0 0 * * 8", "day-of-week 8 is out of range 0-7"),
        ("0 0 0 * * * *", "5 fields"),
        ("60 0 * * * *", "second 60 is out of range 0-59"),
        ("*/0 * * * *", "minute step '*/0' must be at least 1"),
        # Reversed ranges wrap in croniter; cronie, cronsim, APScheduler and robfig refuse.
        (
            "0 22-2 * * *",
            "hour range '22-2' runs backwards (cron ranges do not wrap around); write 22-23,0-2",
        ),
        ("0 0 * * fri-mon", "write fri-sat,sun-mon"),
        ("0 0 * * sat-sun", "write sat,sun"),
        ("0 0 * * 7-1", "write 7,0-1"),
        ("0 0 * dec-feb *", "write dec,jan-feb"),
        ("0 20-4/2 * * *", "write 20-23/2,0-4/2"),
        # A step goes with * or a range: 7/1 is daily in croniter, Sundays in cronsim.
        ("5/15 * * * *", "minute '5/15': a step goes with * or a range; write 5-59/15 or */15"),
        ("0 0 * * 7/1", "day-of-week '7/1': a step goes with * or a range; write 7"),
        ("0 0 * * mon/2", "write mon-sat/2 or */2"),
        # Only plain spaces separate fields: a no-break or em space is refused, not split on.
        ("0\u00a03 * * *", "contains U+00A0, a space that does not separate fields"),
        ("0 3 * * *\u2003", "contains U+2003"),
    ],
)
def test_bad_cron(expr: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        check_cron(expr)


def test_start_and_end_bound_a_cron_schedule() -> None:
    start = datetime(2026, 1, 10, tzinfo=UTC)
    end = datetime(2026, 1, 12, tzinfo=UTC)
    schedule = CronSchedule("0 0 * * *", UTC, start, end)
    first = schedule.next_fire(datetime(2026, 1, 1, tzinfo=UTC))
    assert first == start  # start itself is a fire time
    assert schedule.next_fire(datetime(2026, 1, 11, 1, tzinfo=UTC)) == end
    assert schedule.next_fire(end) is None


def test_interval_is_anchored_so_lateness_never_drifts() -> None:
    anchor = datetime(2026, 1, 1, tzinfo=UTC)
    spec = TriggerSpec(kind="interval", interval=900)
    schedule = schedule_for(spec, anchor)
    assert schedule.next_fire(anchor) == anchor + timedelta(minutes=15)
    # A check 7 minutes late still lands on the grid.
    late = anchor + timedelta(minutes=22)
    assert schedule.next_fire(late) == anchor + timedelta(minutes=30)
    assert schedule.next_fire(anchor - timedelta(days=1)) == anchor


def test_interval_start_and_end() -> None:
    start = datetime(2026, 6, 1, 12, tzinfo=UTC)
    spec = TriggerSpec(kind="interval", interval=3600, start=start, end=start + timedelta(hours=2))
    schedule = schedule_for(spec, datetime(2020, 1, 1, tzinfo=UTC))
    assert schedule.next_fire(datetime(2026, 1, 1, tzinfo=UTC)) == start
    assert schedule.next_fire(start + timedelta(hours=1, minutes=1)) == start + timedelta(hours=2)
    assert schedule.next_fire(start + timedelta(hours=2)) is None


def test_date_and_after() -> None:
    moment = datetime(2026, 12, 1, 8, tzinfo=UTC)
    date = schedule_for(TriggerSpec(kind="date", date=moment), moment)
    assert date.next_fire(moment - timedelta(seconds=1)) == moment
    assert date.next_fire(moment) is None
    after = schedule_for(TriggerSpec(kind="after", after="x"), moment)
    assert after.next_fire(moment) is None


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("Europe/Berln", "(did you mean 'Europe/Berlin'?)"),
        ("europe/berlin", "(did you mean 'Europe/Berlin'?)"),
        ("Berlin", "(did you mean 'Europe/Berlin'?)"),
        ("America/NewYork", "(did you mean 'America/New_York'?)"),
        ("Asia/Calcuta", "(did you mean 'Asia/Calcutta'?)"),
        ("Mars/Olympus_Mons", "(use an IANA name such as Europe/Berlin)"),
    ],
)
def test_unknown_zone_suggests_the_nearest_name(name: str, hint: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(f'unknown time zone {name!r} {hint}')}$"):
        zone(name)


def test_interval_counts_real_time_across_dst() -> None:
    # An anchor in the job's zone, as `yamlcron next --after 2026-03-29T01:30` makes it:
    # aware arithmetic in one zone is wall-clock arithmetic, which gave 03:30 four times.
    berlin = ZoneInfo("Europe/Berlin")
    spec = TriggerSpec(kind="interval", interval=3600, timezone="Europe/Berlin")
    for anchor, expected in [
        (datetime(2026, 3, 29, 1, 30, tzinfo=berlin), ["03:30+02", "04:30+02", "05:30+02"]),
        (datetime(2026, 10, 25, 1, 30, tzinfo=berlin), ["02:30+02", "02:30+01", "03:30+01"]),
    ]:
        schedule = schedule_for(spec, anchor)
        moment: datetime | None = anchor
        shown = []
        for _ in expected:
            assert moment is not None
            moment = schedule.next_fire(moment)
            assert moment is not None
            shown.append(moment.astimezone(berlin).strftime("%H:%M%z")[:-2])
        assert shown == expected


@pytest.mark.parametrize("tz_name", ["UTC", "Europe/Berlin", "America/Adak", "Asia/Tokyo"])
def test_a_schedule_ends_at_the_year_9999(tz_name: str) -> None:
    tz = zone(tz_name)
    cron = CronSchedule("0 3 * * *", tz, None, None)
    last = cron.next_fire(datetime(9999, 12, 30, 12, tzinfo=tz))
    assert last is not None
    assert last.astimezone(tz).date().isoformat() == "9999-12-31"
    assert cron.next_fire(last) is None
    assert cron.next_fire(datetime.max.replace(tzinfo=UTC)) is None
    year = CronSchedule("0 0 29 2 *", tz, None, None)  # the next Feb 29 is past 9999
    assert year.next_fire(datetime(9996, 3, 1, tzinfo=UTC)) is None
    anchor = datetime(9999, 12, 31, 12, tzinfo=tz)
    interval = schedule_for(TriggerSpec(kind="interval", interval=86400), anchor)
    assert interval.next_fire(anchor) is None
    assert interval.next_fire(datetime.max.replace(tzinfo=UTC)) is None


def test_a_far_start_is_a_schedule_not_a_crash() -> None:
    berlin = zone("Europe/Berlin")
    start = datetime(9990, 1, 1, tzinfo=berlin)
    schedule = CronSchedule("0 3 * * *", berlin, start, None)
    found = schedule.next_fire(datetime(2026, 1, 1, tzinfo=UTC))
    assert found is not None
    assert found.astimezone(berlin).isoformat() == "9990-01-01T03:00:00+01:00"


def test_next_counts_real_time_and_ends_at_the_year_9999(
    cli: Callable[..., CliResult], write: Callable[[str], Path]
) -> None:
    path = write(
        """\
        version: 1
        jobs:
          hourly:
            trigger: {interval: 1h, timezone: Europe/Berlin}
            run: {shell: "true"}
          nightly:
            trigger: {cron: "0 3 * * *", timezone: America/Adak}
            run: {shell: "true"}
        """
    )
    hourly = cli("next", "hourly", "-f", path, "--count", "3", "--after", "2026-03-29T01:30")
    assert hourly.out.split() == [
        "2026-03-29T03:30:00+02:00",
        "2026-03-29T04:30:00+02:00",
        "2026-03-29T05:30:00+02:00",
    ]
    far = cli("next", "nightly", "-f", path, "--count", "2", "--after", "9980-01-01T00:00")
    assert far.out.split() == ["9980-01-01T03:00:00-10:00", "9980-01-02T03:00:00-10:00"]
    end = cli("next", "nightly", "-f", path, "--count", "5", "--after", "9999-12-30T12:00")
    assert (end.code, end.err) == (0, "")
    assert end.out.split() == ["9999-12-31T03:00:00-10:00"]
    none = cli("next", "nightly", "-f", path, "--after", "9999-12-31T23:00")
    assert none.out == "nightly has no fire time after 9999-12-31T23:00:00-10:00\n"


@pytest.mark.parametrize(
    ("expr", "day_of_week"),
    [("* * * * * 7", "0"), ("* * * * * 5-7", "0,5,6"), ("0 0 * * 1-7/2", "0,1,3,5")],
)
def test_sunday_is_given_to_croniter_as_0(expr: str, day_of_week: str) -> None:
    # croniter before 7.0 refuses a 7 when seconds come first: the reading is ours.
    assert check_cron(expr)[-1] == day_of_week
