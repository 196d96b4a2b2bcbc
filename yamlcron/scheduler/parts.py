"""What a scheduler is built from beside its store and settings: clock, listener, pool, recorder.

Each has a default for a daemon; tests pass a fake clock, ``InlinePool`` and
``InlineCommit`` so a run is executed and recorded before ``tick`` returns.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from yamlcron.errors import LeaseLostError
from yamlcron.eventbus import EventBus
from yamlcron.events import RunEvent
from yamlcron.firing import Uniform
from yamlcron.model import JobSpec, NotifySpec
from yamlcron.runs import Finish
from yamlcron.scheduler.groupcommit import Committer, Done, GroupCommit, Settled, Write
from yamlcron.scheduler.pool import Pool

Clock = Callable[[], datetime]
#: What ``Store.finish_many`` answers per run: the previous outcome, or the lease's loss.
Recorded = str | LeaseLostError | None
Record = tuple[Finish, JobSpec, bool]


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


class RunListener(Protocol):
    """Hears the runs of a scheduler: submitted, started, ended, missed, skipped.

    ``hears(job)`` is asked once per run, on the loop's thread, before any event of it is
    built: building events for nobody cost a tenth of a fire's time at thousands a second.
    ``on_run(event)`` is then called for each event of that run, on the loop's thread
    (``submitted``, ``missed``, ``skipped``), a worker's (``started``) or the recorder's
    (the end). It must return quickly and not raise (hand the event to a queue).
    """

    def hears(self, job: JobSpec) -> bool:
        """Whether events of runs of ``job`` would reach anyone."""
        ...

    def on_run(self, event: RunEvent) -> None:
        """Take one run event."""
        ...


class Nobody:
    """The listener of a scheduler nobody listens to."""

    def hears(self, job: JobSpec) -> bool:
        """Nobody hears anything."""
        return False

    def on_run(self, event: RunEvent) -> None:
        """Never called, as nobody hears."""


class BusListener:
    """Run events to an ``EventBus``: its hooks, the job's notifiers and the ``shared`` ones.

    ``shared()`` answers the manifest's top-level ``notify`` as of now (an apply changes it).
    """

    def __init__(self, bus: EventBus, shared: Callable[[], Sequence[NotifySpec]]) -> None:
        self._bus = bus
        self._shared = shared

    def hears(self, job: JobSpec) -> bool:
        """Whether the bus would deliver a run event of ``job`` to anyone."""
        return self._bus.hears_run(job, self._shared())

    def on_run(self, event: RunEvent) -> None:
        """Queue the event on the bus."""
        self._bus.publish_run(event, self._shared())


class CommitFactory(Protocol):
    """Builds the recorder: ``GroupCommit`` (the default) or ``InlineCommit``."""

    def __call__(
        self,
        write: Write[Record, Recorded],
        done: Done[Record, Recorded],
        *,
        settled: Settled[Record],
    ) -> Committer[Record]:
        """A committer of run records."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Parts:
    """The injectable parts of a scheduler.

    ``clock``: the time (UTC, aware). ``listener``: hears the runs. ``uniform``: the random
    source of jitter. ``pool``: executes runs (None: a ``WorkerPool`` of the configured
    ``workers``, started with the first run). ``commit``: builds the recorder that writes
    runs' ends (``GroupCommit``: batched on a thread of its own).
    """

    clock: Clock = utc_now
    listener: RunListener = field(default_factory=Nobody)
    uniform: Uniform = random.uniform
    pool: Pool | None = None
    commit: CommitFactory = GroupCommit
