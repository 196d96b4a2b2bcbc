"""Remote runs: work handed to another engine (Celery now; Kubernetes Jobs or RQ next).

A ``task`` run is not executed on the scheduler's host: a *remote executor* sends it to
an engine that runs it elsewhere, and reports its outcome when the engine has one. What
makes that safe across scheduler crashes (SPEC §5):

- **The reference.** Every remote run has one, derived deterministically from the store's
  identity, the job id, the scheduled time and the attempt (``reference``), and written in
  the very transaction that claims the run, before anything is sent. The engine knows the
  run by it (a Celery task id, a Kubernetes Job name), so sending it again is recognisable
  as the same run: the engine's idempotency key.
- **Adoption.** A remote run survives its scheduler: a restart or a dead replica's reaped
  lease does not mark it ``interrupted``. The next scheduler *adopts* it (``RemoteStore.
  adopt_remote``): one never sent is sent; one sent is polled, kept ``running`` while the
  engine has it and recorded with its real outcome once it ends.
- **One tracker.** A daemon follows all its remote runs on one thread
  (``yamlcron.remotetracker``), sending and polling in batches: no thread waits per run.

A remote executor implements ``RemoteExecutor``; ``docs/plugins.md`` says what each method
must do, and ``plugins/celery.py`` is the reference implementation.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from yamlcron.interfaces import Outcome, RunContext
from yamlcron.model import JobSpec
from yamlcron.runs import Lease, Run, RunError, RunStatus
from yamlcron.templates import expand

#: The namespace of references (uuid5): a fixed value, so that every replica and every
#: version of yamlcron derives the same reference for the same run.
_NAMESPACE = uuid.UUID("5d0c1f4e-6a53-4c59-9a8e-2f1b8c0e7a31")


def reference(store_id: str, job_id: str, scheduled_at: datetime, attempt: int) -> str:
    """The remote reference of a run: the same inputs always give the same text.

    The store's identity keeps two stores (staging and production on one broker) from
    ever naming two runs alike.
    """
    moment = scheduled_at.isoformat(timespec="microseconds")
    return str(uuid.uuid5(_NAMESPACE, f"{store_id}\n{job_id}\n{moment}\n{attempt}"))


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteRun:
    """One remote run as its executor sees it.

    ``options`` are the job's executor options (its ``executor: {via: ...}`` over the
    manifest's ``executors:`` settings) with ``${VAR}`` expanded just now; ``expires_at``
    is when a run that has not started yet is to be dropped and recorded ``missed``
    (its scheduled time plus ``misfire_grace_time``; None for no limit).
    """

    reference: str
    run_id: int
    job: JobSpec
    scheduled_at: datetime
    attempt: int
    options: Mapping[str, Any]
    env: Mapping[str, str]
    expires_at: datetime | None


@runtime_checkable
class RemoteExecutor(Protocol):
    """An executor that hands ``task`` runs to another engine; see ``docs/plugins.md``.

    Registered through ``yamlcron_executors`` like any executor. Its methods are called on
    the daemon's tracker thread, with batches: they may block on the network, bounded by
    their own timeouts, and raise for a batch the engine could not take (it is tried again).
    """

    #: The JSON Schema of its ``executor: {via: ...}`` options and ``executors:`` settings.
    options_schema: Mapping[str, Any]

    def send(self, runs: Sequence[RemoteRun]) -> Mapping[str, Outcome]:
        """Hand each run to the engine under its ``reference``, which names it there.

        Sending a reference that was sent before must not run the work twice (the engine's
        idempotency key, or a guard on its side). Returns the outcomes of the runs that
        ended at once (refused by the engine), by reference; the others are now the engine's.
        """
        ...

    def poll(self, runs: Sequence[RemoteRun]) -> Mapping[str, Outcome]:
        """The outcomes of the runs that ended, by reference; a run left out is still going."""
        ...

    def execute(self, context: RunContext) -> Outcome:
        """What a non-task run would get: a remote executor runs ``task`` runs only."""
        ...


def is_remote(executor: object) -> bool:
    """Whether an executor runs ``task`` runs (implements ``RemoteExecutor``)."""
    return callable(getattr(executor, "send", None)) and callable(getattr(executor, "poll", None))


@dataclass(frozen=True, slots=True, kw_only=True)
class Adopted:
    """A remote run taken over from a scheduler that is gone, and whether it was sent."""

    run: Run
    reference: str
    sent: bool


@runtime_checkable
class RemoteStore(Protocol):
    """What the store keeps of remote runs (the ``runs.remote`` and ``remote_sent`` columns)."""

    def store_identity(self) -> str:
        """This store's identity: made once, at random, and kept (``meta.store_id``)."""
        ...

    def mark_sent(self, run_ids: Collection[int]) -> None:
        """Note that these remote runs were handed to their engine."""
        ...

    def adopt_remote(self, lease: Lease) -> list[Adopted]:
        """Take the ``running`` remote runs of reaped leases (and of none) under ``lease``.

        One transaction; two schedulers adopting at once never both take one run.
        """
        ...


def remote_run(run: Run, spec: JobSpec, ref: str, environ: Mapping[str, str]) -> RemoteRun:
    """``run`` of ``spec`` as its executor is handed it, ``${VAR}`` expanded from ``environ``."""
    grace = spec.misfire_grace_time
    return RemoteRun(
        reference=ref,
        run_id=run.id,
        job=spec,
        scheduled_at=run.scheduled_at,
        attempt=run.attempt,
        options=_expanded(spec.executor_options, environ),
        env={
            "YAMLCRON_JOB_ID": spec.id,
            "YAMLCRON_RUN_ID": str(run.id),
            "YAMLCRON_SCHEDULED_AT": run.scheduled_at.isoformat(),
            "YAMLCRON_ATTEMPT": str(run.attempt),
        },
        expires_at=None if grace is None else run.scheduled_at + timedelta(seconds=grace),
    )


def _expanded(value: Any, environ: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return expand(value, environ)
    if isinstance(value, Mapping):
        return {k: _expanded(v, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_expanded(v, environ) for v in value]
    return value


def not_sent(exc: BaseException) -> Outcome:
    """The outcome of a run its engine refused outright (a message it could not take)."""
    error = RunError(type=type(exc).__name__, message=f"the task was not sent: {exc}")
    return Outcome(status=RunStatus.FAILURE, error=error)
