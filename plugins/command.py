"""The ``command`` notifier: run a program with the event as JSON on its standard input."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from typing import Any

from yamlcron.durations import parse_duration
from yamlcron.errors import DeliveryError
from yamlcron.events import ManifestEvent, RunEvent
from yamlcron.hookspecs import hookimpl
from yamlcron.interfaces import Notifier


class CommandNotifier:
    """Runs ``command`` (an argv, no shell) once per event; a failure is logged.

    It runs in the manifest's folder, like a job, so ``[python, notify.py]`` finds a
    ``notify.py`` beside ``jobs.yaml`` wherever yamlcron was started from.
    """

    options_schema: Mapping[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["command"],
        "properties": {
            "command": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string"},
                "description": "The program and its arguments; ${VAR} allowed.",
            },
            "timeout": {
                "type": ["integer", "string"],
                "description": "Stop it after this long: a duration, default 30s.",
            },
        },
    }

    def notify(self, event: RunEvent | ManifestEvent, options: Mapping[str, Any]) -> None:
        argv = [str(a) for a in options["command"]]
        payload = json.dumps(event.to_json(), default=str)
        try:
            done = subprocess.run(
                argv,
                input=payload,
                cwd=event.folder,
                text=True,
                capture_output=True,
                timeout=parse_duration(options.get("timeout", "30s")),
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DeliveryError(f"notify command {argv[0]} failed: {exc}") from None
        if done.returncode:
            detail = done.stderr.strip()[-200:]
            raise DeliveryError(f"notify command {argv[0]} exited {done.returncode}: {detail}")


@hookimpl
def yamlcron_notifiers() -> Mapping[str, Notifier]:
    return {"command": CommandNotifier()}
