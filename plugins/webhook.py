"""The ``webhook`` notifier: POST each event as JSON to a URL.

A failed delivery (no connection, a timeout, HTTP 5xx) is tried again ``retries`` times,
0.5 s, 1 s, 2 s... apart; an HTTP 4xx is not retried, and a redirect is not followed
(``outbound``): the event and its headers reach the URL written, nowhere else. A webhook
that stays down is logged (on ``yamlcron.notify.webhook``), counted as a failed delivery
and given up on: the run is recorded all the same and the scheduler carries on. Headers
may hold secrets through ``${VAR}``; logs name only the URL's scheme and host, never its
path, query or headers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from yamlcron.durations import parse_duration
from yamlcron.errors import DeliveryError
from yamlcron.events import ManifestEvent, RunEvent
from yamlcron.hookspecs import hookimpl
from yamlcron.interfaces import Notifier
from yamlcron.outbound import GaveUp, Refused, send, where


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
        url = str(options["url"])
        try:
            send(
                url,
                json.dumps(event.to_json(), default=str).encode(),
                headers={"Content-Type": "application/json", **options.get("headers", {})},
                timeout=parse_duration(options.get("timeout", "5s")),
                retries=int(options.get("retries", 3)),
            )
        except Refused as exc:
            message = f"webhook {where(url)} refused the event: HTTP {exc.code}"
            raise DeliveryError(message) from None
        except GaveUp as exc:
            raise DeliveryError(
                f"webhook {where(url)} failed {exc.tries} times ({exc.problem}); "
                "giving up on this event"
            ) from None
        except DeliveryError as exc:  # not sent, or a redirect not followed: said by outbound
            raise DeliveryError(f"webhook {exc}") from None


@hookimpl
def yamlcron_notifiers() -> Mapping[str, Notifier]:
    return {"webhook": WebhookNotifier()}
