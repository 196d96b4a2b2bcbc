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

Expressions are read and normalised in ``yamlcron.cronexpr``.

Times end at the year 9999: a fire time past it is none, so a schedule simply ends there
instead of raising OverflowError in the scheduler, ``apply`` or ``next``.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from yamlcron.cronexpr import check_cron, covers_every_hour, matcher
from yamlcron.model import TriggerSpec

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
        raise ValueError(f"unknown time zone {name!r}{_nearest_zone(name)}") from None


def _nearest_zone(name: str) -> str:
    """A hint: the IANA name closest to ``name``, by its whole or by its city."""
    known = {z.lower(): z for z in available_timezones()}
    # Sorted, so a city under two names gets the same answer every time (the first).
    cities = {z.rsplit("/", 1)[-1].lower(): z for z in sorted(known.values(), reverse=True)}
    wanted = name.strip().lower()
    for cutoff in (1.0, 0.75):  # an exact city ("Berlin") before a near whole name
        for names, word in ((known, wanted), (cities, wanted.rsplit("/", 1)[-1])):
            close = difflib.get_close_matches(word, names, n=1, cutoff=cutoff)
            if close:
                return f" (did you mean '{names[close[0]]}'?)"
    return " (use an IANA name such as Europe/Berlin)"


class CronSchedule:
    """A cron expression in a time zone, with the DST rules of the module docstring."""

    def __init__(self, expr: str, tz: tzinfo, start: datetime | None, end: datetime | None):
        fields = check_cron(expr)
        self._tz = tz
        self._start = start
        self._end = end
        self._every_hour = covers_every_hour(fields)
        self._iter = matcher(fields)
        self._lock = threading.Lock()
        # The last question and its answer. Jobs sharing an expression ask the same one:
        # an apply adds them all at one ``now``, and a tick fires them at one time.
        self._last: tuple[datetime, datetime | None] | None = None

    def _candidate(self, naive: datetime) -> datetime | None:
        """The next matching wall time after ``naive``; None past the year 9999."""
        try:
            with self._lock:
                result: datetime = self._iter.get_next(datetime, start_time=naive)
        except (OverflowError, ValueError):  # croniter's "year 10000 is out of range" included
            return None
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
        try:
            found = self._next_utc(after) if self._tz is UTC else self._next_zoned(after)
        except OverflowError:
            return None  # the next fire time would lie past the year 9999: the schedule ends
        if found is None or (self._end is not None and found > self._end):
            return None
        return found

    def _next_utc(self, after: datetime) -> datetime | None:
        found = self._candidate(after.astimezone(UTC).replace(tzinfo=None))
        return None if found is None else found.replace(tzinfo=UTC)

    def _next_zoned(self, after: datetime) -> datetime | None:
        after = after.astimezone(UTC)
        local = after.astimezone(self._tz)
        naive = local.replace(tzinfo=None)
        before, later = _offsets(naive, self._tz)
        if before > later and local.fold == 0:
            # Inside a repeated hour, the second pass of earlier wall times is still ahead.
            naive -= before - later
        best: datetime | None = None
        limit = naive + min(_NEVER, datetime.max - naive)
        while naive < limit:
            candidate = self._candidate(naive)
            if candidate is None:
                break
            naive = candidate
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


class IntervalSchedule:
    """Every ``seconds`` of real time, anchored at ``anchor``, so lateness never drifts it."""

    def __init__(self, seconds: float, anchor: datetime, end: datetime | None):
        self._step = timedelta(seconds=seconds)
        self._anchor = anchor
        self._end = end

    def next_fire(self, after: datetime) -> datetime | None:
        try:
            # In UTC: arithmetic on datetimes of one zone is wall-clock arithmetic, and an
            # hour added across a DST change would then repeat or skip a fire time.
            anchor = self._anchor.astimezone(UTC)
            if after < anchor:
                found = anchor
            else:
                found = anchor + self._step * ((after - anchor) // self._step + 1)
        except OverflowError:
            return None  # past the year 9999: the schedule has ended
        if self._end is not None and found > self._end:
            return None
        return found


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
