"""``/api/v1``: the jobs, their runs, the replicas and the manifest, and three actions.

Every answer has the shape ``--output json`` prints (``yamlcron.shapes``). Reads are open;
``trigger``, ``pause`` and ``resume`` need the bearer token (``auth``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from yamlcron.http.web import Context, HttpError, Request, Response, integer, json_response, seconds
from yamlcron.runs import RunStatus
from yamlcron.shapes import job_json, replica_json, run_json

#: SPEC §1's job id: anything else (a path, ``..``) names no job, and the store is not asked.
JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: Most runs one request lists; a bigger history is read in pages of ``?status=`` or ``limit``.
MAX_RUNS = 1000
#: Longest ``?wait=`` on a trigger: the request holds one of the server's few threads.
MAX_WAIT = 300.0
STATUSES = frozenset(s.value for s in RunStatus)


def job_id(text: str) -> str:
    """``text`` if it can be a job id; 404 otherwise."""
    if not JOB_ID.fullmatch(text):
        raise HttpError(404, f"no job {text!r}")
    return text


def jobs(ctx: Context, request: Request) -> Response:
    """``GET /api/v1/jobs``: every stored job, by id."""
    return json_response(200, [job_json(job, ctx.options.times) for job in ctx.reads.jobs()])


def job(ctx: Context, request: Request, name: str) -> Response:
    """``GET /api/v1/jobs/{id}``."""
    return json_response(200, job_json(ctx.reads.job(job_id(name)), ctx.options.times))


def runs(ctx: Context, request: Request, name: str) -> Response:
    """``GET /api/v1/jobs/{id}/runs?limit=N&status=S[,S...]``: newest first."""
    limit = integer(request.query, "limit", 50, 1, MAX_RUNS)
    statuses = _statuses(request.query)
    found = ctx.reads.history(job_id(name), limit, statuses=statuses)
    shown = ctx.options.times.of(ctx.reads.zones([name]).get(name))
    return json_response(200, [run_json(run, shown) for run in found])


def run(ctx: Context, request: Request, number: str) -> Response:
    """``GET /api/v1/runs/{run_id}``: one run with its output, error and traceback."""
    if not number.isdigit() or len(number) > 18:
        raise HttpError(404, f"no run {number!r}")
    found = ctx.reads.history(run_id=int(number))[0]
    shown = ctx.options.times.of(ctx.reads.zones([found.job_id]).get(found.job_id))
    return json_response(200, run_json(found, shown))


def replicas(ctx: Context, request: Request) -> Response:
    """``GET /api/v1/replicas``: the live ``yamlcron run`` replicas of the store."""
    return json_response(200, [replica_json(r, ctx.options.times) for r in ctx.reads.replicas()])


def manifest(ctx: Context, request: Request) -> Response:
    """``GET /api/v1/manifest``: the applied manifest and the last reload's error, if any."""
    record = ctx.reads.applied()
    error = ctx.loop.state().reload_error  # the daemon's own: a reload is its business
    times = ctx.options.times
    return json_response(
        200,
        {
            "digest": record.digest if record else None,
            "commit": record.commit if record else None,
            "applied_at": times.shown(record.applied_at) if record else None,
            "path": record.path if record else str(ctx.app.path),
            "last_reload_error": None
            if error is None
            else {"at": times.shown(error.at), "message": error.message},
        },
    )


def trigger(ctx: Context, request: Request, name: str) -> Response:
    """``POST /api/v1/jobs/{id}/trigger[?wait=SECONDS]``: 202, or 200 and the finished run."""
    wait = seconds(request.query, "wait", MAX_WAIT)
    _action(ctx, request)
    handle = ctx.app.trigger(job_id(name))
    if wait is not None:
        try:
            finished = handle.result(wait)
        except TimeoutError:
            pass
        else:
            shown = ctx.options.times.of(ctx.reads.zones([name]).get(name))
            return json_response(200, run_json(finished, shown))
    return json_response(202, {"job_id": name})


def pause(ctx: Context, request: Request, name: str) -> Response:
    """``POST /api/v1/jobs/{id}/pause``: 200 and the job."""
    _action(ctx, request)
    ctx.app.pause(job_id(name))
    return job(ctx, request, name)


def resume(ctx: Context, request: Request, name: str) -> Response:
    """``POST /api/v1/jobs/{id}/resume``: 200 and the job, with its next fire time from now."""
    _action(ctx, request)
    ctx.app.resume(job_id(name))
    return job(ctx, request, name)


def _statuses(query: Mapping[str, str]) -> tuple[str, ...]:
    text = query.get("status")
    if text is None:
        return ()
    wanted = tuple(s for s in text.split(",") if s)
    unknown = [s for s in wanted if s not in STATUSES]
    if unknown or not wanted:
        raise HttpError(
            400, f"?status= takes {', '.join(sorted(STATUSES))} (comma-separated), not {text!r}"
        )
    return wanted


def _action(ctx: Context, request: Request) -> None:
    """An action needs the token, and takes no fields: a body, if any, is a JSON object."""
    from yamlcron.http.auth import require_token

    require_token(ctx.options.token, request.authorization)
    if request.body.strip():
        try:
            fields: Any = json.loads(request.body)
        except ValueError:
            raise HttpError(400, "the body is not JSON (an action takes none)") from None
        if not isinstance(fields, dict):
            raise HttpError(400, "the body must be a JSON object (an action takes none)")
