"""The scheduler loop: ``tick(now)`` does one pass, ``run_forever`` sleeps between passes.

A pass reads the due jobs from the store (by the next-fire-time index, never a scan) and
the due queued fires (retries, workflow steps, manual triggers). For each job it decides,
once and before anything runs, what becomes of every fire time that has come:

* later than ``misfire_grace_time`` past its time: a ``missed`` run;
* several on time with ``coalesce``: the latest runs, the others are ``missed``;
* past ``max_instances``: a ``skipped`` run;
* otherwise a ``running`` run, started after a random ``jitter`` (a manual trigger: at once).

All of it is claimed in one store transaction together with each job's advanced next fire
time, then the running runs are handed to the worker pool. A worker runs the executor and
hands the outcome to the recorder thread, which writes it in one transaction with what
follows it (a retry while attempts are left, else the ``after`` steps that the final
outcome fires), batched with whatever else ended meanwhile.

The clock is injected; nothing here sleeps to learn the time, so tests drive ``tick``
with a fake clock.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from yamlcron.callables import error_of
from yamlcron.durations import format_duration
from yamlcron.errors import LeaseLostError, StoreError
from yamlcron.events import RunEvent, run_event
from yamlcron.gcfreeze import Freezer
from yamlcron.groupcommit import GroupCommit
from yamlcron.membership import DEFAULT_TTL, Membership
from yamlcron.model import AppliedManifest, JobSpec
from yamlcron.registry import Registry
from yamlcron.runs import (
    Claim,
    DueJob,
    Finish,
    Lease,
    NewRun,
    Outcome,
    Queued,
    Run,
    RunContext,
    RunStatus,
    Store,
)
from yamlcron.triggers import Schedule, schedule_for
from yamlcron.workerpool import WorkerPool

log = logging.getLogger(__name__)

#: Longest sleep: changes from elsewhere also ring the store's doorbell, so this is a backstop.
MAX_SLEEP = 60.0
#: Jobs (and queued fires) taken per pass; a full batch means another pass at once.
BATCH = 1000
#: Parsed schedules kept by (job, spec digest, anchor); the loop fires the same jobs again.
_SCHEDULE_CACHE = 50_000
#: Fire times of one job looked at per pass; beyond, the schedule jumps to now.
MAX_CATCHUP = 1000
#: Pause after a pass the store could not serve (a database restart), before the next.
STORE_RETRY = 1.0
#: Fires are claimed this far ahead of their time and start at it, so the claim's durable
#: commit is not part of their lateness (about 1 ms at p50, several at p99 on SQLite).
LEAD = timedelta(milliseconds=5)

Clock = Callable[[], datetime]
Dispatch = Callable[[Callable[[], None]], None]
Publish = Callable[[RunEvent], None]


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


def default_node() -> str:
    """This process's name in run records: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Scheduler:
    """Fires the jobs of one store. Thread-safe: ``wakeup``, ``trigger``, ``stop`` from anywhere."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        folder: Path,
        *,
        clock: Clock = utc_now,
        workers: int = 32,
        dispatch: Dispatch | None = None,
        node: str | None = None,
        rng: random.Random | None = None,
        kill_grace: float = 10.0,
        publish: Publish | None = None,
        lease_ttl: float = DEFAULT_TTL,
        freeze_gc: bool = False,
        hears: Callable[[JobSpec], bool] | None = None,
    ) -> None:
        """Build a scheduler; nothing runs until ``tick`` or ``run_forever``.

        ``dispatch`` runs a unit of work (default: a pool of ``workers`` threads);
        ``publish`` hears every run event (default: nobody); ``lease_ttl`` is how long
        this scheduler may go without renewing its lease before others take its runs over.
        ``hears`` tells whether a run event of a job would reach anyone (default: when
        ``publish`` is given); no event is built for nobody, as building them cost about a
        tenth of a fire's time at thousands a second. ``freeze_gc`` has ``run_forever``
        freeze the process's long-lived objects out of the cyclic collector
        (``gcfreeze``): for a process of its own, as ``yamlcron run``.
        """
        self.store = store
        self.registry = registry
        self.folder = folder
        self.clock = clock
        self.node = node or default_node()
        self.kill_grace = kill_grace
        self.publish: Publish = publish or (lambda event: None)
        self._hears: Callable[[JobSpec], bool] = hears or (lambda spec: publish is not None)
        self._rng = rng or random.Random()
        self._pool = None if dispatch else WorkerPool(workers)
        self._dispatch: Dispatch = dispatch or self._submit
        self._wake = threading.Event()
        self._cancel = threading.Event()  # past the shutdown grace: executors stop their runs
        self._stopping = False
        self._lock = threading.Condition()
        self._pass = threading.Lock()  # held through one tick: stop() waits for it to end
        self._running: Counter[str] = Counter()
        self._finished: Counter[str] = Counter()
        self._schedules: dict[tuple[str, str, datetime], Schedule] = {}
        self._freeze: Callable[[], bool] = Freezer() if freeze_gc else (lambda: False)
        self.source = store.last_applied()  # recorded with every run: which manifest fired it
        self._changed_elsewhere = False
        # The ``after`` steps of each job, as of ``self.source``: only an apply changes them.
        self._steps: tuple[AppliedManifest | None, dict[str, list[JobSpec]]] = (
            self.source,
            store.steps(),
        )
        self.membership = Membership(store, self.node, lease_ttl, on_beat=self.recover)
        # Runs that end together are recorded in one transaction: one disk flush for all.
        self._recorder: GroupCommit[tuple[Finish, JobSpec, bool], str | LeaseLostError | None] = (
            GroupCommit(
                lambda items: store.finish_many([i[0] for i in items]),
                self._recorded,
                settled=lambda items: self._release([i[0].run.job_id for i in items]),
            )
        )

    # -- the loop -----------------------------------------------------------------------

    def recover(self) -> list[Run]:
        """Mark runs of dead schedulers (leases expired) ``interrupted``; queue their retries.

        Called at start and after every heartbeat, so a replica that dies is taken over by
        the others.
        """
        self.membership.current()  # join first: on SQLite that ends the leases before it
        runs = self.store.reap(self.clock())
        jobs = self.store.load_jobs([r.job_id for r in runs]) if runs else {}
        for run in runs:
            log.warning(
                "run %s of %s on %s was cut short (its scheduler stopped); marked interrupted",
                run.id,
                run.job_id,
                run.node,
            )
            spec = jobs[run.job_id].spec if run.job_id in jobs else None
            followups = self._followups(spec, run) if spec else []
            for item in followups:
                self.store.enqueue(item)
            self.publish(run_event(run, spec, retrying=bool(followups), folder=self.folder))
        if runs:
            self.wakeup()
        return runs

    def tick(self, now: datetime) -> float:
        """Claim and dispatch everything due at ``now``; return seconds until the next pass."""
        with self._pass:
            if self._stopping:
                return MAX_SLEEP
            return self._tick(now)

    def _tick(self, now: datetime) -> float:
        if self._changed_elsewhere:  # another process applied, perhaps: which manifest now
            self._changed_elsewhere = False
            self.source = self.store.last_applied()
        due = self.store.due(now + LEAD, BATCH)
        queued = self.store.due_queued(now, BATCH)
        specs: dict[str, JobSpec] = {}
        claims: list[Claim] = []
        # Runs under way anywhere count against max_instances. A held lease (a SQLite
        # daemon's) has the store to itself: every run under way is in ``_running``.
        alone = self.membership.current().ttl is None
        everywhere = Counter(self.store.running() if (due or queued) and not alone else {})
        with self._lock:
            starting = everywhere - self._running  # elsewhere: ours are in _running
            for job in due:
                specs[job.spec.id] = job.spec
                claims.append(self._claim_fires(job, now, starting))
            for item, spec in queued:
                if spec is not None:
                    specs[spec.id] = spec
                claims.append(self._claim_queued(item, spec, now, starting))
            starts = self._count_starts(claims)
        written = self._claim(claims, starts) if claims else []
        self._hand_out(written, specs, self._dispatch)
        if len(due) == BATCH or len(queued) == BATCH:
            return 0.0
        wake = self.store.next_wakeup()
        if wake is None:
            return MAX_SLEEP
        return min(max((wake - LEAD - self.clock()).total_seconds(), 0.0), MAX_SLEEP)

    def run_forever(self) -> None:
        """Pass, sleep until the next fire time or a wake-up, repeat until ``stop``.

        Keeps the lease renewed meanwhile. A pass the store cannot serve is logged and
        tried again a second later: a database restart pauses firing, it does not end it.
        """
        self.membership.start()
        while not self._stopping:
            try:
                delay = self.tick(self.clock())
            except StoreError as exc:
                log.error("the store failed a pass, trying again in %s s: %s", STORE_RETRY, exc)
                delay = STORE_RETRY
            self._freeze()
            if delay > 0:
                self._wake.wait(delay)
            self._wake.clear()

    def wakeup(self) -> None:
        """Make the loop pass again now (after an apply, a trigger, a queued retry)."""
        self._wake.set()

    def store_changed(self) -> None:
        """Another process wrote to the store (an apply, a trigger): pass now, re-read it."""
        self._changed_elsewhere = True
        self.wakeup()

    def request_stop(self) -> None:
        """Stop firing; ``run_forever`` returns. Runs under way go on (see ``stop``)."""
        self._stopping = True
        self.wakeup()

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop firing; wait up to ``timeout`` s for running runs, then stop them.

        Returns True when every run finished within ``timeout``.
        """
        self.request_stop()
        with self._pass:  # a pass under way dispatches what it claimed before the pool closes
            pass
        finished = self.wait_idle(timeout)
        if not finished:
            self.cancel()
            self.wait_idle(self.kill_grace + 5.0)
        if self._pool is not None:
            self._pool.shutdown()
        self._recorder.close(timeout=5)
        self.membership.stop()
        return finished

    def cancel(self) -> None:
        """Stop running runs now (a second SIGTERM): their processes get SIGTERM, then SIGKILL."""
        self._stopping = True
        self._cancel.set()
        self.wakeup()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no run is under way; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._running, timeout)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every run that ended so far is recorded; False on timeout."""
        return self._recorder.flush(timeout)

    def running(self, job_id: str) -> int:
        """How many runs of ``job_id`` this scheduler has under way."""
        with self._lock:
            return self._running[job_id]

    def trigger(self, job_id: str) -> Queued:
        """Queue a run of ``job_id`` now and wake the loop; the run's ``scheduled_at`` names it."""
        now = self.clock()
        item = Queued(job_id=job_id, due_at=now, scheduled_at=now, reason="trigger")
        self.store.enqueue(item)
        self.wakeup()
        return item

    def run_now(self, job_id: str, poll: float = 0.1) -> Run:
        """Run ``job_id`` in this thread, retries included: ``trigger`` without a daemon.

        Only this fire is claimed; workflow steps it sets off stay queued for a daemon. The
        lease is renewed meanwhile, as the daemon's is: a run longer than ``lease_ttl`` would
        otherwise lose its result to the reaper, and this call would wait for it forever.
        ``cancel`` (from a signal handler or another thread) stops the run under way, which
        is recorded ``interrupted``, and returns the fire's latest run: a retry it queued
        is left for a daemon, like the workflow steps.
        """
        item = Queued(job_id=job_id, due_at=self.clock(), scheduled_at=self.clock())
        self.store.enqueue(item)
        self.membership.start()
        try:
            return self._run_queued(item, poll)
        finally:
            self.membership.stop()  # a one-off: end the lease rather than let it expire

    def _run_queued(self, item: Queued, poll: float) -> Run:
        job_id = item.job_id
        while True:
            now = self.clock()
            mine = [
                (queued, spec)
                for queued, spec in self.store.due_queued(now, BATCH)
                if queued.job_id == job_id and queued.scheduled_at == item.scheduled_at
            ]
            for queued, spec in mine:
                with self._lock:
                    claims = [self._claim_queued(queued, spec, now, Counter())]
                    starts = self._count_starts(claims)
                runs = self._claim(claims, starts)
                if spec is not None:  # else the job was removed: the claim dropped the item
                    self._hand_out(runs, {job_id: spec}, _inline)
                self.flush()
            final = final_run(self.store, job_id, item.scheduled_at)
            if final is not None:
                return final
            if self._cancel.is_set():  # Ctrl-C, --timeout: what is still queued is a daemon's
                latest = self.store.runs(job_id, limit=1, scheduled_at=item.scheduled_at)
                if latest:
                    return latest[0]
            if not mine:
                self._cancel.wait(poll)  # a retry is waiting for its delay

    def _hand_out(
        self, written: list[tuple[Run, Lease]], specs: dict[str, JobSpec], dispatch: Dispatch
    ) -> None:
        """Start the claimed ``running`` runs on ``dispatch``; announce the others.

        The loop and ``run_now`` both come here, so a manual run without a daemon is
        announced as one through it is (``submitted``, ``skipped``, ...).
        """
        for run, lease in written:
            spec = specs[run.job_id]
            heard = self._hears(spec)  # asked once per run: the answer travels with it
            if run.status == RunStatus.RUNNING:
                if heard:
                    self.publish(RunEvent(kind="submitted", run=run, job=spec, folder=self.folder))
                dispatch(partial(self._execute, run, spec, lease, heard))
            elif heard:
                self.publish(run_event(run, spec, folder=self.folder))

    def _count_starts(self, claims: list[Claim]) -> Counter[str]:
        """Count the runs the claims start as running; the counts go on to ``_claim``.

        Under ``self._lock``, with the decisions: ``max_instances`` is checked against them.
        """
        starts = Counter(
            new.job_id for claim in claims for new in claim.runs if new.status == RunStatus.RUNNING
        )
        self._running.update(starts)
        return starts

    def _claim(self, claims: list[Claim], starts: Counter[str]) -> list[tuple[Run, Lease]]:
        """Write the claims, whose ``starts`` were counted as running when decided.

        Counted before the write, so ``self._lock`` is not held across its disk flush: the
        recorder needs it to release every run that ends. The starts that were not written
        (another replica claimed the fire first, or the lease was lost) are released here.
        Each run comes with the lease it was claimed under: only that lease may finish it.
        """
        lease = self.membership.current()
        written: list[Run] = []
        try:
            written = self.store.claim(claims, lease, self.source)
        except LeaseLostError:
            self.membership.rejoin(lease)  # nothing was claimed; the next pass tries anew
            self.wakeup()
        finally:  # a store error too: what was not written does not run
            starts.subtract(r.job_id for r in written if r.status == RunStatus.RUNNING)
            if unwritten := list(starts.elements()):
                self._release(unwritten)
        return [(run, lease) for run in written]

    # -- deciding what every due fire becomes --------------------------------------------

    def _schedule(self, job: DueJob) -> Schedule:
        key = (job.spec.id, job.spec.digest, job.anchor)
        schedule = self._schedules.get(key)
        if schedule is None:
            if len(self._schedules) > _SCHEDULE_CACHE:
                self._schedules.clear()
            schedule = self._schedules[key] = schedule_for(job.spec.trigger, job.anchor)
        return schedule

    def _claim_fires(self, job: DueJob, now: datetime, starting: Counter[str]) -> Claim:
        spec, schedule = job.spec, self._schedule(job)
        times = [job.next_run_at]
        following = schedule.next_fire(job.next_run_at)
        while following is not None and following <= now and len(times) < MAX_CATCHUP:
            times.append(following)
            following = schedule.next_fire(following)
        if following is not None and following <= now:
            log.warning(
                "job %s missed more than %d fire times; catching up to now", spec.id, MAX_CATCHUP
            )
            following = schedule.next_fire(now)
        grace = spec.misfire_grace_time
        runs: list[NewRun] = []
        on_time = []
        for moment in times:
            late = (now - moment).total_seconds()
            if grace is not None and late > grace:
                message = (
                    f"started {format_duration(late)} late, past the misfire grace "
                    f"of {format_duration(grace)}"
                )
                runs.append(_final(spec.id, moment, RunStatus.MISSED, now, "Missed", message))
            else:
                on_time.append(moment)
        if spec.coalesce and len(on_time) > 1:
            kept = on_time[-1]
            message = f"coalesced into the fire at {kept.isoformat()}"
            runs += [
                _final(spec.id, m, RunStatus.MISSED, now, "Coalesced", message)
                for m in on_time[:-1]
            ]
            on_time = [kept]
        # Older ones would be pruned at once: keep what the history holds, runs included.
        runs = runs[max(len(runs) + len(on_time) - spec.history, 0) :]
        for moment in on_time:
            runs.append(self._start_or_skip(spec, moment, now, starting))
        return Claim(
            job_id=spec.id, expected=job.next_run_at, next_run_at=following, runs=tuple(runs)
        )

    def _claim_queued(
        self, item: Queued, spec: JobSpec | None, now: datetime, starting: Counter[str]
    ) -> Claim:
        if spec is None:  # the job was removed since: drop what was queued for it
            return Claim(job_id=item.job_id, queued_id=item.id)
        if item.reason != "trigger" and spec.paused:
            new = _final(
                spec.id,
                item.scheduled_at,
                RunStatus.SKIPPED,
                now,
                "Paused",
                f"the job is paused; its {item.reason} did not run",
                item.attempt,
            )
        else:
            # Run now means now: jitter spreads the trigger's own fires, not a manual one.
            jitter = item.reason != "trigger"
            new = self._start_or_skip(
                spec, item.scheduled_at, now, starting, item.attempt, jitter=jitter
            )
        new = replace(new, cause_run_id=item.cause_run_id)
        return Claim(job_id=spec.id, queued_id=item.id, runs=(new,))

    def _start_or_skip(
        self,
        spec: JobSpec,
        moment: datetime,
        now: datetime,
        starting: Counter[str],
        attempt: int = 1,
        *,
        jitter: bool = True,
    ) -> NewRun:
        if self._running[spec.id] + starting[spec.id] >= spec.max_instances:
            message = f"{spec.max_instances} run(s) already under way (max_instances)"
            return _final(spec.id, moment, RunStatus.SKIPPED, now, "Skipped", message, attempt)
        starting[spec.id] += 1
        start = max(now, moment)  # not before its time
        if jitter and spec.trigger.jitter:
            start += timedelta(seconds=self._rng.uniform(0, spec.trigger.jitter))
        return NewRun(
            job_id=spec.id,
            scheduled_at=moment,
            status=RunStatus.RUNNING,
            attempt=attempt,
            started_at=start,
        )

    # -- running ------------------------------------------------------------------------

    def _submit(self, work: Callable[[], None]) -> None:
        assert self._pool is not None
        self._pool.submit(work)

    def _execute(self, run: Run, spec: JobSpec, lease: Lease, heard: bool) -> None:
        """On a worker: wait out the jitter, run the executor, hand the outcome to the recorder.

        ``heard``: whether the run's events reach anyone.
        """
        handed = False
        try:
            if run.started_at is not None:
                delay = (run.started_at - self.clock()).total_seconds()
                if delay > 0:
                    self._cancel.wait(delay)
            started = self.clock()
            if heard:
                self.publish(
                    RunEvent(
                        kind="started",
                        run=replace(run, started_at=started),
                        job=spec,
                        notify_kinds=frozenset({"started"}),
                        folder=self.folder,
                    )
                )
            final = run.ended(self._outcome(run, spec, started), started, self.clock())
            followups = self._followups(spec, final)
            self._finished[spec.id] += 1
            # Trim the history every tenth of it, in the same transaction as the result.
            trim = self._finished[spec.id] % max(spec.history // 10, 1) == 0
            finish = Finish(
                run=final,
                lease=lease,
                followups=tuple(followups),
                keep=spec.history if trim else None,
            )
            self._recorder.put((finish, spec, heard))
            handed = True
        finally:
            if not handed:
                self._release([run.job_id])

    def _recorded(
        self,
        item: tuple[Finish, JobSpec, bool],
        previous: str | LeaseLostError | None,
        error: BaseException | None,
    ) -> None:
        """On the recorder thread, once a run's end is written (or could not be).

        The run is released with the rest of its batch (``_release``), once all are reported.
        """
        finish, spec, heard = item
        run = finish.run
        if error is not None:  # left running: whoever reaps the lease retries it
            log.error("cannot record the end of run %s of %s: %s", run.id, run.job_id, error)
        elif isinstance(previous, LeaseLostError):
            log.warning("the %s result of run %s was discarded: %s", run.status, run.id, previous)
        else:
            _log_finished(run)
            if heard:
                event = run_event(
                    run, spec, retrying=finish.retrying, previous=previous, folder=self.folder
                )
                self.publish(event)
            if finish.followups:
                self.wakeup()

    def _release(self, job_ids: Iterable[str]) -> None:
        """Runs of ``job_ids`` are over, their ends recorded: they no longer count as running.

        Once per recorded batch, not per run: the loop holds the lock while it decides.
        """
        with self._lock:
            for job_id in job_ids:
                self._running[job_id] -= 1
                if self._running[job_id] <= 0:
                    del self._running[job_id]
            self._lock.notify_all()

    def _outcome(self, run: Run, spec: JobSpec, started: datetime) -> Outcome:
        if self._cancel.is_set():
            message = "yamlcron shut down before the run started"
            return Outcome(
                status=RunStatus.INTERRUPTED,
                error={"type": "Interrupted", "message": message, "traceback": None},
            )
        context = RunContext(
            run_id=run.id,
            job=spec,
            scheduled_at=run.scheduled_at,
            attempt=run.attempt,
            folder=self.folder,
            cancel=self._cancel,
            kill_grace=self.kill_grace,
            env={
                "YAMLCRON_JOB_ID": spec.id,
                "YAMLCRON_RUN_ID": str(run.id),
                "YAMLCRON_SCHEDULED_AT": run.scheduled_at.isoformat(),
                "YAMLCRON_ATTEMPT": str(run.attempt),
            },
        )
        try:
            return self.registry.executor(spec.executor).execute(context)
        except Exception as exc:  # the executor boundary: a job's failure is data
            log.exception("executor %s failed on run %s of %s", spec.executor, run.id, spec.id)
            return Outcome(status=RunStatus.FAILURE, error=error_of(exc))

    def _followups(self, spec: JobSpec, run: Run) -> list[Queued]:
        """What a finished run sets off: a retry, or the workflow steps after it."""
        end = run.finished_at or self.clock()
        if run.status.failed and run.attempt < spec.retry.attempts:
            delay = timedelta(seconds=spec.retry.delay_before(run.attempt + 1))
            return [
                Queued(
                    job_id=spec.id,
                    due_at=end + delay,
                    scheduled_at=run.scheduled_at,
                    attempt=run.attempt + 1,
                    reason="retry",
                    cause_run_id=run.id,
                )
            ]
        outcome = "success" if run.status == RunStatus.SUCCESS else "failure"
        return [
            Queued(
                job_id=step.id, due_at=end, scheduled_at=end, reason="after", cause_run_id=run.id
            )
            for step in self._downstream(spec.id)
            if step.trigger.when in (outcome, "always")
        ]

    def _downstream(self, job_id: str) -> list[JobSpec]:
        """The jobs that run after ``job_id``: read once per applied manifest, not per run."""
        source, steps = self._steps
        # By identity: comparing the two records field by field, once per run, cost more.
        if source is not self.source:
            source, steps = self._steps = (self.source, self.store.steps())
        return steps.get(job_id, [])


def _inline(work: Callable[[], None]) -> None:
    """Dispatch on the calling thread: ``run_now`` runs its fire where it is called."""
    work()


def final_run(store: Store, job_id: str, scheduled_at: datetime) -> Run | None:
    """The last attempt of a fire once nothing more is pending for it, else None."""
    runs = store.runs(job_id, limit=1000, scheduled_at=scheduled_at)
    if not runs or not runs[0].status.final or store.pending(job_id, scheduled_at):
        return None
    return runs[0]


def _final(
    job_id: str,
    moment: datetime,
    status: RunStatus,
    now: datetime,
    kind: str,
    message: str,
    attempt: int = 1,
) -> NewRun:
    error: dict[str, Any] = {"type": kind, "message": message, "traceback": None}
    return NewRun(
        job_id=job_id,
        scheduled_at=moment,
        status=status,
        attempt=attempt,
        started_at=now,
        error=error,
    )


def _log_finished(run: Run) -> None:
    level = logging.INFO if run.status == RunStatus.SUCCESS else logging.WARNING
    # Built only if someone sees it: it was a tenth of the recorder's time per run.
    if not log.isEnabledFor(level):
        return
    took = 0.0
    if run.finished_at and run.started_at:
        took = (run.finished_at - run.started_at).total_seconds()
    if run.error is not None:
        detail = f": {run.error.get('message', '')}"
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
