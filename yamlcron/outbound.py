"""Small HTTP requests to outside services: webhooks, healthchecks pings, the heartbeat.

Their URLs often hold a secret (a token in the path, a healthchecks ping key), so nothing
here names more of a URL than its scheme, host and port (``where``). A failure raises
``DeliveryError`` with a message that is safe to log.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Mapping

from yamlcron.errors import DeliveryError


class Refused(DeliveryError):
    """The server answered with an HTTP 4xx: asking again would not help."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class GaveUp(DeliveryError):
    """Every try failed (no connection, a timeout, an HTTP 5xx); ``problem`` says the last."""

    def __init__(self, message: str, tries: int, problem: str) -> None:
        super().__init__(message)
        self.tries = tries
        self.problem = problem


def where(url: str) -> str:
    """The part of ``url`` that is safe to log: ``scheme://host[:port]``."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


def send(
    url: str,
    body: bytes | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 5.0,
    retries: int = 0,
) -> None:
    """POST ``body`` (GET without one), trying ``retries`` more times 0.5 s, 1 s... apart.

    Raises:
        Refused: the server answered 4xx (not retried).
        GaveUp: no try got a 2xx or 3xx answer.
    """
    # Imported here: urllib.request brings http, email and ssl, which every command would
    # pay for when it loads the plugins; only a daemon sends.
    import http.client
    import urllib.error
    import urllib.request

    sent = {"User-Agent": "yamlcron", **(headers or {})}
    problem = ""
    for attempt in range(retries + 1):
        request = urllib.request.Request(url, data=body, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
            return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                raise Refused(f"{where(url)} answered HTTP {exc.code}", exc.code) from None
            problem = f"HTTP {exc.code}"
        except (OSError, http.client.HTTPException) as exc:  # URLError and timeouts are OSErrors
            problem = type(exc).__name__
        if attempt < retries:
            time.sleep(0.5 * 2**attempt)
    tries = retries + 1
    times = f" {tries} times" if tries > 1 else ""
    raise GaveUp(f"{where(url)} failed{times} ({problem})", tries, problem)
