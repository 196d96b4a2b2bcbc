"""Durations as the manifest writes them (``90s``, ``1h30m``, ``2d``) and back.

A duration is kept to the millisecond: ``1.0004s`` is ``1s``. A non-zero duration shorter
than a millisecond would be kept as zero (an interval of nothing), and one longer than
10,000 years reaches past any date a schedule can hold, so both are refused.
"""

from __future__ import annotations

import re
from functools import lru_cache

_UNITS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
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
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration {value!r}: use seconds or parts such as 90s, 1h30m, 2d")
    return _in_range(total, value)


def _in_range(seconds: int | float, written: int | float | str) -> float:
    # Compared before float(): an integer too large for a float is still only too long.
    if seconds > MAX_SECONDS:
        raise DurationRangeError(f"{written!r} is longer than 10,000 years, the longest duration")
    if 0 < seconds < 0.001:
        raise DurationRangeError(f"{written!r} is shorter than 1ms, the shortest duration")
    return float(seconds)


@lru_cache(maxsize=4096, typed=True)
def format_duration(seconds: float) -> str:
    """Render seconds to the millisecond (``5400.0`` -> ``1h30m``) for plans and listings."""
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    parts: list[str] = []
    for unit in ("w", "d", "h", "m", "s", "ms"):
        size = round(_UNITS[unit] * 1000)
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
