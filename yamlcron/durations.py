"""Durations as the manifest writes them (``90s``, ``1h30m``, ``2d``) and back.

A duration is kept to the millisecond: ``1.0004s`` is ``1s``. A non-zero duration shorter
than a millisecond would be kept as zero (an interval of nothing), and one longer than
10,000 years reaches past any date a schedule can hold, so both are refused.
"""

from __future__ import annotations

import re
from functools import lru_cache

_MILLIS = {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|[smhdw])")
#: The longest duration: 10,000 years of 365.25 days, the span of the years 1 to 9999.
MAX_SECONDS = 10_000 * 365.25 * 86400


class DurationRangeError(ValueError):
    """A well-formed duration that yamlcron cannot keep: under 1 ms, or over 10,000 years."""


# A manifest repeats a handful of durations over thousands of jobs: parse each once.
@lru_cache(maxsize=4096, typed=True)
def parse_duration(value: int | float | str) -> float:
    """Return seconds for an integer number of seconds or text such as ``1h30m``.

    Raises:
        DurationRangeError: a non-zero duration under a millisecond, or over MAX_SECONDS.
        ValueError: the text is not a sequence of ``<number><unit>`` parts.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}")
    if isinstance(value, int | float):
        return _in_range(value, value)
    text = value.replace(" ", "")
    # Summed in milliseconds: whole milliseconds add up exactly, so the text a duration is
    # shown as parses back to exactly ``kept(seconds)``.
    pos, millis = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        millis += float(match.group(1)) * _MILLIS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration {value!r}: use seconds or parts such as 90s, 1h30m, 2d")
    return _in_range(millis / 1000, value)


def _in_range(seconds: int | float, written: int | float | str) -> float:
    # Compared before float(): an integer too large for a float is still only too long.
    if seconds > MAX_SECONDS:
        raise DurationRangeError(f"{written!r} is longer than 10,000 years, the longest duration")
    if 0 < seconds < 0.001:
        raise DurationRangeError(f"{written!r} is shorter than 1ms, the shortest duration")
    return float(seconds)


def kept(seconds: float) -> float:
    """The seconds a duration keeps: to the millisecond, as its shown text parses back."""
    return round(seconds * 1000) / 1000


@lru_cache(maxsize=4096, typed=True)
def format_duration(seconds: float) -> str:
    """Render seconds to the millisecond (``5400.0`` -> ``1h30m``) for plans and listings."""
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    parts: list[str] = []
    for unit in ("w", "d", "h", "m", "s", "ms"):
        size = _MILLIS[unit]
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
