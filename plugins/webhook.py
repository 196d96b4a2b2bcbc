"""The ``webhook`` notifier: POST each event as JSON to a URL.

A failed delivery (no connection, a timeout, HTTP 5xx) is tried again ``retries`` times,
0.5 s, 1 s, 2 s... apart; an HTTP 4xx is not retried, and a redirect (3xx) is not
followed: the event and its headers go to the URL the manifest names, nowhere else. A
webhook that stays down is logged and given up on: the run is recorded all the same and the
scheduler carries on. Headers may
hold secrets through ``${VAR}``; logs name only the URL's scheme and host, never its path,
query or headers; a URL or header value that cannot be sent (a line break from ``${VAR}``)
is reported by what is wrong, never by its value.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
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
        url = str(options["url"])
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "yamlcron",
            **options.get("headers", {}),
        }
        where = _host(url)
        invalid = _unsendable(url, headers)
        if invalid is not None:
            log.warning("webhook %s: not sent: %s", where, invalid)
            return
        body = json.dumps(event.to_json(), default=str).encode()
        timeout = parse_duration(options.get("timeout", "5s"))
        retries = int(options.get("retries", 3))
        problem = _Problem("not tried", True)
        for attempt in range(retries + 1):
            answer = _post(url, body, headers, timeout)
            if answer is None:
                return
            problem = answer
            if not problem.retry:
                log.warning("webhook %s %s", where, problem.text)
                return
            if attempt < retries:
                time.sleep(0.5 * 2**attempt)
        log.warning(
            "webhook %s failed %d times (%s); giving up on this event",
            where,
            retries + 1,
            problem.text,
        )


@dataclass(frozen=True, slots=True)
class _Problem:
    """Why a delivery failed, in words that hold no secret, and whether to try again."""

    text: str
    retry: bool


def _post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> _Problem | None:
    """POST once; None when the endpoint took it."""
    # Imported here: urllib.request brings http, email and ssl, which every command
    # would pay for when it loads the plugins; only a daemon sends.
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with _opener().open(request, timeout=timeout) as response:
            response.read()
        return None
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            return _Problem(f"answered HTTP {exc.code}, a redirect: {_NOT_FOLLOWED}", False)
        if exc.code < 500:
            return _Problem(f"refused the event: HTTP {exc.code}", False)
        return _Problem(f"HTTP {exc.code}", True)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return _Problem(type(exc).__name__, True)
    except ValueError as exc:  # http.client's own checks: never its message, which quotes
        return _Problem(f"not sent: {type(exc).__name__} (the URL or a header is invalid)", False)


#: Why a 3xx ends the delivery. A redirect would take the event and its headers (a bearer
#: token, say) to a place the manifest never named, and urllib would turn the POST into a
#: GET there: a moved endpoint is fixed in the manifest.
_NOT_FOLLOWED = "not followed (redirects are never followed; put the new URL in the manifest)"


@cache
def _opener() -> Any:
    """A urllib opener that follows no redirect: a 3xx comes back as an HTTPError."""
    import urllib.request

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return urllib.request.build_opener(_NoRedirect)


def _unsendable(url: str, headers: Mapping[str, str]) -> str | None:
    """Why this request cannot be sent as written, naming no secret; None if it can.

    ``${VAR}`` is expanded at run time, so a value with a line break reaches us here: sent,
    it would split the request; refused by http.client, its message would quote the secret.
    """
    if any(c.isspace() or not c.isprintable() for c in url):
        return "its URL holds a space or a control character (after ${VAR} expansion)"
    for name, value in headers.items():
        if any(c in value for c in "\r\n\0") or any(not c.isprintable() for c in name):
            return f"header {_named(name)} holds a line break or a control character"
    return None


def _named(name: str) -> str:
    return repr(name) if name.isprintable() else "(unprintable name)"


def _host(url: str) -> str:
    """The scheme, host and port of ``url``: what a log line may show of it."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # not a number: show none of it
        port = None
    return f"{parts.scheme}://{parts.hostname}{f':{port}' if port else ''}"


@hookimpl
def yamlcron_notifiers() -> Mapping[str, Notifier]:
    return {"webhook": WebhookNotifier()}
