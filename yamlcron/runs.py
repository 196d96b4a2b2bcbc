"""Run records: what a run is, what claims and finishes it, who holds a store.

Like ``model``, everything here is a frozen value; the store, the scheduler and the
plugins' components (``interfaces``) exchange these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from traceback import format_exception
from typing import TYPE_CHECKING, Any, Literal

from yamlcron import limits
from yamlcron.model import JobSpec

if TYPE_CHECKING:
    from yamlcron.interfaces import Outcome


class RunStatus(StrEnum):
    """Where a run stands. Only ``RUNNING`` is not final."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    MISSED = "missed"
    SKIPPED = "skipped"

    @property
    def final(self) -> bool:
        """Every status but ``running``."""
        return self != RunStatus.RUNNING

    @property
    def failed(self) -> bool:
        """A finished run that did not succeed and may be retried."""
        return self in (RunStatus.FAILURE, RunStatus.TIMEOUT, RunStatus.INTERRUPTED)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunError:
    """Why a run did not succeed: SPEC §6's ``error`` object.

    ``type`` is the class name of the exception that ended the run, or a word for what
    ended it (``Timeout``, ``Missed``, ``Coalesced``, ``Interrupted``...); ``message`` is one
    line for people; ``traceback`` is Python's, when an exception caused it, else None.
    """

    type: str
    message: str
    traceback: str | None = None

    @classmethod
    def of(cls, exc: BaseException) -> RunError:
        """An exception as a run's error, with its traceback, both within ``limits``."""
        return cls(
            type=type(exc).__name__, message=str(exc), traceback="".join(format_exception(exc))
        ).bounded()

    def bounded(self) -> RunError:
        """This error as it is stored: message and traceback cut to ``limits``, marked."""
        message = limits.head(self.message, limits.MESSAGE_LIMIT)
        trace = self.traceback
        if trace is not None:
            trace = limits.middle(trace, limits.TRACEBACK_LIMIT)
        if message is self.message and trace is self.traceback:
            return self
        return RunError(type=self.type[: limits.MESSAGE_LIMIT], message=message, traceback=trace)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> RunError:
        """The error ``to_json`` wrote (as the store keeps it)."""
        return cls(
            type=str(value.get("type", "")),
            message=str(value.get("message", "")),
            traceback=value.get("traceback"),
        )

    def to_json(self) -> dict[str, str | None]:
        """SPEC §6's shape: ``{"type", "message", "traceback"}``."""
        return {"type": self.type, "message": self.message, "traceback": self.traceback}


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """One fire of a job, as recorded: SPEC §6's shape, plus what caused it."""

    id: int
    job_id: str
    scheduled_at: datetime
    attempt: int
    status: RunStatus
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    result: Any = None
    error: RunError | None = None
    output: str = ""
    node: str = ""
    cause_run_id: int | None = None
    manifest_digest: str | None = None
    manifest_commit: str | None = None

    def ended(self, outcome: Outcome, started_at: datetime, finished_at: datetime) -> Run:
        """This run as ``outcome`` left it, its result, error and output within ``limits``.

        Capped here, where every executor's outcome passes (a plugin's too). Spelled out
        rather than ``dataclasses.replace``, which costs more on every run's end
        (bench/README.md).
        """
        return Run(
            id=self.id,
            job_id=self.job_id,
            scheduled_at=self.scheduled_at,
            attempt=self.attempt,
            status=outcome.status,
            started_at=started_at,
            finished_at=finished_at,
            exit_code=outcome.exit_code,
            result=limits.bounded_result(outcome.result),
            error=None if outcome.error is None else outcome.error.bounded(),
            output=limits.tail(outcome.output, limits.OUTPUT_LIMIT),
            node=self.node,
            cause_run_id=self.cause_run_id,
            manifest_digest=self.manifest_digest,
            manifest_commit=self.manifest_commit,
        )

    def to_json(self) -> dict[str, Any]:
        """The ``--output json`` shape: datetimes as ISO 8601 with offset."""
        return {
            "id": self.id,
            "job_id": self.job_id,
            "scheduled_at": self.scheduled_at.isoformat(),
            "started_at": None if self.started_at is None else self.started_at.isoformat(),
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
            "attempt": self.attempt,
            "status": self.status.value,
            "exit_code": self.exit_code,
            "result": self.result,
            "error": None if self.error is None else self.error.to_json(),
            "output": self.output,
            "node": self.node,
            "cause_run_id": self.cause_run_id,
            "manifest_digest": self.manifest_digest,
            "manifest_commit": self.manifest_commit,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class DueJob:
    """A job whose next fire time has come, with the spec it fires with."""

    spec: JobSpec
    next_run_at: datetime
    anchor: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Queued:
    """A fire the clock does not produce: a retry, a workflow step, or a manual trigger."""

    job_id: str
    due_at: datetime
    scheduled_at: datetime
    attempt: int = 1
    reason: Literal["retry", "after", "trigger"] = "trigger"
    cause_run_id: int | None = None
    id: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class NewRun:
    """A run row to write when a fire is claimed (``running``, ``missed`` or ``skipped``)."""

    job_id: str
    scheduled_at: datetime
    status: RunStatus
    attempt: int = 1
    started_at: datetime | None = None
    error: RunError | None = None
    cause_run_id: int | None = None
    #: A remote run (``yamlcron.remote``): the claim writes its reference with it.
    remote: bool = False

    def written(self, run_id: int, node: str, digest: str | None, commit: str | None) -> Run:
        """The run as its claim wrote it, with the id the store gave it.

        A run that ends as it is written (``missed``, ``skipped``) ends when it starts.
        """
        final = self.status != RunStatus.RUNNING
        return Run(
            id=run_id,
            job_id=self.job_id,
            scheduled_at=self.scheduled_at,
            attempt=self.attempt,
            status=self.status,
            started_at=self.started_at,
            finished_at=self.started_at if final else None,
            error=self.error,
            node=node,
            cause_run_id=self.cause_run_id,
            manifest_digest=digest,
            manifest_commit=commit,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """One job's share of a tick: advance its next fire time, take a queued fire, write runs.

    ``expected`` is the next fire time the scheduler read. The claim only happens if the
    store still holds it (another replica or an apply did not move it first); likewise a
    queued fire is claimed only if its row is still there.
    """

    job_id: str
    expected: datetime | None = None
    next_run_at: datetime | None = None
    queued_id: int | None = None
    runs: tuple[NewRun, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Finish:
    """A run's outcome to record, under the ``lease`` it was claimed with.

    ``followups`` are queued with it (a retry, workflow steps); ``keep``, when set, trims
    the job's history to that many runs in the same transaction.
    """

    run: Run
    lease: Lease
    followups: tuple[Queued, ...] = ()
    keep: int | None = None

    @property
    def retrying(self) -> bool:
        """Whether another attempt of this fire follows (it is then not the final outcome)."""
        return any(f.job_id == self.run.job_id and f.reason == "retry" for f in self.followups)


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    """A scheduler's membership of a store: ``token`` is its fencing token.

    Every run a scheduler claims carries its token; the store accepts a claim or a result
    only while the lease is live (renewed within ``ttl`` seconds, by the store's clock,
    and not yet taken over). Tokens only grow, so a replica that comes back from a pause
    cannot pass for its successor. ``ttl`` is None for a lease held by a lock instead (a
    SQLite daemon's): it never expires, so nothing renews it, and it ends when its process
    leaves or the next daemon joins.
    """

    token: int
    node: str
    ttl: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Replica:
    """A live lease, as ``yamlcron replicas`` shows it."""

    token: int
    node: str
    started_at: datetime
    heartbeat_at: datetime
    expires_at: datetime | None  # None: held by a lock for as long as its process lives
    running: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The ``--output json`` shape."""
        return {
            "node": self.node,
            "token": self.token,
            "started_at": self.started_at.isoformat(),
            "heartbeat_at": self.heartbeat_at.isoformat(),
            "expires_at": None if self.expires_at is None else self.expires_at.isoformat(),
            "running": list(self.running),
        }
