"""The request and response values that the routes share, and JSON answers and errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from yamlcron.app import Yamlcron
    from yamlcron.http.options import HttpOptions

JSON = "application/json"


@dataclass(frozen=True)
class Context:
    """What a handler answers from.

    ``app``: the daemon's service (actions, its loop, its last reload); ``reads``: a reader
    on the same store for every read, on connections of its own, so that a request never
    waits for the loop nor the loop for it; ``options``: the server's.
    """

    app: Yamlcron
    reads: Yamlcron
    options: HttpOptions


@dataclass(frozen=True)
class Request:
    """What a handler sees of a request: method, decoded path, query, token, body."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    authorization: str = ""
    body: bytes = b""
    #: The Accept header: a browser (it accepts HTML) gets its errors as pages.
    accept: str = ""


@dataclass(frozen=True)
class Response:
    """A status, a content type and a body, with any extra headers."""

    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


class HttpError(Exception):
    """An answer other than success: ``{"error": message}`` with ``status``."""

    def __init__(
        self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers

    def response(self) -> Response:
        """The JSON error response."""
        return json_response(self.status, {"error": self.message}, self.headers)


def json_response(status: int, value: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """``value`` as JSON; what JSON cannot hold goes out as text (as ``--output json``)."""
    body = json.dumps(value, ensure_ascii=False, default=str).encode()
    return Response(status, body, JSON, headers)


def integer(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter within ``low..high``; 400 otherwise."""
    text = query.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise HttpError(400, f"?{name}= must be a whole number from {low} to {high}, not {text!r}")
    return int(text)


def seconds(query: Mapping[str, str], name: str, high: float) -> float | None:
    """A number of seconds from 0 to ``high`` (None when absent); 400 otherwise."""
    text = query.get(name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= high:  # NaN fails this too
        raise HttpError(400, f"?{name}= must be seconds from 0 to {high:g}, not {text!r}")
    return value
