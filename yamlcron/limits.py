"""How much of a run is kept: the caps on its result, error and output, with their marks.

A job may return, raise or print without limit; a record may not, or one run's 50 MB
exception becomes a 100 MB row that every ``history`` reads back. What is cut is marked
where it was, ``[... 1.2 MB cut ...]``, so whoever reads the record knows.

- output: its last ``OUTPUT_LIMIT`` bytes (the end of a log says how it ended);
- result: its JSON text's first ``RESULT_LIMIT`` characters, kept as a string;
- error: the message's first ``MESSAGE_LIMIT`` characters, and the traceback's first and
  last halves of ``TRACEBACK_LIMIT`` characters (where it was raised, and what).
"""

from __future__ import annotations

import json
from typing import Any

#: Bytes of output kept: SPEC §6's "last 64 KiB".
OUTPUT_LIMIT = 64 * 1024
#: Characters of a result's JSON text kept.
RESULT_LIMIT = 64 * 1024
#: Characters of an error's message kept.
MESSAGE_LIMIT = 8 * 1024
#: Characters of an error's traceback kept.
TRACEBACK_LIMIT = 64 * 1024


def size_text(size: int) -> str:
    """A byte count for people: ``900 bytes``, ``64.0 kB``, ``1.2 MB`` (powers of 1000)."""
    value, unit = float(size), "bytes"
    for bigger in ("kB", "MB", "GB", "TB"):
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"


def cut_mark(cut: int) -> str:
    """The line that stands where ``cut`` bytes (or characters) were left out."""
    return f"[... {size_text(cut)} cut ...]\n"


def head(text: str, limit: int) -> str:
    """``text``, or its first characters and a mark, about ``limit`` characters at most."""
    if len(text) <= limit:
        return text
    room = max(0, limit - len(cut_mark(len(text) - limit)))
    return text[:room] + "\n" + cut_mark(len(text) - room).rstrip("\n")


def tail(text: str, limit: int) -> str:
    """``text``, or a mark and its last characters, ``limit`` characters at most."""
    if len(text) <= limit:
        return text
    room = max(0, limit - len(cut_mark(len(text) - limit)))
    return cut_mark(len(text) - room) + text[len(text) - room :]


def middle(text: str, limit: int) -> str:
    """``text``, or its first and last parts around a mark, ``limit`` characters at most."""
    if len(text) <= limit:
        return text
    room = max(0, limit - len(cut_mark(len(text) - limit)))
    first = room // 2
    last = room - first
    return text[:first] + cut_mark(len(text) - room) + text[len(text) - last :]


def bounded_result(value: Any) -> Any:
    """A run's result as stored: itself, or, past ``RESULT_LIMIT``, its JSON text cut.

    Scalars cost nothing to check; other values are measured by their JSON text, which
    the store writes anyway (what JSON cannot hold is counted as its repr, as it is stored).
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return head(value, RESULT_LIMIT)
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return value if len(text) <= RESULT_LIMIT else head(text, RESULT_LIMIT)
