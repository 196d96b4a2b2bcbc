"""Cron schedules against two independent readings of them: SPEC §5 walked minute by minute,
and cronsim.

The oracle below shares no code with yamlcron: it parses the expression itself, walks real
time a minute at a time in the zone, and applies SPEC §5's words to each minute. It is the
judge everywhere. cronsim, an established implementation, is asked too wherever its rules
are SPEC's, which checks the oracle against a third reading. Its quirks are outside that:

- it follows real time whenever the minute or hour field starts with ``*`` (Debian's rule),
  SPEC only when the hour field covers every hour; 6-field expressions always;
- its DST fix-up can return an instant before its start inside a repeated hour, and is
  not made for 30-minute shifts (Australia/Lord_Howe);
- it reads ``a-a/n`` as ``a-max/n``.

Hypothesis draws every form the manifest accepts (names in any case, equal-ended ranges,
steps on ``*`` and on ranges, lists of ranges, 6 fields, aliases, tabs and repeated spaces)
in zones with 30- and 45-minute offsets, jumps at midnight and none at all, from starts
near a DST change more often than not. Derandomized, so a run never fails by chance.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError
from hypothesis import example, given, settings
from hypothesis import strategies as st

from yamlcron.cronexpr import check_cron
from yamlcron.triggers import CronSchedule, zone

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",  # changes at midnight
    "America/Sao_Paulo",  # had DST until 2019
    "America/St_Johns",  # -03:30
    "Australia/Lord_Howe",  # a 30-minute shift
    "Australia/Adelaide",  # +09:30
    "Pacific/Chatham",  # +12:45
    "Asia/Tehran",  # +03:30, DST until 2022
    "Asia/Kolkata",  # +05:30, no DST
    "Asia/Kathmandu",  # +05:45, no DST
    "Africa/Casablanca",  # DST suspended each Ramadan
]
MINUTE = timedelta(minutes=1)
COUNT = 3
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
#: (low, high, names) of second, minute, hour, day of month, month, day of week.
_FIELDS = [(0, 59, []), (0, 59, []), (0, 23, []), (1, 31, []), (1, 12, _MONTHS), (0, 7, _DAYS)]
_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


# -- the oracle: SPEC §1 and §5, read literally -----------------------------------------------


def _values(text: str, low: int, high: int, names: list[str]) -> set[int]:
    """SPEC §1: ``*``, numbers, names, ranges ``a-b`` (a-a is a), steps on ``*`` or a range."""

    def number(word: str) -> int:
        return names.index(word) + low if word in names else int(word)

    out: set[int] = set()
    for item in text.lower().split(","):
        body, _, step = item.partition("/")
        if body == "*":
            first, last = low, high
        elif "-" in body:
            a, b = body.split("-")
            first, last = number(a), number(b)
        else:
            first = last = number(body)
        out.update(range(first, last + 1, int(step or 1)))
    return out


class Oracle:
    """The fire times of a cron expression, found by walking real time a minute at a time."""

    def __init__(self, expr: str, tz: tzinfo) -> None:
        fields = _ALIASES.get(expr.strip().lower(), expr).split()
        if len(fields) == 5:
            fields.insert(0, "0")
        sets = [_values(f, *spec) for f, spec in zip(fields, _FIELDS, strict=True)]
        self.seconds, self.minutes, self.hours, self.days, self.months, weekdays = sets
        self.weekdays = {d % 7 for d in weekdays}  # 7 is Sunday too
        # Both restricted (neither starts with '*'): either may match, as in Vixie cron.
        self.either = not (fields[3].startswith("*") or fields[5].startswith("*"))
        # The hour field covers every hour: the job follows real time through DST changes.
        self.real_time = self.hours == set(range(24))
        self.tz = tz

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = day.isoweekday() % 7 in self.weekdays
        return dom or dow if self.either else dom and dow

    def wall_matches(self, wall: datetime) -> bool:
        """Whether a wall-clock minute matches (any of its seconds may)."""
        return (
            self.day_matches(wall.date())
            and wall.hour in self.hours
            and wall.minute in self.minutes
        )

    def never(self) -> bool:
        """No date at all can match: a day of month no chosen month has, and no weekday OR."""
        if self.either:
            return False
        longest = max(calendar.monthrange(2028, m)[1] for m in self.months)  # 2028: a leap year
        return min(self.days) > longest

    def fires(self, start: datetime, count: int) -> list[datetime]:
        """The first ``count`` fire instants after ``start``, in UTC."""
        found: list[datetime] = []

        def fire(instant: datetime) -> None:
            if instant > start and (not found or instant > found[-1]):
                found.append(instant)

        now = start.astimezone(UTC).replace(second=0, microsecond=0)
        while len(found) < count:
            local = now.astimezone(self.tz)
            before = (now - MINUTE).astimezone(self.tz)
            if local.utcoffset() != before.utcoffset() and not self.real_time:
                # Clocks jumped forward at this instant: a skipped wall time fires once, now.
                wall = before.replace(tzinfo=None) + MINUTE
                while wall < local.replace(tzinfo=None):
                    if self.wall_matches(wall):
                        fire(now)
                        break
                    wall += MINUTE
            # A repeated hour fires at its first occurrence only, unless the job is real-time.
            if self.wall_matches(local) and (self.real_time or not _second_pass(local)):
                for second in sorted(self.seconds):
                    fire(now + timedelta(seconds=second))
            now = self._onwards(now, local)
        return found[:count]

    def _onwards(self, now: datetime, local: datetime) -> datetime:
        """The next minute to look at: skip a day or an hour that cannot match.

        Only where the UTC offset stays the same, so no DST change is ever jumped over.
        """
        wall = local.replace(tzinfo=None)
        if not self.day_matches(wall.date()):
            target = datetime.combine(wall.date() + timedelta(days=1), time())
        elif wall.hour not in self.hours:
            target = wall.replace(minute=0, second=0) + timedelta(hours=1)
        else:
            return now + MINUTE
        instant = target.replace(tzinfo=self.tz).astimezone(UTC)
        if instant > now and instant.astimezone(self.tz).utcoffset() == local.utcoffset():
            return instant
        return now + MINUTE


def _second_pass(local: datetime) -> bool:
    """Whether an aware local time is the second occurrence of a repeated wall time."""
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()


# -- the expressions: every form the manifest accepts -------------------------------------------


@st.composite
def _spelled(draw: st.DrawFn, value: int, low: int, names: list[str]) -> str:
    if names and value - low < len(names) and draw(st.booleans()):
        name = names[value - low]
        return draw(st.sampled_from([name, name.upper(), name.capitalize()]))
    return str(value)


@st.composite
def _item(draw: st.DrawFn, low: int, high: int, names: list[str]) -> str:
    shape = draw(st.sampled_from(["*/n", "a", "a", "a-b", "a-b", "a-a", "a-b/n", "a-a/n"]))
    if shape == "*/n":
        return f"*/{draw(st.integers(1, high - low + 2))}"
    a = draw(st.integers(low, high))
    b = a if shape.startswith("a-a") else draw(st.integers(a, high))
    text = draw(_spelled(a, low, names))
    if shape != "a":
        text += "-" + draw(_spelled(b, low, names))
    if shape.endswith("/n"):
        text += f"/{draw(st.integers(1, 5))}"
    return text


@st.composite
def _field(draw: st.DrawFn, low: int, high: int, names: list[str], star: int) -> str:
    """A field, ``*`` one time in ``star``."""
    if draw(st.integers(1, star)) == 1:
        return "*"
    return ",".join(draw(st.lists(_item(low, high, names), min_size=1, max_size=3)))


@st.composite
def expressions(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from(sorted(_ALIASES)))
    # Days and months are '*' more often than not, so fire times come often and meet the
    # DST changes that the starts are drawn near.
    stars = [4, 4, 4, 2, 2, 2]
    fields = [draw(_field(*spec, star)) for spec, star in zip(_FIELDS, stars, strict=True)]
    if draw(st.integers(0, 4)) > 0:
        fields = fields[1:]
    separators = [draw(st.sampled_from([" ", " ", " ", "  ", "\t"])) for _ in fields[1:]]
    return fields[0] + "".join(s + f for s, f in zip(separators, fields[1:], strict=True))


@cache
def _transitions(tz_name: str) -> list[datetime]:
    """The zone's UTC offset changes in 2019-2036, to the minute (found here, not by yamlcron)."""
    tz = ZoneInfo(tz_name)
    out = []
    day = datetime(2019, 1, 1, tzinfo=UTC)
    while day.year < 2036:
        following = day + timedelta(days=1)
        if day.astimezone(tz).utcoffset() != following.astimezone(tz).utcoffset():
            low, high = day, following
            while high - low > MINUTE:
                middle = low + (high - low) / 2
                same = middle.astimezone(tz).utcoffset() == low.astimezone(tz).utcoffset()
                low, high = (middle, high) if same else (low, middle)
            out.append(high.replace(second=0, microsecond=0))
        day = following
    return out


@st.composite
def starts(draw: st.DrawFn, tz_name: str) -> datetime:
    """An instant in 2019-2035, in the six hours before a DST change more often than not."""
    changes = _transitions(tz_name)
    if changes and draw(st.integers(0, 3)) > 0:
        base = draw(st.sampled_from(changes))
        offset = draw(st.integers(-6 * 60, 60))
    else:
        base = datetime(2020, 1, 1, tzinfo=UTC)
        offset = draw(st.integers(0, 15 * 366 * 24 * 60))
    seconds = draw(st.sampled_from([0, 0, 0, 1, 30, 59]))
    moment = base + timedelta(minutes=offset, seconds=seconds)
    return moment.astimezone(ZoneInfo(tz_name))


# -- the comparisons ----------------------------------------------------------------------------


def _ours(expr: str, tz_name: str, start: datetime, count: int) -> list[datetime]:
    schedule = CronSchedule(expr, zone(tz_name), None, None)
    out: list[datetime] = []
    moment = start
    while len(out) < count:
        found = schedule.next_fire(moment)
        assert found is not None, f"{expr!r} in {tz_name} ended after {out}"
        out.append(moment := found)
    return out


def _cronsim_reads_like_spec(expr: str, tz_name: str, start: datetime) -> bool:
    """Whether cronsim's rules are SPEC's for this case (its quirks: the module docstring)."""
    fields = expr.split()
    if expr.startswith("@") or _equal_ended_step(fields):
        return False  # cronsim has no aliases, and reads a-a/n as a-max/n
    if not _transitions(tz_name):
        return True
    if len(fields) == 6 or tz_name == "Australia/Lord_Howe" or _repeated(start):
        return False
    minute, hour = fields[0], fields[1]
    every_hour = _values(hour, 0, 23, []) == set(range(24))
    if hour.startswith("*"):
        return every_hour  # both follow real time
    return not every_hour and not minute.startswith("*")  # both keep the wall clock


def _equal_ended_step(fields: list[str]) -> bool:
    """Whether an item is a range of one value with a step (``5-5/2``, ``0-sun/1``)."""
    for field, spec in zip(fields, _FIELDS[-len(fields) :], strict=True):
        for item in field.split(","):
            body, _, step = item.partition("/")
            if step and "-" in body and len(_values(body, *spec)) == 1:
                return True
    return False


def _repeated(local: datetime) -> bool:
    """Whether an aware local time falls in a repeated hour, either pass."""
    return local.replace(fold=0).utcoffset() != local.replace(fold=1).utcoffset()


def _cronsim(expr: str, start: datetime, count: int) -> list[datetime]:
    it = CronSim(expr, start)
    return [next(it).astimezone(UTC) for _ in range(count)]


_CASES = st.sampled_from(ZONES).flatmap(lambda name: st.tuples(st.just(name), starts(name)))
_BERLIN = ZoneInfo("Europe/Berlin")
_LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


# derandomize and no example database: every run tries the same examples.
# 1,000 examples: 1,500 took 76 s on a loaded 2-core CI machine, in each of CI's two runs.
@settings(max_examples=1000, deadline=None, derandomize=True, database=None)
@example(expr="* * * 1-1,*/2 * 7,*/1", case=("UTC", datetime(2020, 1, 2, tzinfo=UTC)))
@example(expr="33 * * * 5-5", case=("UTC", datetime(2026, 1, 1, tzinfo=UTC)))
@example(expr="0 0 1 jan-jan *", case=("UTC", datetime(2026, 1, 1, tzinfo=UTC)))
@example(expr="*/15 2 * * *", case=("Europe/Berlin", datetime(2026, 3, 29, tzinfo=_BERLIN)))
@example(expr="0 * * * *", case=("Europe/Berlin", datetime(2026, 10, 25, 1, tzinfo=_BERLIN)))
# A 30-minute jump (02:00 -> 02:30): a real-time job's 02:15 is skipped, not moved.
@example(
    expr="15 * * * *", case=("Australia/Lord_Howe", datetime(2026, 10, 4, 1, tzinfo=_LORD_HOWE))
)
@given(expr=expressions(), case=_CASES)
def test_next_fire_agrees_with_the_spec_oracle_and_cronsim(
    expr: str, case: tuple[str, datetime]
) -> None:
    tz_name, start = case
    oracle = Oracle(expr, ZoneInfo(tz_name))
    try:
        check_cron(expr)
        refused = ""
    except ValueError as exc:
        refused = str(exc)
    if refused:
        assert "never matches" in refused, expr
        assert oracle.never(), f"{expr!r} is refused, but SPEC finds it a date"
        return
    assert not oracle.never(), f"{expr!r} matches no date, but is accepted"
    expected = oracle.fires(start, COUNT)
    assert _ours(expr, tz_name, start, COUNT) == expected, f"{expr!r} in {tz_name} after {start}"
    if _cronsim_reads_like_spec(expr, tz_name, start):
        try:
            got = _cronsim(expr, start, COUNT)
        except CronSimError:
            raise AssertionError(f"cronsim refuses {expr!r}") from None
        assert got == expected, f"cronsim: {expr!r} in {tz_name} after {start}"
