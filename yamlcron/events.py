"""What plugins hear: events about the store, the manifest and runs.

Every event is a frozen value with a ``kind``; run events also say which ``notify:`` kinds
they match (``on: [failure, recovery]`` in a manifest), so a notifier's filter is one set
intersection. Listeners and notifiers are called off the scheduler's loop, one by one,
each in its own ``try``: a plugin that raises or hangs never stops the loop or the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from yamlcron.model import JobSpec
from yamlcron.runs import Run, RunStatus

JobEventKind = Literal["added", "changed", "removed"]
ManifestEventKind = Literal["applied", "reload_failed", "plan_refused"]
RunEventKind = Literal[
    "submitted", "started", "succeeded", "failed", "retried", "missed", "skipped", "interrupted"
]


@dataclass(frozen=True, slots=True, kw_only=True)
class JobEvent:
    """A job was added to, changed in or removed from the store by an apply."""

    kind: JobEventKind
    job_id: str
    time: datetime
    changes: tuple[str, ...] = ()  # dotted paths of changed fields

    def to_json(self) -> dict[str, Any]:
        return {
            "event": f"job.{self.kind}",
            "job_id": self.job_id,
            "time": self.time.isoformat(),
            "changes": list(self.changes),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestEvent:
    """A manifest was applied, or a reload of it failed or was refused (``message`` says why).

    ``folder`` is the manifest's folder, absolute: where its jobs run, and its notifiers.
    """

    kind: ManifestEventKind
    path: str
    time: datetime
    digest: str | None = None
    message: str = ""
    folder: Path | None = None

    @property
    def notify_kinds(self) -> frozenset[str]:
        return frozenset({self.kind})

    def to_json(self) -> dict[str, Any]:
        return {
            "event": f"manifest.{self.kind}",
            "path": self.path,
            "time": self.time.isoformat(),
            "digest": self.digest,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RunEvent:
    """A run was submitted, started or ended; ``run`` is its record at that moment.

    ``folder`` is the manifest's folder, absolute: where the job runs, and its notifiers.
    """

    kind: RunEventKind
    run: Run
    job: JobSpec | None
    notify_kinds: frozenset[str] = field(default_factory=frozenset)
    folder: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "event": f"run.{self.kind}",
            "job_id": self.run.job_id,
            "notify": sorted(self.notify_kinds),
            "run": self.run.to_json(),
        }


Event = JobEvent | ManifestEvent | RunEvent


def run_event(
    run: Run,
    job: JobSpec | None,
    *,
    retrying: bool = False,
    previous: str | None = None,
    folder: Path | None = None,
) -> RunEvent:
    """The event for a run that just ended (or was recorded missed or skipped)."""
    status = run.status
    kinds: set[str] = set()
    kind: RunEventKind
    if status == RunStatus.SUCCESS:
        kind = "succeeded"
        kinds.add("success")
        if previous in ("failure", "timeout", "interrupted"):
            kinds.add("recovery")
    elif status in (RunStatus.MISSED, RunStatus.SKIPPED):
        kind = "missed" if status == RunStatus.MISSED else "skipped"
        kinds.add(kind)
    else:
        kind = (
            "retried"
            if retrying
            else ("interrupted" if status == RunStatus.INTERRUPTED else "failed")
        )
        kinds.add("retry" if retrying else "failure")
        if status == RunStatus.TIMEOUT:
            kinds.add("timeout")
        if status == RunStatus.INTERRUPTED:
            kinds.add("interrupted")
    return RunEvent(kind=kind, run=run, job=job, notify_kinds=frozenset(kinds), folder=folder)
