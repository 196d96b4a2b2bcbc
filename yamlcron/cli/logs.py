"""yamlcron's own log lines on stderr: human text with offsets, or one JSON object a line."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``TIME LEVEL logger: message``, TIME in ISO 8601 with its offset (as every printed time)."""

    def __init__(self, utc: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._zone = UTC if utc else None  # None: this host's zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, UTC).astimezone(self._zone)
        return moment.isoformat(timespec="milliseconds")


#: The arguments of the last ``configure_logging``: a helper process logs the same way.
configured: list[tuple[str, int, bool]] = []


def configure_logging(log_format: str, level: int, *, utc: bool = False) -> None:
    """Send yamlcron's logs to stderr, as text or one JSON object a line.

    Text lines carry the host's local time with its offset, or UTC with ``utc``; JSON lines
    always carry UTC (``time``), for machines.
    """
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(TextFormatter(utc))
    root = logging.getLogger("yamlcron")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    configured[:] = [(log_format, level, utc)]
