"""Executing claimed runs and recording their ends: the executor boundary.

A worker waits out a run's jitter, announces it, runs the executor (the one place where
any exception of job code is caught: a job's failure is data) and hands the outcome, with
what follows it (``firing.followups``), to the recorder. The recorder writes the ends of
runs that finish together in one transaction, then announces them and stops counting
them as running.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from yamlcron import firing
from yamlcron.callables import ended_by
from yamlcron.errors import CorruptJobError, LeaseLostError, StoreError
from yamlcron.events import RunEvent, run_event
from yamlcron.interfaces import Outcome, RunContext, Store
from yamlcron.model import AppliedManifest, JobSpec
from yamlcron.registry import Registry
from yamlcron.runs import Finish, Lease, Queued, Run, RunError, RunStatus
from yamlcron.scheduler.groupcommit import MAX_BATCH, write_batch
from yamlcron.scheduler.parts import Parts, Record, Recorded
from yamlcron.scheduler.pool import QUICK
from yamlcron.scheduler.unrecorded import RETRY_FIRST, Unrecorded

log = logging.getLogger("yamlcron.scheduler")

_UNREAD = object()  # no applied manifest is this one: the steps are not read yet


@dataclass(frozen=True, slots=True)
class Executors:
    """The executor boundary: each run's context, and the one catch-all for job code.

    ``folder`` is the manifest's (runs' working directory); ``cancelled`` is set past the
    shutdown grace, when executors stop their runs (SIGTERM, then SIGKILL ``kill_grace``
    seconds later).
    """

    registry: Registry
    folder: Path
    kill_grace: float
    cancelled: threading.Event = field(default_factory=threading.Event)
    #: Guards the process groups of runs by run id (``yamlcron.warden.Warden.tracked``).
    tracked: Callable[[int, int], AbstractContextManager[object]] = lambda _run, _pid: nullcontext()

    def outcome(self, run: Run, spec: JobSpec) -> Outcome:
        """Run ``run`` of ``spec`` on its executor, blocking; an exception is a ``failure``."""
        if self.cancelled.is_set():
            message = "yamlcron shut down before the run started"
            return Outcome(
                status=RunStatus.INTERRUPTED,
                error=RunError(type="Interrupted", message=message),
            )
        context = RunContext(
            run_id=run.id,
            job=spec,
            scheduled_at=run.scheduled_at,
            attempt=run.attempt,
            folder=self.folder,
            cancel=self.cancelled,
            kill_grace=self.kill_grace,
            tracked=partial(self.tracked, run.id),
            env={
                "YAMLCRON_JOB_ID": spec.id,
                "YAMLCRON_RUN_ID": str(run.id),
                "YAMLCRON_SCHEDULED_AT": run.scheduled_at.isoformat(),
                "YAMLCRON_ATTEMPT": str(run.attempt),
            },
        )
        try:
            return self.registry.executor(spec.executor).execute(context)
        # The executor boundary: a job's failure is data. BaseException too, as an executor
        # that lets a job's sys.exit() out must not end the worker with the run unrecorded.
        except BaseException as exc:
            log.exception("executor %s failed on run %s of %s", spec.executor, run.id, spec.id)
            return ended_by(exc, stopping=self.cancelled.is_set())


#: Seconds between two looks at a signal while waiting for runs (``wait_idle``).
WAIT_SLICE = 0.25


class Runner:
    """Runs claimed runs, records their ends and counts the runs under way. Thread-safe."""

    def __init__(
        self, store: Store, executors: Executors, parts: Parts, wakeup: Callable[[], None]
    ) -> None:
        """Nothing runs and nothing is read until a run is executed; ``wakeup`` is the loop's."""
        self.store = store
        self.executors = executors
        self.folder = executors.folder
        self.clock = parts.clock
        self.listener = parts.listener
        #: Recorded with every run: which manifest fired it.
        self.source: AppliedManifest | None = None
        self.lock = threading.Condition()  # guards the counts; the loop decides under it
        #: Runs claimed here and not ended, by job.
        self.under_way: Counter[str] = Counter()
        #: Runs ended here whose ends are being written: over, though the store says running.
        self.in_flight: Counter[str] = Counter()
        # Jobs of runs that just ended, moved from under_way to in_flight under the lock by
        # whoever takes it next: a worker appends without waiting for the loop's decisions.
        self._ended: deque[str] = deque()
        #: Ids of the runs handed to a worker and not yet recorded (or held).
        self.handed: set[int] = set()
        self._finished: Counter[str] = Counter()
        #: Work whose last run here took under ``QUICK`` (``work_of``): the pool runs it on
        #: the thread that waited for its start (``yamlcron.scheduler.pool``).
        self._quick: set[tuple[object, ...]] = set()
        self._wakeup = wakeup
        #: Ends the store refused: written again by the loop, with backoff, until it takes them.
        self.unrecorded = Unrecorded(self.clock)
        # The ``after`` steps of each job, as of ``source``: only an apply changes them.
        self._steps: tuple[object, dict[str, list[JobSpec]]] = (_UNREAD, {})
        # Runs that end together are recorded in one transaction: one disk flush for all.
        self._recorder = parts.commit(self._write, self._recorded, settled=self._settle)

    def read_steps(self) -> dict[str, list[JobSpec]]:
        """The ``after`` steps of every job: read once per applied manifest, not per run.

        The loop reads them at each pass, so that a worker reads the store here only when
        an apply landed while its run was under way.
        """
        source, steps = self._steps
        # By identity: comparing the two records field by field, once per run, cost more.
        if source is not self.source:
            source, steps = self._steps = (self.source, self.store.steps())
        return steps

    def steps(self, job_id: str) -> list[JobSpec]:
        """The jobs that run after ``job_id``.

        When the store cannot say (an apply landed since the loop's read, and the store
        fails now), the steps as last read: the run's end and its retries are not lost.
        """
        try:
            steps = self.read_steps()
        except StoreError as exc:
            log.error("cannot read the steps after %s, using those read before: %s", job_id, exc)
            steps = self._steps[1]
        return steps.get(job_id, [])

    def followups(self, spec: JobSpec, run: Run) -> tuple[Queued, ...]:
        """What a finished run of ``spec`` sets off (``firing.followups``)."""
        return firing.followups(spec, run, self.steps(spec.id), self.clock())

    def reaped(self, runs: list[Run]) -> dict[int, tuple[JobSpec | None, tuple[Queued, ...]]]:
        """Each reaped run's job (None if gone or unreadable) and what the run sets off."""
        jobs = self.store.load_jobs([r.job_id for r in runs]) if runs else {}
        found: dict[int, tuple[JobSpec | None, tuple[Queued, ...]]] = {}
        for run in runs:
            spec = None
            try:
                spec = jobs[run.job_id].spec if run.job_id in jobs else None
            except CorruptJobError as exc:  # reaped all the same; it is not retried
                log.error("%s; run %s is not retried", exc, run.id)
            found[run.id] = (spec, self.followups(spec, run) if spec else ())
        return found

    def quick(self, spec: JobSpec) -> bool:
        """Whether the work of ``spec`` took under ``QUICK`` when it last ran here."""
        return work_of(spec) in self._quick

    def count(self, starts: Mapping[str, int]) -> None:
        """Count runs as under way; under ``lock``, with the decisions that started them."""
        self.under_way.update(starts)

    def release(self, job_ids: Iterable[str]) -> None:
        """Runs of ``job_ids`` never started (or never reached the recorder): uncount them."""
        with self.lock:
            _uncount(self.under_way, job_ids)
            self.lock.notify_all()

    def counted(self, elsewhere: Counter[str]) -> Counter[str]:
        """Runs under way by job, for ``max_instances``; under ``lock``.

        ``elsewhere``: what the store shows running (every replica's, ours too). The runs
        that ended here are over whatever the store still says, being written or held
        after the store refused them: a replica does not count its own as others'.
        """
        self._drain()
        ended = self.in_flight | self.unrecorded.jobs()
        return (elsewhere - ended) | self.under_way

    def running(self, job_id: str) -> int:
        """How many runs of ``job_id`` are under way here."""
        with self.lock:
            self._drain()
            return self.under_way[job_id]

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no run is under way or being recorded; False on timeout.

        Waits in slices: Python runs a signal handler only when the main thread wakes, and
        a signal the kernel hands to another thread does not wake it. The daemon's main
        thread waits here for its runs after the first SIGTERM, and the second one must
        stop them at once.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.lock:
            while self.under_way or self.in_flight:
                left = WAIT_SLICE if deadline is None else deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(min(left, WAIT_SLICE))
            return True

    def known(self) -> set[int]:
        """The ids of the runs this runner has: handed to a worker, being recorded or held."""
        return self.handed | {finish.run.id for finish, _, _ in self.unrecorded.items()}

    def _drain(self) -> None:
        """Under ``lock``: the runs that ended count as being recorded, not as running."""
        while self._ended:
            job_id = self._ended.popleft()
            _uncount(self.under_way, [job_id])
            self.in_flight[job_id] += 1

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every run that ended so far is recorded; False on timeout."""
        return self._recorder.flush(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Record what ended, then end the recorder's thread.

        Ends the store refused are tried again meanwhile, for up to ``timeout`` seconds;
        any still refused then is logged, run by run, before the process exits.
        """
        deadline = time.monotonic() + timeout
        self._recorder.close(timeout)
        pause = RETRY_FIRST / 4
        while len(self.unrecorded) and not self.record_again(force=True):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(pause, left))  # the daemon is exiting: nothing else waits on us
            pause = min(pause * 2, RETRY_FIRST * 4)
        self.unrecorded.give_up()

    def record_again(self, *, force: bool = False) -> bool:
        """Write the held ends whose try is due (all with ``force``); True if none is left."""
        items = self.unrecorded.take(now=None if force else self.clock())
        if not items:  # already released: no run of them counts as running here
            return not len(self.unrecorded)
        refused: list[Record] = []
        failure: list[BaseException] = []

        def done(item: Record, previous: Recorded, error: BaseException | None) -> None:
            if error is None:
                self._report(item, previous)
            else:
                refused.append(item)
                failure[:] = [error]

        for start in range(0, len(items), MAX_BATCH):  # transactions of a bounded size
            if refused:  # the store refuses: the rest waits for the next try with them
                refused += items[start:]
                break
            write_batch(items[start : start + MAX_BATCH], self._write, done, None)
        self.unrecorded.tried(refused, failure[0] if failure else None, len(items) - len(refused))
        return not refused and not len(self.unrecorded)

    def announce(self, event: RunEvent) -> None:
        """Hand a run event to the listener."""
        self.listener.on_run(event)

    def execute(self, run: Run, spec: JobSpec, lease: Lease, heard: bool) -> None:
        """On a worker: wait out the jitter, run the executor, hand the outcome to the recorder.

        ``heard``: whether the run's events reach anyone. Whatever happens, the run stops
        counting as running: here if it never reached the recorder, else once recorded.
        """
        handed = False
        try:
            if run.started_at is not None:
                delay = (run.started_at - self.clock()).total_seconds()
                if delay > 0:
                    self.executors.cancelled.wait(delay)
            started = self.clock()
            if heard:
                running = replace(run, started_at=started)
                kinds = frozenset({"started"})
                self.announce(
                    RunEvent(
                        kind="started",
                        run=running,
                        job=spec,
                        notify_kinds=kinds,
                        folder=self.folder,
                    )
                )
            outcome = self.executors.outcome(run, spec)
            ended, work = self.clock(), work_of(spec)
            if (ended - started).total_seconds() < QUICK:
                self._quick.add(work)
            else:
                self._quick.discard(work)
            final = run.ended(outcome, started, ended)
            followups = self.followups(spec, final)
            self._finished[spec.id] += 1
            # Trim the history every tenth of it, in the same transaction as the result.
            trim = self._finished[spec.id] % max(spec.history // 10, 1) == 0
            keep = spec.history if trim else None
            finish = Finish(run=final, lease=lease, followups=followups, keep=keep)
            self._ended.append(spec.id)  # before the recorder can settle it
            handed = True
            self._recorder.put((finish, spec, heard))
        finally:
            if not handed:
                self.handed.discard(run.id)
                self.release([run.job_id])

    def conclude(self, final: Run, spec: JobSpec, lease: Lease, heard: bool) -> None:
        """Record the end of a run that ran elsewhere (a remote run, ``yamlcron.remotetracker``).

        As ``execute`` records a local run's: what follows it is queued with it, and it
        stops counting as running once written.
        """
        finish = Finish(run=final, lease=lease, followups=self.followups(spec, final))
        self._ended.append(spec.id)  # before the recorder can settle it
        self._recorder.put((finish, spec, heard))

    def _write(self, items: list[Record]) -> Sequence[Recorded]:
        return self.store.finish_many([finish for finish, _, _ in items])

    def _recorded(self, item: Record, previous: Recorded, error: BaseException | None) -> None:
        """On the recorder's thread, once a run's end is written (or could not be)."""
        if error is not None:  # the loop tries again (``record_again``), with backoff
            self.unrecorded.hold(item, error)
        else:
            self._report(item, previous)

    def _report(self, item: Record, previous: Recorded) -> None:
        """A run's end was written (or refused for a lost lease): log and announce it."""
        finish, spec, heard = item
        run = finish.run
        if isinstance(previous, LeaseLostError):
            log.warning("the %s result of run %s was discarded: %s", run.status, run.id, previous)
        else:
            _log_finished(run)
            if heard:
                self.announce(
                    run_event(
                        run, spec, retrying=finish.retrying, previous=previous, folder=self.folder
                    )
                )
            if finish.followups:
                self._wakeup()

    def _settle(self, items: list[Record]) -> None:
        """A batch of ends was written (or held): no longer being recorded. Once a batch."""
        with self.lock:
            self._drain()
            _uncount(self.in_flight, (finish.run.job_id for finish, _, _ in items))
            self.lock.notify_all()
        self.handed.difference_update(finish.run.id for finish, _, _ in items)


def work_of(spec: JobSpec) -> tuple[object, ...]:
    """What a job runs, by which executor: jobs doing the same work share their quickness.

    Ten thousand jobs calling one function at one instant are one burst of the same work.
    """
    run = spec.run
    return (spec.executor, run.call, run.command, run.shell, run.task)


def _uncount(counts: Counter[str], job_ids: Iterable[str]) -> None:
    for job_id in job_ids:
        counts[job_id] -= 1
        if counts[job_id] <= 0:
            del counts[job_id]


def _log_finished(run: Run) -> None:
    level = logging.INFO if run.status == RunStatus.SUCCESS else logging.WARNING
    # Built only if someone sees it: it was a tenth of the recorder's time per run.
    if not log.isEnabledFor(level):
        return
    took = 0.0
    if run.finished_at and run.started_at:
        took = (run.finished_at - run.started_at).total_seconds()
    if run.error is not None:
        detail = f": {run.error.message}"
    else:
        lines = run.output.strip().splitlines()
        detail = f": {lines[-1][:200]}" if lines else ""
    log.log(
        level,
        "%s run %s (attempt %s) %s in %.3f s%s",
        run.job_id,
        run.id,
        run.attempt,
        run.status.value,
        took,
        detail,
    )
