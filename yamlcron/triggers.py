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

croniter is given each expression as ``check_cron`` normalises it, because SPEC §1 reads
some forms differently from croniter (and croniter from itself across versions): ``a-a``
is the one value a, and backward ranges and steps on a single value are refused.

Times end at the year 9999: a fire time past it is none, so a schedule simply ends there
instead of raising OverflowError in the scheduler, ``apply`` or ``next``.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

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
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
#: What separates fields; any other space (U+00A0, U+2003...) is refused, not split on.
_SEPARATORS = re.compile(r"[ \t\r\n]+")
_ITEM = re.compile(r"^(?:\*|(?P<low>\w+)(?:-(?P<high>\w+))?)(?:/(?P<step>\d+))?$")


@dataclass(frozen=True, slots=True)
class _Field:
    """One field of a cron expression: its name, its values, and the names it accepts."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for low + i

    @property
    def last(self) -> int:
        """Where a range that wraps would turn round: day-of-week's 7 is Sunday again."""
        return self.low + len(self.names) - 1 if self.names else self.high

    def value(self, text: str) -> int:
        number = int(text) if text.isdigit() else self.low + self.names.index(text.lower())
        if not self.low <= number <= self.high:
            raise ValueError(f"{self.name} {number} is out of range {self.low}-{self.high}")
        return number

    def spell(self, number: int, like: str) -> str:
        """``number`` written as ``like`` is: a name if it is one."""
        named = not like.isdigit() and self.low <= number <= self.last
        return self.names[number - self.low] if named else str(number)


_FIELDS = (
    _Field("second", 0, 59),
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, _MONTHS),
    _Field("day-of-week", 0, 7, _DAYS),
)


def _field_pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    """Plain cron syntax only: croniter's extensions (L, W, #, H, ?) are not portable."""
    value = rf"(\d+|{'|'.join(names)})" if names else r"\d+"
    item = rf"(\*|{value}(-{value})?)(/\d+)?"
    return re.compile(rf"^{item}(,{item})*$", re.IGNORECASE | re.ASCII)


_PATTERNS = {field.name: _field_pattern(field.names) for field in _FIELDS}
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
        self._every_hour = _covers_every_hour(fields)
        self._iter = _croniter(fields)
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


@lru_cache(maxsize=4096)
def check_cron(expr: str) -> tuple[str, ...]:
    """Normalise ``expr`` to the fields croniter is given; ValueError with a user-facing reason.

    Normalising is where SPEC §1 reads cron differently from croniter, whatever its
    version: ``a-a`` is the one value a (croniter >= 5 reads it as the whole field), names
    become numbers, and what cronie refuses is refused, with a hint how to write it: a
    range that runs backwards (``22-2``), a step on a single value (``5/15``), a value out
    of its field's range, a space other than a plain one between fields.
    """
    text = _plain(expr)
    if text.startswith("@"):
        if text.lower() not in ALIASES:
            raise ValueError(f"unknown cron alias {text!r}; known: {', '.join(ALIASES)}")
        text = ALIASES[text.lower()]
    fields = tuple(_SEPARATORS.split(text)) if text else ()
    if len(fields) not in (5, 6):
        raise ValueError(
            f"a cron expression has 5 fields (minute hour day-of-month month day-of-week) "
            f"or 6 with seconds first; got {len(fields)} in {expr!r}"
        )
    kinds = _FIELDS if len(fields) == 6 else _FIELDS[1:]
    normal = _either_day(
        tuple(_normal_field(kind, value) for kind, value in zip(kinds, fields, strict=True))
    )
    try:
        _croniter(normal).get_next()
    except CroniterBadDateError:
        raise ValueError(f"cron expression {expr!r} never matches a real date") from None
    except (CroniterBadCronError, CroniterError) as exc:
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None
    return normal


def _plain(expr: str) -> str:
    odd = next((c for c in expr if c.isspace() and not _SEPARATORS.match(c)), None)
    if odd is not None:
        raise ValueError(
            f"cron expression {expr!r} contains U+{ord(odd):04X}, a space that does not "
            f"separate fields; write plain spaces"
        )
    return expr.strip(" \t\r\n")


def _normal_field(kind: _Field, text: str) -> str:
    if not _PATTERNS[kind.name].match(text):
        raise ValueError(f"invalid {kind.name} field {text!r}")
    return ",".join(_normal_item(kind, item) for item in text.split(","))


def _normal_item(kind: _Field, item: str) -> str:
    """One list item in numbers: ``*``, ``*/n``, ``a``, ``a-b`` or ``a-b/n`` with a < b."""
    match = _ITEM.match(item)
    assert match is not None  # the field's pattern has matched
    low, high, step = match["low"], match["high"], match["step"]
    if step is not None and int(step) == 0:
        raise ValueError(f"{kind.name} step {item!r} must be at least 1")
    if low is None:
        return item
    first = kind.value(low)
    if high is None:
        if step is not None:
            raise ValueError(
                f"{kind.name} {item!r}: a step goes with * or a range; {_from(kind, low, step)}"
            )
        return _sunday(kind, str(first))
    last = kind.value(high)
    if last < first:
        raise ValueError(
            f"{kind.name} range {item!r} runs backwards (cron ranges do not wrap around); "
            f"write {_wrapped(kind, low, high, step)}"
        )
    if first == last:
        return _sunday(kind, str(first))  # a range a-a is the one value a
    return _sunday(kind, f"{first}-{last}" + (f"/{step}" if step else ""))


def _sunday(kind: _Field, item: str) -> str:
    """Day-of-week 7 (Sunday) written as 0, so that no croniter version decides its meaning.

    croniter before 7.0 refuses a 7 (``5-7`` too) when seconds come first.
    """
    if kind.high != 7 or "7" not in item.split("/")[0]:
        return item
    days = {day % 7 for day in _values(item, 0, 7)}
    return ",".join(str(day) for day in sorted(days))


def _from(kind: _Field, low: str, step: str) -> str:
    """The hint for ``5/15``: from 5 to the field's end, every 15th."""
    first = kind.value(low)
    if first >= kind.last:
        return f"write {low}"
    return f"write {low}-{kind.spell(kind.last, low)}/{step} or */{step}"


def _wrapped(kind: _Field, low: str, high: str, step: str | None) -> str:
    """``22-2`` as cron writes it: ``22-23,0-2`` (a step, if any, on each part)."""
    ends = [(low, kind.spell(kind.last, low)), (kind.spell(kind.low, high), high)]
    suffix = f"/{step}" if step else ""
    parts = [a if kind.value(a) >= kind.value(b) else f"{a}-{b}{suffix}" for a, b in ends]
    return ",".join(parts)


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
    return _values(fields[-4], 0, 23) == set(range(24))


def _values(field: str, low: int, high: int) -> set[int]:
    """The values a normalised field names (``*/2``, ``5``, ``1-9/2``, lists of those)."""
    out: set[int] = set()
    for item in field.split(","):
        match = _ITEM.match(item)
        assert match is not None
        first, last, step = match["low"], match["high"], match["step"]
        out.update(range(int(first or low), int(last or first or high) + 1, int(step or 1)))
    return out


def _either_day(fields: tuple[str, ...]) -> tuple[str, ...]:
    """Both day fields restricted, one naming every day: every day matches (SPEC's OR).

    croniter reads a field that names all its values as ``*`` and then ANDs the other
    (``1,*/2 * 7,*/1`` fired on odd days), so both are given to it as ``*``.
    """
    dom, dow = fields[-3], fields[-1]
    if dom.startswith("*") or dow.startswith("*"):
        return fields
    every_dom = _values(dom, 1, 31) == set(range(1, 32))
    every_dow = {day % 7 for day in _values(dow, 0, 7)} == set(range(7))
    return (*fields[:-3], "*", fields[-2], "*") if every_dom or every_dow else fields


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
