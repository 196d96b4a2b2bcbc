"""The JSON shapes of SPEC §6, one definition for ``--output json`` and the HTTP API.

Every time goes out by one rule (``Times``): ISO 8601 with its offset, in the job's zone,
or this host's zone for times that belong to no job, or UTC when asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from yamlcron.model import Plan, StoredJob
    from yamlcron.runs import Replica, Run

#: SPEC §6's run keys, in its order.
RUN_KEYS = (
    "id",
    "job_id",
    "scheduled_at",
    "started_at",
    "finished_at",
    "attempt",
    "status",
    "exit_code",
    "result",
    "error",
    "output",
    "node",
)


@dataclass(frozen=True)
class Times:
    """The one rule for every time yamlcron shows."""

    utc: bool = False

    def shown(self, moment: datetime, tz: tzinfo | None = None, timespec: str = "auto") -> str:
        """``moment`` in ``tz`` (a job's zone; None: this host's), or UTC under ``utc``."""
        return moment.astimezone(UTC if self.utc else tz).isoformat(timespec=timespec)

    def of(self, tz: tzinfo | None) -> Callable[[datetime], str]:
        return lambda moment: self.shown(moment, tz)


def job_json(job: StoredJob, times: Times) -> dict[str, Any]:
    """One entry of ``jobs``: trigger in words, executor, pause, next fire time, last outcome."""
    from yamlcron.triggers import zone

    # A paused job has a stored next fire time, kept for resume; it will not fire.
    next_at = None
    if job.next_run_at is not None and not job.paused:
        next_at = times.shown(job.next_run_at, zone(job.spec.trigger.timezone))
    return {
        "id": job.spec.id,
        "trigger": job.spec.trigger.describe(),
        "executor": job.spec.executor,
        "paused": job.paused,
        "next_run_at": next_at,
        "last_status": job.last_status,
    }


def run_json(run: Run, times: Callable[[datetime], str] = datetime.isoformat) -> dict[str, object]:
    """One run of ``history``, word for word, with datetimes written by ``times``."""
    full = run.to_json()
    shape = {k: full[k] for k in RUN_KEYS}
    for key, moment in moments(run):
        shape[key] = None if moment is None else times(moment)
    return shape


def moments(run: Run) -> tuple[tuple[str, datetime | None], ...]:
    """A run's three times, by their JSON keys."""
    return (
        ("scheduled_at", run.scheduled_at),
        ("started_at", run.started_at),
        ("finished_at", run.finished_at),
    )


def plan_json(result: Plan) -> dict[str, Any]:
    """``plan`` and ``apply``: ``{add, change: {id: [{path, old, new}]}, remove, unchanged}``."""
    return {
        "add": [spec.id for spec in result.add],
        "change": {
            spec.id: [{"path": c.path, "old": c.old, "new": c.new} for c in changes]
            for spec, changes in result.change
        },
        "remove": list(result.remove),
        "unchanged": result.unchanged,
    }


def replica_json(replica: Replica, times: Times) -> dict[str, Any]:
    """``Replica.to_json`` with its times in this host's zone, or UTC."""
    shape = replica.to_json()
    for key in ("started_at", "heartbeat_at", "expires_at"):
        if shape[key] is not None:
            shape[key] = times.shown(datetime.fromisoformat(shape[key]))
    return shape
