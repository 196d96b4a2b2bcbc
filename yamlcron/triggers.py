"""Pure next-fire-time computations for cron, interval, date and after triggers.

A schedule answers one question, ``next_fire(after)``: the first fire time strictly after
an aware instant, as an aware UTC datetime, or None when there is none. Nothing here reads
the clock; the scheduler persists the answer, so a fire time never depends on when the
loop happened to wake.

Cron expressions are matched with croniter on local wall-clock time; the daylight-saving
rules of SPEC §5 are applied here, because croniter fires a ``30 2 * * *`` job twice on
the night the clocks go back:

* A wall-clock time in a skipped hour fires once, at the first instant after the jump.
* A wall-clock time in a repeated hour fires once, at its first occurrence.
* Unless the hour field covers every hour (``*``, ``*/1``, ``0-23``): then the job follows
  real time, firing in each real hour, so the repeated hour fires twice and the skipped
  one not at all (cronie's rule).

Day-of-month and day-of-week are ORed when both are restricted and ANDed when either
starts with ``*`` (Vixie cron, cronie). Days of week count 0 and 7 as Sunday.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

from yamlcron.model import TriggerSpec

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
_DAYS = "sun|mon|tue|wed|thu|fri|sat"


def _field_pattern(names: str | None) -> re.Pattern[str]:
    value = rf"(\d+|{names})" if names else r"\d+"
    item = rf"(\*|{value}(-{value})?)(/\d+)?"
    return re.compile(rf"^{item}(,{item})*$", re.IGNORECASE)


#: Plain cron syntax only: croniter's extensions (L, W, #, H, ?) are not portable.
_FIELDS = (
    ("second", _field_pattern(None)),
    ("minute", _field_pattern(None)),
    ("hour", _field_pattern(None)),
    ("day-of-month", _field_pattern(None)),
    ("month", _field_pattern(_MONTHS)),
    ("day-of-week", _field_pattern(_DAYS)),
)
_NEVER = timedelta(days=366 * 30)


class Schedule(Protocol):
    """A parsed trigger: pure, and safe to call from several threads."""

    def next_fire(self, after: datetime) -> datetime | None:
        """The first fire time strictly after ``after`` (aware), in UTC; None if none is left."""
        ...


def zone(name: str) -> tzinfo:
    """The IANA zone ``name``; ValueError for a name the zone database does not know."""
    return _zone(name)


@lru_cache(maxsize=512)
def _zone(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        message = f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)"
        raise ValueError(message) from None


class CronSchedule:
    """A cron expression in a time zone, with the DST rules of the module docstring."""

    def __init__(self, expr: str, tz: tzinfo, start: datetime | None, end: datetime | None):
        fields = check_cron(expr)
        self._tz = tz
        self._start = start
        self._end = end
        self._every_hour = _covers_every_hour(fields)
        self._iter = _croniter(fields)
        self._lock = threading.Lock()
        # The last question and its answer. Jobs sharing an expression ask the same one:
        # an apply adds them all at one ``now``, and a tick fires them at one time.
        self._last: tuple[datetime, datetime | None] | None = None

    def _candidate(self, naive: datetime) -> datetime:
        with self._lock:
            result: datetime = self._iter.get_next(datetime, start_time=naive)
        return result

    def next_fire(self, after: datetime) -> datetime | None:
        last = self._last
        if last is not None and last[0] == after:
            return last[1]
        found = self._next_fire(after)
        self._last = (after, found)
        return found

    def _next_fire(self, after: datetime) -> datetime | None:
        if self._start is not None and after < self._start:
            after = self._start - timedelta(microseconds=1)
        found = self._next_utc(after) if self._tz is UTC else self._next_zoned(after)
        if found is None or (self._end is not None and found > self._end):
            return None
        return found

    def _next_utc(self, after: datetime) -> datetime | None:
        return self._candidate(after.astimezone(UTC).replace(tzinfo=None)).replace(tzinfo=UTC)

    def _next_zoned(self, after: datetime) -> datetime | None:
        after = after.astimezone(UTC)
        local = after.astimezone(self._tz)
        naive = local.replace(tzinfo=None)
        before, later = _offsets(naive, self._tz)
        if before > later and local.fold == 0:
            # Inside a repeated hour, the second pass of earlier wall times is still ahead.
            naive -= before - later
        best: datetime | None = None
        limit = naive + _NEVER
        while naive < limit:
            naive = self._candidate(naive)
            instants = self._instants(naive)
            if best is not None and instants and min(instants) >= best:
                return best
            for instant in instants:
                if instant > after and (best is None or instant < best):
                    best = instant
            if best is not None and not _is_repeated(naive, self._tz):
                return best
        return best

    def _instants(self, naive: datetime) -> list[datetime]:
        """The real instants a matching wall-clock time stands for, in UTC."""
        before, later = _offsets(naive, self._tz)
        first = (naive - before).replace(tzinfo=UTC)
        if before == later:
            return [first]
        if before > later:  # a repeated hour: ``first`` is its first occurrence
            return [first, (naive - later).replace(tzinfo=UTC)] if self._every_hour else [first]
        if self._every_hour:  # a skipped hour, and the job follows real time
            return []
        return [_transition(naive - later, naive - before, later, self._tz)]


def _offsets(naive: datetime, tz: tzinfo) -> tuple[timedelta, timedelta]:
    """UTC offsets of a wall time read before (fold=0) and after (fold=1) a transition."""
    before = naive.replace(tzinfo=tz).utcoffset()
    later = naive.replace(tzinfo=tz, fold=1).utcoffset()
    assert before is not None
    assert later is not None
    return before, later


def _is_repeated(naive: datetime, tz: tzinfo) -> bool:
    before, later = _offsets(naive, tz)
    return before > later


def _transition(low: datetime, high: datetime, later: timedelta, tz: tzinfo) -> datetime:
    """The instant (to the second) in (low, high] UTC where the offset becomes ``later``."""
    lo, hi = low.replace(tzinfo=UTC), high.replace(tzinfo=UTC)
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid.astimezone(tz).utcoffset() == later:
            hi = mid
        else:
            lo = mid
    return hi


@lru_cache(maxsize=4096)
def check_cron(expr: str) -> tuple[str, ...]:
    """Normalise ``expr`` to its fields; ValueError with a user-facing reason if invalid."""
    text = expr.strip()
    if text.startswith("@"):
        if text.lower() not in ALIASES:
            raise ValueError(f"unknown cron alias {text!r}; known: {', '.join(ALIASES)}")
        text = ALIASES[text.lower()]
    fields = tuple(text.split())
    if len(fields) not in (5, 6):
        raise ValueError(
            f"a cron expression has 5 fields (minute hour day-of-month month day-of-week) "
            f"or 6 with seconds first; got {len(fields)} in {expr!r}"
        )
    names = _FIELDS if len(fields) == 6 else _FIELDS[1:]
    for (name, pattern), value in zip(names, fields, strict=True):
        if not pattern.match(value):
            raise ValueError(f"invalid {name} field {value!r} in {expr!r}")
    try:
        _croniter(fields).get_next()
    except CroniterBadDateError:
        raise ValueError(f"cron expression {expr!r} never matches a real date") from None
    except (CroniterBadCronError, CroniterError) as exc:
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None
    return fields


def _croniter(fields: tuple[str, ...]) -> croniter[datetime]:
    """Croniter over naive wall-clock time, with Vixie cron's day-of-month/day-of-week rule."""
    return croniter(
        " ".join(fields),
        datetime(2000, 1, 1),
        ret_type=datetime,
        day_or=not (fields[-3].startswith("*") or fields[-1].startswith("*")),
        second_at_beginning=len(fields) == 6,
    )


def _covers_every_hour(fields: tuple[str, ...]) -> bool:
    hour_field = fields[-4]
    hours = croniter.expand(f"0 {hour_field} * * *")[0][1]
    return hours == ["*"] or len(set(hours)) == 24


class IntervalSchedule:
    """Every ``seconds``, anchored at ``anchor``, so a late run never drifts the schedule."""

    def __init__(self, seconds: float, anchor: datetime, end: datetime | None):
        self._step = timedelta(seconds=seconds)
        self._anchor = anchor
        self._end = end

    def next_fire(self, after: datetime) -> datetime | None:
        if after < self._anchor:
            found = self._anchor
        else:
            found = self._anchor + self._step * ((after - self._anchor) // self._step + 1)
        if self._end is not None and found > self._end:
            return None
        return found.astimezone(UTC)


class DateSchedule:
    """Once, at a given moment."""

    def __init__(self, moment: datetime):
        self._moment = moment.astimezone(UTC)

    def next_fire(self, after: datetime) -> datetime | None:
        return self._moment if self._moment > after else None


class AfterSchedule:
    """A workflow step: fired by its upstream job's outcome, never by the clock."""

    def next_fire(self, after: datetime) -> datetime | None:
        return None


@lru_cache(maxsize=4096)
def _cron_schedule(
    expr: str, tz: tzinfo, start: datetime | None, end: datetime | None
) -> CronSchedule:
    """One schedule per distinct cron trigger: jobs with the same expression share its parse.

    Thread-safe: a schedule's state is its croniter, behind a lock, and a memo replaced
    whole.
    """
    return CronSchedule(expr, tz, start, end)


def schedule_for(trigger: TriggerSpec, anchor: datetime) -> Schedule:
    """The schedule of ``trigger``; ``anchor`` is when the job was first applied."""
    build: dict[str, Callable[[], Schedule]] = {
        "cron": lambda: _cron_schedule(
            trigger.cron or "", zone(trigger.timezone), trigger.start, trigger.end
        ),
        "interval": lambda: IntervalSchedule(
            trigger.interval or 0.0, trigger.start or anchor, trigger.end
        ),
        "date": lambda: DateSchedule(trigger.date or anchor),
        "after": AfterSchedule,
    }
    return build[trigger.kind]()
