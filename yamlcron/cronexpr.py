"""Cron expressions as SPEC §1 reads them: checked, and normalised for croniter.

croniter is given each expression as ``check_cron`` normalises it, because SPEC §1 reads
some forms differently from croniter (and croniter from itself across versions): ``a-a``
is the one value a, names become numbers, and backward ranges and steps on a single value
are refused with a hint how to write them. Day-of-month and day-of-week are ORed when both
are restricted and ANDed when either starts with ``*`` (Vixie cron, cronie); days of week
count 0 and 7 as Sunday.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

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
        matcher(normal).get_next()
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


def matcher(fields: tuple[str, ...]) -> croniter[datetime]:
    """Croniter over naive wall-clock time, with Vixie cron's day-of-month/day-of-week rule."""
    return croniter(
        " ".join(fields),
        datetime(2000, 1, 1),
        ret_type=datetime,
        day_or=not (fields[-3].startswith("*") or fields[-1].startswith("*")),
        second_at_beginning=len(fields) == 6,
    )


def covers_every_hour(fields: tuple[str, ...]) -> bool:
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
