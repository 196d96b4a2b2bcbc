"""The ``log`` notifier (the default ``via``): events as lines in yamlcron's log."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from yamlcron.events import ManifestEvent, RunEvent
from yamlcron.hookspecs import hookimpl
from yamlcron.interfaces import Notifier

log = logging.getLogger("yamlcron.notify")
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class LogNotifier:
    """Writes one line per event; failures at ``warning`` unless ``level`` says otherwise."""

    options_schema: Mapping[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "level": {
                "enum": list(_LEVELS),
                "description": "Log level (default: warning for "
                "failures, misses and skips, info otherwise).",
            },
        },
    }

    def notify(self, event: RunEvent | ManifestEvent, options: Mapping[str, Any]) -> None:
        bad = {
            "failure",
            "timeout",
            "missed",
            "skipped",
            "interrupted",
            "reload_failed",
            "plan_refused",
        }
        default = logging.WARNING if event.notify_kinds & bad else logging.INFO
        level = _LEVELS.get(str(options.get("level")), default)
        if isinstance(event, RunEvent):
            run = event.run
            reason = f": {run.error.message}" if run.error else ""
            log.log(
                level,
                "%s: run %s of %s %s%s",
                ", ".join(sorted(event.notify_kinds)),
                run.id,
                run.job_id,
                run.status.value,
                reason,
            )
        else:
            log.log(level, "manifest %s: %s %s", event.kind, event.path, event.message)


@hookimpl
def yamlcron_notifiers() -> Mapping[str, Notifier]:
    return {"log": LogNotifier()}
