"""The WSGI application: each request to its handler, every error as JSON.

Routes are a table of (method, pattern, handler). A path that matches with another
method answers 405 with ``Allow``; a path that matches nothing goes to the status page
(``yamlcron.http.pages``) for ``/``, ``/jobs/...``, ``/runs/...`` and ``/static/...``,
and is a 404 otherwise. HEAD is GET without the body.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from yamlcron.errors import StoreError, UnknownJobError, YamlcronError
from yamlcron.http import api, health
from yamlcron.http.web import Context, HttpError, Request, Response

if TYPE_CHECKING:
    from yamlcron.metrics import Metrics

log = logging.getLogger("yamlcron.http")

#: Largest body read: actions take none. Bigger ones are refused unread (413).
MAX_BODY = 64 * 1024
#: The status page's paths, answered by ``yamlcron.http.pages``.
PAGES = re.compile(r"/(?:(?:jobs|runs|static)(?:/.*)?)?")

Handler = Callable[..., Response]
ROUTES: tuple[tuple[str, re.Pattern[str], Handler], ...] = (
    ("GET", re.compile(r"/livez"), lambda ctx, request: health.livez(ctx.app)),
    ("GET", re.compile(r"/readyz"), lambda ctx, request: health.readyz(ctx.app, ctx.reads)),
    ("GET", re.compile(r"/api/v1/jobs"), api.jobs),
    ("GET", re.compile(r"/api/v1/jobs/([^/]+)"), api.job),
    ("GET", re.compile(r"/api/v1/jobs/([^/]+)/runs"), api.runs),
    ("POST", re.compile(r"/api/v1/jobs/([^/]+)/trigger"), api.trigger),
    ("POST", re.compile(r"/api/v1/jobs/([^/]+)/pause"), api.pause),
    ("POST", re.compile(r"/api/v1/jobs/([^/]+)/resume"), api.resume),
    ("GET", re.compile(r"/api/v1/runs/([^/]+)"), api.run),
    ("GET", re.compile(r"/api/v1/replicas"), api.replicas),
    ("GET", re.compile(r"/api/v1/manifest"), api.manifest),
)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class Application:
    """The WSGI callable that ``server`` serves: routes, pages and ``/metrics``."""

    def __init__(self, context: Context, metrics: Metrics | None) -> None:
        self.context = context
        self.metrics = metrics

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        head = environ.get("REQUEST_METHOD") == "HEAD"
        try:
            response = self.answer(read_request(environ))
        except HttpError as exc:
            response = exc.response()
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            *response.headers,
        ]
        start_response(f"{response.status} {HTTPStatus(response.status).phrase}", headers)
        return [b"" if head else response.body]

    def answer(self, request: Request) -> Response:
        """The response to ``request``; errors become JSON with their status."""
        try:
            return self._route(request)
        except HttpError as exc:
            return exc.response()
        except UnknownJobError as exc:
            return HttpError(404, str(exc)).response()
        except StoreError as exc:
            return HttpError(503, f"the store is unreachable: {exc}").response()
        except YamlcronError as exc:
            return HttpError(400, str(exc)).response()
        except Exception:  # a bug: logged with its traceback, answered without it
            log.exception("%s %s failed", request.method, request.path)
            return HttpError(500, "internal error; see the daemon's log").response()

    def _route(self, request: Request) -> Response:
        if request.path == "/metrics":
            _only(request, "GET")
            return self._metrics()
        allowed: set[str] = set()
        for method, pattern, handler in ROUTES:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if method == request.method:
                return handler(self.context, request, *match.groups())
            allowed.add(method)
        if allowed:
            raise _not_allowed(request, allowed)
        if PAGES.fullmatch(request.path):
            _only(request, "GET")
            return self._page(request)
        raise HttpError(404, f"no such path: {request.path}")

    def _metrics(self) -> Response:
        if self.metrics is None:
            raise HttpError(404, "metrics are off")
        body, content_type = self.metrics.exposition()
        return Response(200, body, content_type)

    def _page(self, request: Request) -> Response:
        try:
            from yamlcron.http import pages  # type: ignore[attr-defined,unused-ignore]
        except ImportError:
            raise HttpError(404, f"no such path: {request.path}") from None
        answer = pages.page(
            self.context.app,
            request.path,
            request.query,
            for_people="text/html" in request.accept,
        )
        if answer is None:
            raise HttpError(404, f"no such path: {request.path}")
        status, content_type, body = answer
        return Response(status, body, content_type)


def read_request(environ: dict[str, Any]) -> Request:
    """The request's parts; a body over ``MAX_BODY`` is refused unread (413)."""
    method = str(environ.get("REQUEST_METHOD", "GET"))
    length_text = str(environ.get("CONTENT_LENGTH") or "0")
    if not length_text.isdigit():
        raise HttpError(400, f"bad Content-Length {length_text!r}")
    length = int(length_text)
    if length > MAX_BODY:
        raise HttpError(413, f"the body is {length} bytes; at most {MAX_BODY} are read")
    body = environ["wsgi.input"].read(length) if length else b""
    # PEP 3333 hands the path over as latin-1 text; the bytes sent were UTF-8.
    raw_path = str(environ.get("PATH_INFO", "/")).encode("latin-1")
    try:
        path = raw_path.decode()
    except UnicodeDecodeError:
        raise HttpError(400, "the path is not UTF-8") from None
    try:
        query = dict(parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True))
    except ValueError:
        raise HttpError(400, "the query string is malformed") from None
    return Request(
        method="GET" if method == "HEAD" else method,
        path=path,
        query=query,
        authorization=str(environ.get("HTTP_AUTHORIZATION", "")),
        body=body,
        accept=str(environ.get("HTTP_ACCEPT", "")),
    )


def _only(request: Request, method: str) -> None:
    if request.method != method:
        raise _not_allowed(request, {method})


def _not_allowed(request: Request, allowed: set[str]) -> HttpError:
    methods = sorted(allowed | ({"HEAD"} if "GET" in allowed else set()))
    return HttpError(
        405,
        f"{request.method} is not allowed on {request.path}; use {' or '.join(methods)}",
        (("Allow", ", ".join(methods)),),
    )
