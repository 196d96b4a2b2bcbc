"""The plugin module named by the ``yamlcron`` entry point: one executor, one notifier."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from yamlcron import hookimpl
from yamlcron.events import ManifestEvent, RunEvent
from yamlcron.interfaces import Outcome, RunContext
from yamlcron.runs import RunError, RunStatus


class EchoExecutor:
    """Runs a ``command:`` job by echoing its argv: output and result, no process."""

    def execute(self, context: RunContext) -> Outcome:
        argv = list(context.job.run.command)
        if not argv:
            return Outcome(
                status=RunStatus.FAILURE,
                error=RunError(type="ConfigError", message="echo needs a command"),
            )
        line = " ".join(argv)
        return Outcome(
            status=RunStatus.SUCCESS,
            exit_code=0,
            output=line + "\n",
            result={"argv": argv, "attempt": context.attempt},
        )


class JsonlNotifier:
    """Appends each event to ``path`` (relative to the working directory), one JSON a line."""

    options_schema: Mapping[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["path"],
        "properties": {
            "path": {
                "type": "string",
                "minLength": 1,
                "description": "The file to append events to.",
            }
        },
    }

    def __init__(self) -> None:
        self._lock = threading.Lock()  # notifications may come from several threads

    def notify(self, event: RunEvent | ManifestEvent, options: Mapping[str, Any]) -> None:
        line = json.dumps(event.to_json(), default=str)
        with self._lock, Path(options["path"]).open("a", encoding="utf-8") as out:
            out.write(line + "\n")


@hookimpl
def yamlcron_executors() -> Mapping[str, Any]:
    return {"echo": EchoExecutor()}


@hookimpl
def yamlcron_notifiers() -> Mapping[str, Any]:
    return {"jsonl": JsonlNotifier()}
