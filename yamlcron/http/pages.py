"""The status page for people (SPEC §9 ``GET /``): one entry point, ``page``, for the router.

Pages are plain HTML, built on the server from the service (``Yamlcron``), with one small
script and one style sheet served from ``/static/`` (package data, no build step):

- ``/``: every job (filter ``q`` by id, ``tag``, ``status``; ``page`` and ``per``), the
  replicas, and the applied manifest with the last reload's error;
- ``/jobs/{id}``: a job and its runs (``status``; ``before`` a run id: the older page);
- ``/runs/{id}``: a run with its result, error, traceback and output.

Without the script a page still reads whole and refreshes itself (a ``<meta>`` refresh);
with it, a page refreshes in place and offers trigger, pause and resume once the person
has typed the token, which the script sends to the JSON API.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from html import escape
from importlib.resources import files
from typing import TYPE_CHECKING

from yamlcron.errors import UnknownJobError, YamlcronError
from yamlcron.http.page_html import STATUSES, Moments
from yamlcron.http.page_index import JOB_STATES, JobFilter, index
from yamlcron.http.page_runs import RunFilter, job_page, run_page
from yamlcron.http.web import JSON

if TYPE_CHECKING:
    from yamlcron.app import Yamlcron

HTML = "text/html; charset=utf-8"
#: The static files, by name, with their content types: nothing else is served from there.
STATIC = {"status.css": "text/css; charset=utf-8", "status.js": "text/javascript; charset=utf-8"}
#: Jobs or runs on one page: at most, and when the query does not say.
MAX_PER_PAGE = 1000

Response = tuple[int, str, bytes]


class BadQuery(YamlcronError):
    """A query value the page cannot use: the page answers 400 and names it."""


def page(
    app: Yamlcron, path: str, query: Mapping[str, str], *, for_people: bool = True
) -> Response | None:
    """(status, content type, body) of a page, or None when ``path`` is not a page.

    ``path`` is the request's path (decoded), ``query`` its query string's values.
    Answers 200 with the page; 404 for a job or run the store does not hold; 400 for a
    query value it cannot use; 503 when the store cannot be read (an outage, or nothing
    applied yet). Each error is a small page that says what went wrong, or, when the
    client is not a browser (``for_people`` False: it does not accept HTML), SPEC §9's
    JSON error.
    """
    if path.startswith("/static/"):
        return _static(path.removeprefix("/static/"))
    render = _route(path)
    if render is None:
        return None
    try:
        return 200, HTML, render(app, _reader(app), query)
    except BadQuery as exc:
        return _problem(400, "Bad request", str(exc), path, for_people)
    except UnknownJobError as exc:
        return _problem(404, "Not found", str(exc), path, for_people)
    except YamlcronError as exc:
        return _problem(503, "The store cannot be read", str(exc), path, for_people)


#: A page from the daemon's service, the service it reads the store through, and the query.
Render = Callable[["Yamlcron", "Yamlcron", Mapping[str, str]], bytes]


def _route(path: str) -> Render | None:
    """The page at ``path``: ``/``, ``/jobs/{id}``, ``/runs/{id}``; None for any other."""
    if path == "/":
        return _index
    parts = path.split("/")
    if len(parts) != 3 or not parts[2]:
        return None
    if parts[1] == "jobs":
        return lambda app, reads, query: _job(app, reads, parts[2], query)
    if parts[1] == "runs":
        return lambda app, reads, query: _run(app, reads, parts[2])
    return None


def _index(app: Yamlcron, reads: Yamlcron, query: Mapping[str, str]) -> bytes:
    states = {s for s, _ in JOB_STATES} | set(STATUSES)
    wanted = JobFilter(
        text=query.get("q", "").strip(),
        tag=query.get("tag", "").strip(),
        status=_choice(query, "status", states),
        page=_number(query, "page", 1),
        per=min(_number(query, "per", JobFilter.per), MAX_PER_PAGE),
    )
    return index(reads, app.reload_error, wanted, _moments(app))


def _job(app: Yamlcron, reads: Yamlcron, job_id: str, query: Mapping[str, str]) -> bytes:
    before = _number(query, "before", 0)
    wanted = RunFilter(
        status=_choice(query, "status", {"", *STATUSES}),
        before=before or None,
        per=min(_number(query, "per", RunFilter.per), MAX_PER_PAGE),
    )
    return job_page(reads, job_id, wanted, _moments(app))


def _run(app: Yamlcron, reads: Yamlcron, run_id: str) -> bytes:
    if not run_id.isdigit() or not run_id.isascii():
        raise UnknownJobError(f"no run {run_id!r}: a run id is a whole number")
    return run_page(reads, int(run_id), _moments(app))


def _reader(app: Yamlcron) -> Yamlcron:
    """Where pages read the store: the HTTP server's reader when there is one.

    The reader has connections of its own, so that a page never waits for the loop, nor
    the loop for a page.
    """
    return app.http.reads if app.http is not None else app


def _moments(app: Yamlcron) -> Moments:
    """Now, and the daemon's rule for times (``yamlcron --utc run --http``)."""
    options = app.http_options
    return Moments(app.clock()) if options is None else Moments(app.clock(), options.times)


def _number(query: Mapping[str, str], key: str, default: int) -> int:
    """A positive whole number from the query, ``default`` when absent or empty."""
    text = query.get(key, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) < 1 or len(text) > 12:
        raise BadQuery(f"{key}: must be a whole number from 1, got {text[:40]!r}")
    return int(text)


def _choice(query: Mapping[str, str], key: str, allowed: set[str]) -> str:
    """One of ``allowed`` from the query ("" when absent)."""
    value = query.get(key, "")
    if value not in allowed:
        choices = ", ".join(sorted(a for a in allowed if a))
        raise BadQuery(f"{key}: must be one of {choices}; got {value[:40]!r}")
    return value


def _problem(status: int, title: str, message: str, path: str, for_people: bool) -> Response:
    """A small page for an error: what went wrong, and the way back; JSON for a program."""
    if not for_people:
        return status, JSON, json.dumps({"error": message}, ensure_ascii=False).encode()
    root = "../" if path.count("/") > 1 else "./"
    body = (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{status} {escape(title)} · yamlcron</title>"
        f'<link rel="stylesheet" href="{root}static/status.css"></head><body>'
        f'<main id="main"><h1>{escape(title)}</h1><p class="problem">{escape(message)}</p>'
        f'<p><a href="{root}">Back to the jobs</a></p></main></body></html>\n'
    )
    return status, HTML, body.encode()


def _static(name: str) -> Response | None:
    kind = STATIC.get(name)
    if kind is None:
        return None
    return 200, kind, _asset(name)


@cache
def _asset(name: str) -> bytes:
    """A static file's bytes, read once from the installed package."""
    return files("yamlcron.http").joinpath("static", name).read_bytes()
