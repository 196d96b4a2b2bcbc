"""The values that cross module boundaries, and the protocols the edges implement.

Everything here is frozen. A ``JobSpec`` is built once, at the validation boundary
(``manifest.py``) or from the store's JSON, from the job's *canonical* form: a plain JSON
mapping with every default filled in, durations as text (``"15m"``) and datetimes as ISO 8601
with an offset. The canonical form is what the store keeps, what its hash is taken of and
what ``plan`` diffs, so two manifests that mean the same job give the same hash.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol

from yamlcron.durations import format_duration, parse_duration

TriggerKind = Literal["cron", "interval", "date", "after"]
RunKind = Literal["command", "shell", "call"]
When = Literal["success", "failure", "always"]

#: Order in which the kinds are looked for in a trigger or run mapping.
TRIGGER_KINDS: tuple[TriggerKind, ...] = ("cron", "interval", "date", "after")
RUN_KINDS: tuple[RunKind, ...] = ("command", "shell", "call")


def _seconds(value: Any) -> float | None:
    return None if value is None else parse_duration(value)


def _instant(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerSpec:
    """When a job fires: exactly one of ``cron``, ``interval``, ``date`` or ``after`` is set."""

    kind: TriggerKind
    cron: str | None = None
    interval: float | None = None
    date: datetime | None = None
    after: str | None = None
    when: When = "success"
    timezone: str = "UTC"
    jitter: float = 0.0
    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def from_canonical(cls, data: Mapping[str, Any]) -> TriggerSpec:
        kind = next(k for k in TRIGGER_KINDS if k in data)
        return cls(
            kind=kind,
            cron=data.get("cron"),
            interval=_seconds(data.get("interval")),
            date=_instant(data.get("date")),
            after=data.get("after"),
            when=data.get("when", "success"),
            timezone=data["timezone"],
            jitter=_seconds(data["jitter"]) or 0.0,
            start=_instant(data.get("start")),
            end=_instant(data.get("end")),
        )

    def describe(self) -> str:
        """One line for listings: ``cron 0 3 * * * (Europe/Berlin)``."""
        if self.kind == "after":
            return f"after {self.after} ({self.when})"
        canonical_value = {
            "cron": self.cron,
            "interval": None if self.interval is None else format_duration(self.interval),
            "date": None if self.date is None else self.date.isoformat(),
        }[self.kind]
        return f"{self.kind} {canonical_value} ({self.timezone})"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSpec:
    """What a job runs: an argv (``command``), a ``shell`` script, or a Python ``call``."""

    kind: RunKind
    command: tuple[str, ...] = ()
    shell: str | None = None
    call: str | None = None
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    timeout: float | None = None

    @classmethod
    def from_canonical(cls, data: Mapping[str, Any]) -> RunSpec:
        kind = next(k for k in RUN_KINDS if k in data)
        return cls(
            kind=kind,
            command=tuple(data.get("command", ())),
            shell=data.get("shell"),
            call=data.get("call"),
            args=tuple(data.get("args", ())),
            kwargs=dict(data.get("kwargs", {})),
            env=dict(data.get("env", {})),
            cwd=data.get("cwd"),
            timeout=_seconds(data.get("timeout")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How failed runs are tried again: ``attempts`` counts the first try."""

    attempts: int = 1
    delay: float = 10.0
    backoff: float = 2.0
    max_delay: float = 600.0

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before try number ``attempt`` (2 for the first retry)."""
        return min(self.delay * self.backoff ** max(attempt - 2, 0), self.max_delay)


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifySpec:
    """One ``notify:`` entry: a notifier by name, the event kinds it hears, its options."""

    via: str
    on: tuple[str, ...]
    options: Mapping[str, Any]

    @classmethod
    def from_canonical(cls, data: Mapping[str, Any]) -> NotifySpec:
        options = {k: v for k, v in data.items() if k not in ("via", "on")}
        return cls(via=data["via"], on=tuple(data["on"]), options=options)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    """A job as declared, defaults applied. ``canonical`` is its JSON form; ``digest`` its hash."""

    id: str
    trigger: TriggerSpec
    run: RunSpec
    executor: str
    coalesce: bool
    misfire_grace_time: float | None
    max_instances: int
    retry: RetryPolicy
    paused: bool
    notify: tuple[NotifySpec, ...]
    history: int
    description: str | None
    tags: tuple[str, ...]
    canonical: Mapping[str, Any] = field(compare=False, repr=False)
    digest: str = field(compare=False, repr=False)

    @classmethod
    def from_canonical(cls, job_id: str, data: Mapping[str, Any]) -> JobSpec:
        """Build from the canonical mapping; trusted input (validated, or our own store)."""
        retry = data["retry"]
        return cls(
            id=job_id,
            trigger=TriggerSpec.from_canonical(data["trigger"]),
            run=RunSpec.from_canonical(data["run"]),
            executor=data["executor"],
            coalesce=data["coalesce"],
            misfire_grace_time=_seconds(data["misfire_grace_time"]),
            max_instances=data["max_instances"],
            retry=RetryPolicy(
                attempts=retry["attempts"],
                delay=parse_duration(retry["delay"]),
                backoff=float(retry["backoff"]),
                max_delay=parse_duration(retry["max_delay"]),
            ),
            paused=data["paused"],
            notify=tuple(NotifySpec.from_canonical(n) for n in data["notify"]),
            history=data["history"],
            description=data.get("description"),
            tags=tuple(data.get("tags", ())),
            canonical=data,
            digest=digest_of(data),
        )


def digest_of(data: Any) -> str:
    """A stable SHA-256 of a JSON value (sorted keys, no whitespace)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """A validated manifest: its jobs in file order, its global notifiers and its identity."""

    path: Path
    jobs: Mapping[str, JobSpec]
    notify: tuple[NotifySpec, ...]
    digest: str
    commit: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Components:
    """What installed plugins provide for a manifest to name, notifiers with options schemas."""

    executors: frozenset[str]
    notifiers: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredJob:
    """A job as the store holds it: the applied spec and its runtime state."""

    spec: JobSpec
    next_run_at: datetime | None
    anchor: datetime
    paused_override: bool | None = None
    last_status: str | None = None

    @property
    def paused(self) -> bool:
        """Paused by the manifest, unless ``pause``/``resume`` overrode it at run time."""
        return self.spec.paused if self.paused_override is None else self.paused_override


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One changed field of a job, by dotted path (``trigger.cron``)."""

    path: str
    old: Any
    new: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What ``apply`` would do, as values: pure output of ``reconcile.plan``."""

    add: tuple[JobSpec, ...]
    change: tuple[tuple[JobSpec, tuple[FieldChange, ...]], ...]
    remove: tuple[str, ...]
    unchanged: int
    warnings: tuple[str, ...] = ()
    drift: tuple[str, ...] = ()  # runtime state the manifest does not say (pause overrides)

    @property
    def is_empty(self) -> bool:
        """True when applying would change no job."""
        return not (self.add or self.change or self.remove)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobWrite:
    """A job row to insert or update in one apply; ``reschedule`` replaces its next fire time."""

    spec: JobSpec
    next_run_at: datetime | None
    reschedule: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AppliedManifest:
    """The record of an apply: which manifest content (and git commit), from where, when."""

    digest: str
    path: str
    applied_at: datetime
    commit: str | None = None


def label(digest: str | None, commit: str | None) -> str:
    """``3f9a1c2e`` or ``3f9a1c2e@1a2b3c4``: the manifest a run came from, in short."""
    if digest is None:
        return "-"
    short = digest[:8]
    return (
        f"{short}@{commit[:7]}{'-dirty' if commit.endswith('-dirty') else ''}" if commit else short
    )


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
    error: Mapping[str, Any] | None = None
    output: str = ""
    node: str = ""
    cause_run_id: int | None = None
    manifest_digest: str | None = None
    manifest_commit: str | None = None

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
            "error": self.error,
            "output": self.output,
            "node": self.node,
            "cause_run_id": self.cause_run_id,
            "manifest_digest": self.manifest_digest,
            "manifest_commit": self.manifest_commit,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What an executor reports for a finished run."""

    status: RunStatus
    exit_code: int | None = None
    result: Any = None
    error: Mapping[str, Any] | None = None
    output: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunContext:
    """What an executor needs beside the job: who this run is, where, and when to stop.

    ``env`` holds ``YAMLCRON_JOB_ID``, ``YAMLCRON_RUN_ID``, ``YAMLCRON_SCHEDULED_AT`` and
    ``YAMLCRON_ATTEMPT``. ``cancel`` is set when the scheduler shuts down past its grace: an
    executor then stops the run (a subprocess's group gets SIGTERM, then SIGKILL after
    ``kill_grace`` seconds) and reports ``interrupted``.
    """

    run_id: int
    job: JobSpec
    scheduled_at: datetime
    attempt: int
    folder: Path
    env: Mapping[str, str]
    cancel: threading.Event
    kill_grace: float = 10.0
    output_limit: int = 64 * 1024


class Executor(Protocol):
    """Runs a job once, blocking, on a worker thread of the scheduler.

    ``execute`` must honour ``job.run.timeout`` (reporting ``timeout``) and
    ``context.cancel`` (reporting ``interrupted``). An exception escaping it is recorded as
    a ``failure`` with its traceback, so an executor need not catch the job's errors.
    """

    def execute(self, context: RunContext) -> Outcome:
        """Run ``context.job`` and report how it ended."""
        ...


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
    error: Mapping[str, Any] | None = None
    cause_run_id: int | None = None


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


class Store(Protocol):
    """Persistence for jobs, their state and runs. SQLite is built in; others are plugins.

    Every write method is one transaction: after a crash the store holds the state before
    the call or after it, never a mix. Implementations must be safe to call from several
    threads of one process.
    """

    def load_jobs(self) -> dict[str, StoredJob]:
        """Every stored job, by id."""
        ...

    def apply(self, writes: list[JobWrite], removals: list[str], record: AppliedManifest) -> None:
        """Insert or update ``writes``, delete ``removals`` and record the apply, atomically."""
        ...

    def last_applied(self) -> AppliedManifest | None:
        """The most recent apply, or None for a store never applied to."""
        ...

    def due(self, now: datetime, limit: int) -> list[DueJob]:
        """Jobs whose next fire time is at or before ``now``, earliest first, not paused."""
        ...

    def due_queued(self, now: datetime, limit: int) -> list[tuple[Queued, JobSpec | None]]:
        """Queued fires due by ``now``, earliest first, with their job (None if removed)."""
        ...

    def downstream(self, job_id: str) -> list[JobSpec]:
        """The jobs whose trigger is ``after: job_id``."""
        ...

    def lock_daemon(self) -> None:
        """Claim this store for one ``yamlcron run``; StoreError if another holds it."""
        ...

    def daemon_alive(self) -> bool:
        """Whether a ``yamlcron run`` holds this store now."""
        ...

    def ring(self) -> None:
        """Tell a daemon watching this store that it changed (apply, trigger, pause)."""
        ...

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (on another thread) whenever ``ring`` is called from any process.

        Returns a function that stops watching.
        """
        ...

    def next_wakeup(self) -> datetime | None:
        """The earliest next fire time or queued fire, or None when nothing is pending."""
        ...

    def claim(self, claims: list[Claim], node: str, source: AppliedManifest | None) -> list[Run]:
        """Apply every claim that still holds, in one transaction; every run it wrote."""
        ...

    def finish(self, run: Run, followups: list[Queued]) -> str | None:
        """Record a run's outcome and queue what follows it (a retry, workflow steps).

        Returns the job's previous final outcome (the status of its last run that was not
        retried), which tells a recovery from a success like the others.
        """
        ...

    def enqueue(self, item: Queued) -> int:
        """Queue one fire; returns its id."""
        ...

    def interrupt_running(self, now: datetime) -> list[Run]:
        """Mark runs left ``running`` by a dead process ``interrupted``; returns them."""
        ...

    def runs(
        self, job_id: str | None = None, limit: int = 50, scheduled_at: datetime | None = None
    ) -> list[Run]:
        """Recorded runs, newest first; of one job, or of one fire of it."""
        ...

    def run(self, run_id: int) -> Run | None:
        """One run by id."""
        ...

    def pending(self, job_id: str, scheduled_at: datetime) -> bool:
        """Whether a fire of ``job_id`` at ``scheduled_at`` is still queued (a retry ahead)."""
        ...

    def prune(self, job_id: str, keep: int) -> int:
        """Delete all but the newest ``keep`` finished runs of a job; returns how many."""
        ...

    def set_paused(self, job_id: str, paused: bool | None, next_run_at: datetime | None) -> None:
        """Set the runtime pause override (None: as the manifest says) and next fire time."""
        ...

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...
