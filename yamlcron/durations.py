"""Durations as the manifest writes them (``90s``, ``1h30m``, ``2d``) and back."""

from __future__ import annotations

import re
from functools import lru_cache

_UNITS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|[smhdw])")


# A manifest repeats a handful of durations over thousands of jobs: parse each once.
@lru_cache(maxsize=4096, typed=True)
def parse_duration(value: int | float | str) -> float:
    """Return seconds for an integer number of seconds or text such as ``1h30m``.

    Raises:
        ValueError: the text is not a sequence of ``<number><unit>`` parts.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    text = value.replace(" ", "")
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration {value!r}: use seconds or parts such as 90s, 1h30m, 2d")
    return total


@lru_cache(maxsize=4096, typed=True)
def format_duration(seconds: float) -> str:
    """Render seconds compactly (``5400.0`` -> ``1h30m``) for plans and listings."""
    if seconds == 0:
        return "0s"
    millis = round(seconds * 1000)
    parts: list[str] = []
    for unit in ("w", "d", "h", "m", "s", "ms"):
        size = round(_UNITS[unit] * 1000)
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
