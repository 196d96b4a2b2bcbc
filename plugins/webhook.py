"""The ``webhook`` notifier: POST each event as JSON to a URL.

A failed delivery (no connection, a timeout, HTTP 5xx) is tried again ``retries`` times,
0.5 s, 1 s, 2 s... apart; an HTTP 4xx is not retried. A webhook that stays down is logged
and given up on: the run is recorded all the same and the scheduler carries on. Headers may
hold secrets through ``${VAR}``; logs name only the URL's scheme and host, never its path,
query or headers.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

from yamlcron.durations import parse_duration
from yamlcron.events import ManifestEvent, RunEvent
from yamlcron.hookspecs import hookimpl
from yamlcron.interfaces import Notifier

log = logging.getLogger("yamlcron.notify.webhook")


class WebhookNotifier:
    """POSTs ``event.to_json()`` with ``Content-Type: application/json``."""

    options_schema: Mapping[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["url"],
        "properties": {
            "url": {
                "type": "string",
                "pattern": "^https?://",
                "description": "Where to POST; ${VAR} allowed (a secret token in the path).",
            },
            "headers": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "Extra request headers; ${VAR} for secrets.",
            },
            "timeout": {
                "type": ["integer", "string"],
                "description": "Per attempt: a duration such as 5s (default).",
            },
            "retries": {
                "type": "integer",
                "minimum": 0,
                "maximum": 10,
                "description": "Tries after the first one failed (default 3).",
            },
        },
    }

    def notify(self, event: RunEvent | ManifestEvent, options: Mapping[str, Any]) -> None:
        # Imported here: urllib.request brings http, email and ssl, which every command
        # would pay for when it loads the plugins; only a daemon sends.
        import urllib.error
        import urllib.request

        url = str(options["url"])
        body = json.dumps(event.to_json(), default=str).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "yamlcron",
            **options.get("headers", {}),
        }
        timeout = parse_duration(options.get("timeout", "5s"))
        retries = int(options.get("retries", 3))
        where = _host(url)
        for attempt in range(retries + 1):
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    response.read()
                return
            except urllib.error.HTTPError as exc:
                if exc.code < 500:
                    log.warning("webhook %s refused the event: HTTP %s", where, exc.code)
                    return
                problem = f"HTTP {exc.code}"
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                problem = type(exc).__name__
            if attempt < retries:
                time.sleep(0.5 * 2**attempt)
        log.warning(
            "webhook %s failed %d times (%s); giving up on this event", where, retries + 1, problem
        )


def _host(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


@hookimpl
def yamlcron_notifiers() -> Mapping[str, Notifier]:
    return {"webhook": WebhookNotifier()}
