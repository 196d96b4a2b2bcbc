"""What a plugin implements: the contracts beside ``hookspecs.py``'s hooks.

``hookspecs.py`` says which hooks a plugin provides and when they are called; this module
says what the components those hooks return must do. An executor runs a job
(``Executor``, given a ``RunContext``, reporting an ``Outcome``); a notifier tells someone
about events (``Notifier``); a store factory opens a ``Store``, which is made of roles
(``JobStore``, ``FiringStore``, ``LeaseStore``, ``HistoryStore``, ``Doorbell``) so that each
caller names the one it uses. The values they exchange (``Run``, ``RunError``, ``Claim``,
``Finish``, ``Lease``...) are records in ``runs.py``; the events are in ``events.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from yamlcron.errors import LeaseLostError
from yamlcron.events import ManifestEvent, RunEvent
from yamlcron.model import AppliedManifest, JobSpec, JobWrite, StoredJob
from yamlcron.runs import (
    Claim,
    DueJob,
    Finish,
    Lease,
    Queued,
    Replica,
    Run,
    RunError,
    RunStatus,
)

# -- executors -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What an executor reports for a finished run."""

    status: RunStatus
    exit_code: int | None = None
    result: Any = None
    error: RunError | None = None
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
    #: ``with context.tracked(pid):`` around the life of a process group the run leads, so
    #: that the group is stopped if yamlcron dies first (``yamlcron.warden``).
    tracked: Callable[[int], AbstractContextManager[object]] = nullcontext


class Executor(Protocol):
    """Runs a job once, blocking, on a worker thread of the scheduler.

    ``execute`` must honour ``job.run.timeout`` (reporting ``timeout``) and
    ``context.cancel`` (reporting ``interrupted``). An exception escaping it is recorded as
    a ``failure`` with its traceback, so an executor need not catch the job's errors.
    """

    def execute(self, context: RunContext) -> Outcome:
        """Run ``context.job`` and report how it ended."""
        ...


# -- notifiers -----------------------------------------------------------------------------


class Notifier(Protocol):
    """Tells someone about events: a ``notify: [{via: name, on: [...], ...options}]`` entry.

    ``options_schema`` is the JSON Schema of the entry's options (every key but ``via`` and
    ``on``); the manifest is checked against it, with located errors, before anything runs.
    """

    options_schema: Mapping[str, Any]

    def notify(self, event: RunEvent | ManifestEvent, options: Mapping[str, Any]) -> None:
        """Deliver ``event``.

        Called on a notification thread, never the loop; may block (bounded by the
        notifier's own timeouts). Raising is logged with the plugin's name and counted as
        a failed delivery; raise ``yamlcron.errors.DeliveryError`` (a message without
        secrets) for a delivery that failed, and it is logged as that one line.
        """
        ...


# -- stores --------------------------------------------------------------------------------


class StoreFactory(Protocol):
    """Opens a store for a URL of the scheme it was registered under."""

    def __call__(self, url: str, *, create: bool) -> Store:
        """Open the store at ``url``.

        With ``create`` false, nothing may be written: a missing store reads as an empty
        one (``plan`` against a store that does not exist yet plans against nothing).
        Raise ``yamlcron.errors.StoreError`` with a one-line message when it cannot open.
        """
        ...


class JobStore(Protocol):
    """The applied jobs: what apply, plan, ``jobs``, pause and resume read and write."""

    def load_jobs(self, ids: Collection[str] | None = None) -> dict[str, StoredJob]:
        """The stored jobs by id: all of them, or those of ``ids`` that exist."""
        ...

    def apply(self, writes: list[JobWrite], removals: list[str], record: AppliedManifest) -> None:
        """Insert or update ``writes``, delete ``removals`` and record the apply, atomically."""
        ...

    def applying(self) -> AbstractContextManager[None]:
        """Hold the apply lock while reading, planning and writing.

        One apply at a time, across every process using the store, so no apply writes a
        plan made stale by another.
        """
        ...

    def last_applied(self) -> AppliedManifest | None:
        """The most recent apply, or None for a store never applied to."""
        ...

    def overview(self) -> tuple[int, dict[str, bool]]:
        """How many jobs are stored, and the runtime pauses that contradict their manifest."""
        ...

    def unreadable(self) -> list[str]:
        """The ids of jobs whose stored spec is no longer what was written (damaged rows)."""
        ...

    def set_paused(self, job_id: str, paused: bool | None, next_run_at: datetime | None) -> None:
        """Set the runtime pause override (None: as the manifest says) and next fire time."""
        ...


class FiringStore(Protocol):
    """What the scheduler's loop reads and claims, and how it records a run's end."""

    def due(self, now: datetime, limit: int) -> list[DueJob]:
        """Jobs whose next fire time is at or before ``now``, earliest first, not paused."""
        ...

    def due_queued(self, now: datetime, limit: int) -> list[tuple[Queued, JobSpec | None]]:
        """Queued fires due by ``now``, earliest first, with their job (None if removed)."""
        ...

    def steps(self) -> dict[str, list[JobSpec]]:
        """The workflow: for each job that others run ``after``, those jobs' specs."""
        ...

    def next_wakeup(self) -> datetime | None:
        """The earliest next fire time or queued fire, or None when nothing is pending."""
        ...

    def claim(self, claims: list[Claim], lease: Lease, source: AppliedManifest | None) -> list[Run]:
        """Apply every claim that still holds, in one transaction; every run it wrote.

        Claims that another scheduler holds or took first are left out, never waited for.
        Raises ``LeaseLostError`` (writing nothing) when ``lease`` is no longer live.
        """
        ...

    def finish_many(self, items: list[Finish]) -> list[str | LeaseLostError | None]:
        """Record runs' outcomes and queue what follows each, in one transaction.

        One transaction (one disk flush) for every run that ended together. Each item's
        result is its job's previous final outcome (the status of its last run that was
        not retried), which tells a recovery from a success like the others; or a
        ``LeaseLostError`` when the item's lease is no longer live or the run is not its
        own: the fencing that keeps a paused replica from overwriting a run that was
        taken over. A refused run does not stop the others from being recorded. An item's
        ``keep`` trims its job's history to that many finished runs in the same
        transaction.
        """
        ...

    def running(self) -> dict[str, int]:
        """How many runs of each job are ``running`` now, in every process."""
        ...

    def enqueue(self, item: Queued) -> int:
        """Queue one fire; returns its id."""
        ...

    def pending(self, job_id: str, scheduled_at: datetime) -> bool:
        """Whether a fire of ``job_id`` at ``scheduled_at`` is still queued (a retry ahead)."""
        ...


class LeaseStore(Protocol):
    """How schedulers take part in a store: the daemon lock, leases and their reaping."""

    def lock_daemon(self) -> None:
        """Claim this store for one ``yamlcron run``; StoreError if another holds it."""
        ...

    def daemon_alive(self) -> bool:
        """Whether a ``yamlcron run`` holds this store now."""
        ...

    def join(self, node: str, ttl: float) -> Lease:
        """Start a lease for a scheduler called ``node``, live for ``ttl`` seconds.

        A store that no other scheduler can use while this process holds it (SQLite, under
        the daemon lock) hands out a held lease instead (``ttl`` None): one that never
        expires, so an idle scheduler writes nothing and a paused one loses nothing.
        """
        ...

    def renew(self, lease: Lease) -> bool:
        """Extend ``lease`` by its ttl; False when it expired or was taken over (rejoin)."""
        ...

    def leave(self, lease: Lease) -> None:
        """End ``lease`` at a clean stop, so nobody waits for it to expire."""
        ...

    def replicas(self) -> list[Replica]:
        """The live leases, oldest first, with the jobs each is running."""
        ...

    def claimed(self, lease: Lease) -> list[Run]:
        """The runs ``running`` under ``lease``, by id."""
        ...

    def reap(
        self, now: datetime, followups: Callable[[list[Run]], list[Queued]] | None = None
    ) -> list[Run]:
        """Take over expired leases: mark their ``running`` runs ``interrupted`` (at ``now``).

        Returns the runs it marked. ``followups(runs)``, called within the same
        transaction (it may read the store), says what they set off (retries, after-steps):
        those are queued with them, so a reaper cut off midway leaves both or neither.
        Two schedulers reaping at once never both take one run.
        """
        ...


class HistoryStore(Protocol):
    """The recorded runs."""

    def runs(
        self,
        job_id: str | None = None,
        limit: int = 50,
        scheduled_at: datetime | None = None,
        *,
        statuses: Collection[str] = (),
        since: datetime | None = None,
    ) -> list[Run]:
        """Recorded runs, newest first; of one job, or of one fire of it.

        ``statuses`` keeps the runs with one of them; ``since`` those scheduled at or after it.
        """
        ...

    def run(self, run_id: int) -> Run | None:
        """One run by id."""
        ...

    def mark_process(self, run_id: int, pgid: int, identity: str) -> None:
        """Record the process group that ``run_id`` leads while it runs (``yamlcron.warden``).

        ``identity`` names the group against pid reuse; recovery reads it back.
        """
        ...

    def process_groups(self, run_ids: Collection[int]) -> list[tuple[int, str]]:
        """The process groups recorded for ``run_ids``: (group id, identity)."""
        ...

    def recent_runs(
        self,
        job_ids: Collection[str],
        per_job: int,
        *,
        before: int | None = None,
        statuses: Collection[str] = (),
    ) -> dict[str, list[Run]]:
        """The newest ``per_job`` runs of each of these jobs, newest first, read at once.

        For overviews (the status page's strips and its pages of runs): the runs carry no
        ``result``, ``error`` nor ``output`` (None, None, ""), so that a page of fifty jobs
        reads a few kilobytes, not each run's output. ``before`` keeps the runs whose id
        is lower (the next page); ``statuses`` those with one of them. A job without runs
        is absent from the answer.
        """
        ...


class Doorbell(Protocol):
    """How a write in one process wakes the daemon watching the store in another."""

    def ring(self) -> None:
        """Tell a daemon watching this store that it changed (apply, trigger, pause)."""
        ...

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (on another thread) whenever ``ring`` is called from any process.

        Returns a function that stops watching.
        """
        ...


class Store(JobStore, FiringStore, LeaseStore, HistoryStore, Doorbell, Protocol):
    """Every role of the persistence for jobs, their state and runs; SQLite is built in.

    Other stores are plugins (``hookspecs.yamlcron_stores``).

    Every write method is one transaction: after a crash the store holds the state before
    the call or after it, never a mix. Implementations must be safe to call from several
    threads of one process.

    Schedulers take part through a ``Lease`` (``join``, ``renew``, ``leave``). A store
    shared by several processes (PostgreSQL) must make ``claim`` exclusive between them and
    take lease times from its own clock; SQLite admits one scheduler at a time
    (``lock_daemon``), so joining there ends every earlier lease.
    """

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...
