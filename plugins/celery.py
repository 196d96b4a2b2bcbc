"""The ``celery`` executor: ``task`` runs sent to Celery workers by name (``docs/celery.md``).

::

    executors:
      celery: {broker: "redis://${REDIS_HOST}:6379/0", backend: "redis://${REDIS_HOST}:6379/1"}
    jobs:
      sync:
        trigger: {cron: "*/5 * * * *"}
        run: {task: billing.tasks.sync, kwargs: {full: false}, timeout: 10m}
        executor: {via: celery, queue: billing}

yamlcron imports none of the application's code: the task is sent by name
(``send_task``). Its task id is the run's remote reference (``yamlcron.remote``), so a
send repeated after a crash names the same task; the job's ``timeout`` is the task's hard
``time_limit`` (the soft limit a little earlier); ``expires`` is the scheduled time plus
``misfire_grace_time``, so a message that waited too long in the queue is dropped by the
worker and the run recorded ``missed``. The outcome is read from the result backend, in
one round trip per poll for a key-value backend (Redis): the return value (JSON) is the
run's result; an exception's type, message and traceback its error; a time limit or a
revoke a ``timeout``; a worker lost mid-task ``interrupted``.

Celery redelivers a message whose worker died (late acks) and does not deduplicate task
ids; ``guard(app)``, one line in the Celery application, makes each task id run at most
once on the workers (see its docstring). Celery is an optional extra
(``pip install 'yamlcron[celery]'``) and is imported only when a task is sent or polled.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from yamlcron.errors import YamlcronError
from yamlcron.hookspecs import hookimpl
from yamlcron.interfaces import Executor, Outcome, RunContext
from yamlcron.remote import RemoteRun
from yamlcron.runs import RunError, RunStatus

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger("yamlcron.celery")

OPTIONS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "required": ["broker", "backend"],
    "additionalProperties": False,
    "properties": {
        "broker": {
            "type": "string",
            "minLength": 1,
            "description": "The broker URL (redis://, amqp://...); ${VAR} is expanded when sent.",
        },
        "backend": {
            "type": "string",
            "minLength": 1,
            "description": "The result backend URL the outcomes are read from (redis://...).",
        },
        "queue": {"type": "string", "minLength": 1, "description": "The queue to send to."},
        "priority": {
            "type": "integer",
            "minimum": 0,
            "maximum": 255,
            "description": "The message priority (as the broker understands it).",
        },
        "headers": {
            "type": "object",
            "additionalProperties": {"type": ["string", "number", "boolean"]},
            "description": "Message headers added to the ones yamlcron sets (yamlcron_job_id...).",
        },
    },
}
#: Celery states of a task that has not ended.
_GOING = frozenset({"PENDING", "RECEIVED", "STARTED", "RETRY"})
#: Exceptions that say the task ran past its time.
_TIME_LIMITS = frozenset({"TimeLimitExceeded", "SoftTimeLimitExceeded"})
#: A task still unknown to the backend this long past its expiry never started: missed.
_EXPIRY_SLACK = timedelta(seconds=10)


class CeleryExecutor:
    """Sends ``task`` runs by name and reads their outcomes from the result backend."""

    options_schema = OPTIONS_SCHEMA

    def __init__(self) -> None:
        """No Celery app exists until a first task is sent."""
        self._apps: dict[tuple[str, str], Celery] = {}
        self._lock = threading.Lock()

    def execute(self, context: RunContext) -> Outcome:
        """Never called for a task run (the tracker sends those); the manifest forbids others."""
        message = "the celery executor runs task runs only (run: {task: ...})"
        return Outcome(status=RunStatus.FAILURE, error=RunError(type="Misused", message=message))

    def _app(self, options: Mapping[str, Any]) -> Celery:
        key = (str(options["broker"]), str(options["backend"]))
        with self._lock:
            app = self._apps.get(key)
            if app is None:
                app = self._apps[key] = _new_app(*key)
            return app

    def send(self, runs: Sequence[RemoteRun]) -> Mapping[str, Outcome]:
        """Send each run's task by name, its task id the run's reference."""
        for (broker, backend), batch in _by_app(runs).items():
            app = self._app({"broker": broker, "backend": backend})
            with app.producer_or_acquire() as producer:
                for run in batch:
                    app.send_task(run.job.run.task or "", producer=producer, **_message(run))
        return {}

    def poll(self, runs: Sequence[RemoteRun]) -> Mapping[str, Outcome]:
        """The outcomes of the runs whose tasks ended, read in one round trip per backend."""
        ended: dict[str, Outcome] = {}
        now = datetime.now(UTC)
        for (broker, backend), batch in _by_app(runs).items():
            metas = _metas(self._app({"broker": broker, "backend": backend}), batch)
            for run, meta in zip(batch, metas, strict=True):
                outcome = outcome_of(meta, run, now)
                if outcome is not None:
                    ended[run.reference] = outcome
        return ended


def _new_app(broker: str, backend: str) -> Celery:
    try:
        from celery import Celery
    except ImportError:
        raise YamlcronError(
            "the celery executor needs Celery: pip install 'yamlcron[celery]'"
        ) from None
    app = Celery("yamlcron", broker=broker, backend=backend, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # A broker that is down fails the send at once; the tracker tries again later.
        broker_connection_timeout=4,
        broker_connection_max_retries=1,
        result_backend_transport_options={"socket_timeout": 10, "socket_connect_timeout": 4},
    )
    return app


def _by_app(runs: Sequence[RemoteRun]) -> dict[tuple[str, str], list[RemoteRun]]:
    groups: dict[tuple[str, str], list[RemoteRun]] = {}
    for run in runs:
        key = (str(run.options["broker"]), str(run.options["backend"]))
        groups.setdefault(key, []).append(run)
    return groups


def _message(run: RemoteRun) -> dict[str, Any]:
    """``send_task``'s options for ``run``: id, routing, limits, expiry, headers."""
    options = run.options
    timeout = run.job.run.timeout
    headers = {
        **dict(options.get("headers", {})),
        "yamlcron_job_id": run.job.id,
        "yamlcron_run_id": run.run_id,
        "yamlcron_scheduled_at": run.scheduled_at.isoformat(),
        "yamlcron_attempt": run.attempt,
    }
    message: dict[str, Any] = {
        "task_id": run.reference,
        "args": list(run.job.run.args),
        "kwargs": dict(run.job.run.kwargs),
        "headers": headers,
    }
    if timeout is not None:
        message["time_limit"] = timeout
        message["soft_time_limit"] = max(timeout * 0.9, timeout - 5.0)
    if run.expires_at is not None:
        message["expires"] = run.expires_at
    for key in ("queue", "priority"):
        if key in options:
            message[key] = options[key]
    return message


def _metas(app: Celery, runs: list[RemoteRun]) -> list[Mapping[str, Any] | None]:
    """Each task's meta as stored (raw JSON, exceptions as their type and message)."""
    from celery.backends.base import KeyValueStoreBackend

    backend = app.backend
    if isinstance(backend, KeyValueStoreBackend):
        keys = [backend.get_key_for_task(r.reference) for r in runs]
        return [None if v is None else json.loads(v) for v in backend.mget(keys)]
    metas: list[Mapping[str, Any] | None] = []
    for run in runs:  # a backend without a batch read (database): one read each
        meta = dict(backend.get_task_meta(run.reference))
        result = meta.get("result")
        if isinstance(result, BaseException):
            meta["result"] = {"exc_type": type(result).__name__, "exc_message": str(result)}
        metas.append(meta)
    return metas


def outcome_of(meta: Mapping[str, Any] | None, run: RemoteRun, now: datetime) -> Outcome | None:
    """The run's outcome from its task's meta in the backend; None while it goes on."""
    state = "PENDING" if meta is None else str(meta.get("status", "PENDING"))
    if state in _GOING:
        expires = run.expires_at
        if state == "PENDING" and expires is not None and now > expires + _EXPIRY_SLACK:
            message = "the task did not start within misfire_grace_time; its message expired"
            return Outcome(status=RunStatus.MISSED, error=RunError(type="Missed", message=message))
        return None
    assert meta is not None
    result = meta.get("result")
    if state == "SUCCESS":
        return Outcome(status=RunStatus.SUCCESS, result=result)
    kind, message = _exception(result)
    trace = meta.get("traceback")
    error = RunError(type=kind, message=message, traceback=trace if trace else None)
    if state == "REVOKED":
        if message.strip("'\"[]") == "expired":
            missed = (
                "the message waited in the queue past misfire_grace_time; the worker dropped it"
            )
            return Outcome(status=RunStatus.MISSED, error=RunError(type="Missed", message=missed))
        return Outcome(status=RunStatus.TIMEOUT, error=error)
    if kind in _TIME_LIMITS:
        limit = "soft time limit" if kind.startswith("Soft") else "time limit"
        message = f"the task ran past its {limit} (the job's timeout)"
        return Outcome(status=RunStatus.TIMEOUT, error=replace(error, message=message))
    if kind == "WorkerLostError":
        return Outcome(status=RunStatus.INTERRUPTED, error=error)
    return Outcome(status=RunStatus.FAILURE, error=error)


def _exception(result: Any) -> tuple[str, str]:
    """An exception as the JSON backend keeps it: its type name and message."""
    if not isinstance(result, Mapping):
        return "TaskFailed", str(result)
    kind = str(result.get("exc_type", "TaskFailed"))
    raw = result.get("exc_message", "")
    if isinstance(raw, list | tuple):
        text = raw[0] if len(raw) == 1 else ", ".join(str(a) for a in raw)
    else:
        text = raw
    return kind, str(text)


# -- the worker side -----------------------------------------------------------------------


def guard(app: Any, claim: Callable[[str], bool] | None = None, ttl: float = 7 * 86400) -> None:
    """Make every task of ``app`` run at most once per task id: call it beside ``Celery()``.

    ::

        app = Celery("billing", broker=..., backend="redis://...")
        guard(app)  # from yamlcron.plugins.celery import guard

    Before a task runs, its id is claimed atomically (``SET NX`` in the Redis result
    backend, kept ``ttl`` seconds; ``claim`` replaces that for other stores: it returns
    True the first time it sees an id). A message whose id was claimed before is acked
    and not run: a send that yamlcron repeated after a crash, or a message redelivered
    after its worker died mid-task (late acks). The latter's task is marked failed
    (``WorkerLostError``) unless it has a result, so the run is recorded ``interrupted``
    and retried under its job's ``retry`` with a new id. A claimed task is marked
    ``STARTED`` at once, so that yamlcron can tell a task that waits in the queue from one
    under way. Call it before the tasks are declared (they take ``app.Task`` as their base).
    """
    from celery.exceptions import Ignore, WorkerLostError

    first = claim or _redis_claim(app, ttl)
    base = app.Task

    class AtMostOnce(base):  # type: ignore[misc,valid-type]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            request = self.request
            if request.called_directly or not request.id:
                return super().__call__(*args, **kwargs)
            if first(request.id):
                self.backend.store_result(request.id, None, "STARTED", request=request)
                return super().__call__(*args, **kwargs)
            redelivered = bool((request.delivery_info or {}).get("redelivered"))
            meta = self.backend.get_task_meta(request.id)
            if redelivered and meta.get("status") in ("PENDING", "STARTED"):
                lost = WorkerLostError("the worker running this task was lost; not run again")
                self.backend.mark_as_failure(request.id, lost, request=request)
            raise Ignore()

    app.Task = AtMostOnce


def _redis_claim(app: Any, ttl: float) -> Callable[[str], bool]:
    client = getattr(app.backend, "client", None)
    if client is None or not callable(getattr(client, "set", None)):
        raise YamlcronError(
            "guard(app) needs a Redis result backend, or claim=: a function that returns True "
            "the first time it sees a task id"
        )

    def first(task_id: str) -> bool:
        return bool(client.set(f"yamlcron-once-{task_id}", 1, nx=True, ex=int(ttl)))

    return first


@hookimpl
def yamlcron_executors() -> Mapping[str, Executor]:
    return {"celery": CeleryExecutor()}
