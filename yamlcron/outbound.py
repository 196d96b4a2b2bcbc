"""Small HTTP requests to outside services: webhooks, healthchecks pings, the heartbeat.

Their URLs often hold a secret (a token in the path, a healthchecks ping key), so nothing
here names more of a URL than its scheme, host and port (``where``). A failure raises
``DeliveryError`` with a message that is safe to log.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Mapping
from functools import cache
from typing import Any

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
    try:
        port = parts.port
    except ValueError:  # not a number: show none of it
        port = None
    return f"{parts.scheme}://{parts.hostname}{f':{port}' if port else ''}"


#: Why a 3xx ends a delivery. A redirect would take the request and its headers (a bearer
#: token, say) to a place the manifest never named, and urllib would turn a POST into a
#: GET there: a moved endpoint is fixed in the manifest.
NOT_FOLLOWED = "not followed (redirects are never followed; put the new URL in the manifest)"


def unsendable(url: str, headers: Mapping[str, str]) -> str | None:
    """Why this request cannot be sent as written, naming no secret; None if it can.

    ``${VAR}`` is expanded at run time, so a value with a line break reaches us here: sent,
    it would split the request; refused by http.client, its message would quote the secret.
    """
    if any(c.isspace() or not c.isprintable() for c in url):
        return "its URL holds a space or a control character (after ${VAR} expansion)"
    for name, value in headers.items():
        if any(c in value for c in "\r\n\0") or not name.isprintable():
            shown = repr(name) if name.isprintable() else "(unprintable name)"
            return f"header {shown} holds a line break or a control character"
    return None


@cache
def _opener() -> Any:
    """A urllib opener that follows no redirect: a 3xx comes back as an HTTPError."""
    import urllib.request

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return urllib.request.build_opener(_NoRedirect)


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
        GaveUp: no try got a 2xx answer.
        DeliveryError: the URL or a header cannot be sent as written (a line break that
            ``${VAR}`` put there), or the server answered with a redirect, never followed.
    """
    # Imported here: urllib.request brings http, email and ssl, which every command would
    # pay for when it loads the plugins; only a daemon sends.
    import http.client
    import urllib.error
    import urllib.request

    sent = {"User-Agent": "yamlcron", **(headers or {})}
    invalid = unsendable(url, sent)
    if invalid is not None:
        raise DeliveryError(f"{where(url)}: not sent: {invalid}")
    problem = ""
    for attempt in range(retries + 1):
        request = urllib.request.Request(url, data=body, headers=sent)
        try:
            with _opener().open(request, timeout=timeout) as response:
                response.read()
            return
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                message = f"{where(url)} answered HTTP {exc.code}, a redirect: {NOT_FOLLOWED}"
                raise DeliveryError(message) from None
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
