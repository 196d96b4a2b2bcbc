"""The scheduler loop: ``tick(now)`` does one pass, ``run_forever`` sleeps between passes.

A pass reads the due jobs from the store (by the next-fire-time index, never a scan) and
the due queued fires (retries, workflow steps, manual triggers), has ``firing.decide``
say what becomes of each, and the ``Claimer`` claims all of it in one store transaction
together with each job's advanced next fire time, then hands the running runs to the
pool, whose workers run them through the ``Runner``.

Fires are claimed up to ``LEAD`` ahead of their time, and a pass starts when the next is
``WAKE`` away, so at a thousand fires a second a pass claims thirty of them rather than
one or two. The pool holds each run until its time and starts it then, whatever the loop
is doing (a claim's disk flush).

The clock is injected; nothing here sleeps to learn the time, so tests drive ``tick``
with a fake clock. Building a scheduler reads and writes nothing: ``recover`` (at start)
and the first pass do.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from yamlcron import firing
from yamlcron.errors import StoreError, StoreGoneError
from yamlcron.events import run_event
from yamlcron.giveway import give_way
from yamlcron.interfaces import Store
from yamlcron.model import AppliedManifest, JobSpec
from yamlcron.registry import Registry
from yamlcron.remotetracker import Tracker
from yamlcron.runs import Claim, DueJob, Queued, Run, RunStatus
from yamlcron.scheduler.claiming import Claimer
from yamlcron.scheduler.gcfreeze import Freezer
from yamlcron.scheduler.lease import LeaseKeeper
from yamlcron.scheduler.parts import Parts
from yamlcron.scheduler.pool import InlinePool, WorkerPool
from yamlcron.scheduler.pulse import Pulse
from yamlcron.scheduler.runner import Executors, Runner
from yamlcron.schedulerconfig import SchedulerConfig
from yamlcron.triggers import Schedule, schedule_for
from yamlcron.warden import Warden

log = logging.getLogger("yamlcron.scheduler")

#: Longest sleep: changes from elsewhere also ring the store's doorbell, so this is a backstop.
MAX_SLEEP = 60.0
#: Most jobs (and queued fires) taken per pass; a full batch means another pass at once.
BATCH = 1000
#: The first pass of a burst takes this many, and each full pass after it twice as many,
#: up to ``BATCH``: the first runs of thousands due at once start after a short claim.
FIRST_BATCH = 64
#: Before a sleep of this many seconds or more, the jobs due at its end are read, their
#: specs and schedules parsed (``PREPARE`` at most): ten thousand jobs due at one instant
#: spent a third of their burst parsing what had waited an hour.
PREPARE_AFTER = 1.0
PREPARE = 10_000
#: Parsed schedules kept by (job, spec digest, anchor); the loop fires the same jobs again.
_SCHEDULE_CACHE = 50_000
#: Pause after a pass the store could not serve (a database restart), before the next.
STORE_RETRY = 1.0
#: Fires are claimed up to this far ahead of their time and start at it, so the claim's
#: durable commit is not part of their lateness.
LEAD = timedelta(milliseconds=50)
#: A burst: this many jobs or more due at one instant. The loop learns of it when it parses
#: them (``PREPARE_AFTER`` ahead) and claims them ``AHEAD_PER_JOB`` each ahead of the instant
#: (``AHEAD_MAX`` at most), so that only their runs are left to do when it comes: ten
#: thousand no-op jobs due at once had their last start 0.5 s after the instant rather than
#: 1.4 s, the claim no longer competing with the runs (bench/README.md, "A burst claimed
#: ahead"). Only the burst's own jobs are claimed early, and a fire that would be skipped
#: (``max_instances``) is left to be decided at its time.
BURST = 256
AHEAD_PER_JOB = timedelta(microseconds=150)
AHEAD_MAX = timedelta(seconds=2)
#: A pass starts when the next fire is this close: each claims what falls due over the
#: next ``LEAD - WAKE`` at least, not the one or two fires of each millisecond.
WAKE = timedelta(milliseconds=20)


class Scheduler:
    """Fires the jobs of one store. Thread-safe: ``wakeup``, ``trigger``, ``stop`` from anywhere.

    Build it with the store, the registry (executors by name), the manifest's ``folder``
    (runs' working directory), a ``SchedulerConfig`` and the ``Parts`` to inject (clock,
    listener, pool, recorder; defaults for a daemon). The constructor does no I/O and
    starts no thread. A daemon then calls ``recover`` once, and ``run_forever``; ``stop``
    ends it. ``run_now`` runs one fire in the calling thread instead, without a daemon.
    """

    def __init__(
        self,
        store: Store,
        registry: Registry,
        folder: Path,
        config: SchedulerConfig | None = None,
        parts: Parts | None = None,
    ) -> None:
        """A scheduler of ``store``'s jobs; nothing is read, run or started yet."""
        config = config or SchedulerConfig()
        parts = parts or Parts()
        self.store = store
        self.registry = registry
        self.folder = folder
        self.clock = parts.clock
        self.node = config.node
        self._uniform = parts.uniform
        self._listener = parts.listener
        self._wake = threading.Event()
        self._stopping = False
        #: Whether the loop is alive (``/livez``, heartbeats): see ``yamlcron.scheduler.pulse``.
        self.pulse = Pulse()
        #: Passes the store could not serve, for ``yamlcron_store_errors_total``.
        self.store_errors = 0
        self._pass = threading.Lock()  # held through one tick: stop() waits for it to end
        self._schedules: dict[tuple[str, str, datetime], Schedule] = {}
        self._freeze = Freezer() if config.freeze_gc else None
        self._changed_elsewhere = True  # which manifest is applied: read on the first pass
        self._latest: datetime | None = None  # the clock at the last pass: was it set back?
        self._batch = FIRST_BATCH  # grows while passes come back full (a burst)
        #: The instant of a burst being claimed ahead, and how far ahead (``BURST``).
        self._burst: tuple[datetime, timedelta] | None = None
        self._burst_over: datetime | None = None  # its early passes are done: not again
        self.warden = Warden(config.kill_grace, store)
        self.executors = Executors(registry, folder, config.kill_grace, tracked=self.warden.tracked)
        self.runner = Runner(store, self.executors, parts, self.wakeup)
        self.lease = LeaseKeeper(store, self.node, config.lease_ttl, on_beat=self.recover)
        #: Follows the remote runs (``task`` runs) on one thread: they hold no worker.
        self.remote = Tracker(store, registry, self.runner, self.clock)
        pool = parts.pool or WorkerPool(config.workers, parts.clock)
        self.claimer = Claimer(self.runner, self.lease, pool, self.wakeup, self.remote)

    @property
    def source(self) -> AppliedManifest | None:
        """The applied manifest, recorded with every run: which manifest fired it."""
        return self.runner.source

    @source.setter
    def source(self, record: AppliedManifest | None) -> None:
        self._changed_elsewhere = False  # told, so not read again
        self.runner.source = record

    # -- the loop -----------------------------------------------------------------------

    def recover(self) -> list[Run]:
        """Mark runs of dead schedulers (leases expired) ``interrupted``; queue their retries.

        Called at start and after every heartbeat, so a replica that dies is taken over by
        the others.
        """
        self.lease.current()  # join first: on SQLite that ends the leases before it
        planned: dict[int, tuple[JobSpec | None, tuple[Queued, ...]]] = {}

        def followups(runs: list[Run]) -> list[Queued]:  # in the reap's transaction
            # Their groups stopped before their retries are queued: never two copies at once.
            self.warden.stop_left([r.id for r in runs])
            planned.update(self.runner.reaped(runs))
            return [item for _, items in planned.values() for item in items]

        runs = self.store.reap(self.clock(), followups)
        for run in runs:
            log.warning(
                "run %s of %s on %s was cut short (its scheduler stopped); marked interrupted",
                run.id,
                run.job_id,
                run.node,
            )
            spec, items = planned.get(run.id, (None, ()))
            event = run_event(run, spec, retrying=bool(items), folder=self.folder)
            self.runner.announce(event)
        if self.remote.adopt(self.lease.current()) or runs:
            self.wakeup()
        return runs

    def tick(self, now: datetime) -> float:
        """Claim and dispatch everything due at ``now``; return seconds until the next pass."""
        with self._pass:
            if self._stopping:
                return MAX_SLEEP
            return self._tick(now)

    def _tick(self, now: datetime) -> float:
        self._reread()
        self.runner.read_steps()  # here, where a store error only delays the pass
        self.runner.record_again()
        if firing.stepped_back(self._latest, now):
            self._reanchor(now)
        self._latest = now
        if self.claimer.unsure:
            self.claimer.adopt()
        batch = self._batch
        due = self.store.due(now + LEAD, batch)
        early, more = self._burst_due(now, batch, {job.spec.id for job in due})
        due += early
        queued = self.store.due_queued(now, batch)
        if due or queued:
            specs = {job.spec.id: job.spec for job in due}
            specs.update((spec.id, spec) for _, spec in queued if spec is not None)
            fires = [self._fires(job, now) for job in due]
            # Runs under way anywhere count against max_instances. A held lease (a SQLite
            # daemon's) has the store to itself: every run under way is the runner's.
            alone = self.lease.current().ttl is None
            everywhere = Counter() if alone else Counter(self.store.running())
            claims, starts = self.claimer.decide(fires, queued, now, everywhere, self._uniform)
            if early:
                claims = self._starting_early(claims, {job.spec.id for job in early})
            self.claimer.dispatch(claims, starts, specs)
        full = len(due) - len(early) == batch or len(queued) == batch or more
        self._batch = min(batch * 2, BATCH) if full else FIRST_BATCH
        if full:
            return 0.0
        wake = self.store.next_wakeup()
        retry = self.runner.unrecorded.due_in(self.clock())  # held ends to write again
        delay = MAX_SLEEP if retry is None else min(retry, MAX_SLEEP)
        if wake is None:
            return delay
        if PREPARE_AFTER <= (wake - self.clock()).total_seconds() <= delay:
            self._prepare(wake)
        lead = WAKE
        if self._burst is not None and self._burst[0] == wake:
            lead = max(WAKE, self._burst[1])
        return min(max((wake - lead - self.clock()).total_seconds(), 0.0), delay)

    def run_forever(self) -> None:
        """Pass, sleep until the next fire time or a wake-up, repeat until ``stop``.

        Keeps the lease renewed meanwhile. A pass the store cannot serve is logged and
        tried again a second later: a database restart pauses firing, it does not end it.
        """
        self.lease.start()
        self.pulse.stopped = False
        try:
            while not self._stopping:
                self.pulse.passing()
                try:
                    delay = self.tick(self.clock())
                except StoreGoneError:
                    raise  # the store was deleted under us: going on would fire twice
                except StoreError as exc:
                    self.store_errors += 1
                    log.error("the store failed a pass, trying again in %s s: %s", STORE_RETRY, exc)
                    delay = STORE_RETRY
                if self._freeze is not None:
                    self._freeze()
                self.pulse.resting()
                if delay > 0:
                    self._wake.wait(delay)
                self._wake.clear()
        finally:
            self.pulse.stopped = True

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
            self.claimer.close()  # runs held for their start go to the pool now
        self.remote.detach()  # remote runs go on in their engine: never waited for nor stopped
        finished = self.runner.wait_idle(timeout)
        if not finished:
            self.cancel()
            self.runner.wait_idle(self.executors.kill_grace + 5.0)
        self.claimer.pool.shutdown()
        self.runner.close(timeout=5)
        self.warden.close()
        self.lease.stop()
        return finished

    def cancel(self) -> None:
        """Stop running runs now (a second SIGTERM): their processes get SIGTERM, then SIGKILL."""
        self._stopping = True
        self.executors.cancelled.set()
        self.wakeup()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no run is under way; False on timeout."""
        return self.runner.wait_idle(timeout)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every run that ended so far is recorded; False on timeout."""
        return self.runner.flush(timeout)

    def running(self, job_id: str) -> int:
        """How many runs of ``job_id`` this scheduler has under way."""
        return self.runner.running(job_id)

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
        self._reread()
        self.lease.start()
        try:
            return self._run_queued(item, poll)
        finally:
            self.remote.detach()
            self.warden.close()
            self.lease.stop()  # a one-off: end the lease rather than let it expire

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
                specs = {job_id: spec} if spec is not None else {}  # else the claim drops it
                claims, starts = self.claimer.decide(
                    (), [(queued, spec)], now, Counter(), self._uniform
                )
                self.claimer.dispatch(claims, starts, specs, InlinePool())
                self.flush()
            self.runner.record_again()  # an end the store refused: the answer waits for it
            final = final_run(self.store, job_id, item.scheduled_at)
            if final is not None:
                return final
            if self.executors.cancelled.is_set():  # Ctrl-C, --timeout: what is queued is a daemon's
                latest = self.store.runs(job_id, limit=1, scheduled_at=item.scheduled_at)
                if latest:
                    return latest[0]
            if not mine:
                self.executors.cancelled.wait(poll)  # a retry is waiting for its delay

    def _reread(self) -> None:
        if self._changed_elsewhere:  # another process applied, perhaps: which manifest now
            self.source = self.store.last_applied()

    def _schedule(self, spec: JobSpec, anchor: datetime) -> Schedule:
        key = (spec.id, spec.digest, anchor)
        schedule = self._schedules.get(key)
        if schedule is None:
            if len(self._schedules) > _SCHEDULE_CACHE:
                self._schedules.clear()
            schedule = self._schedules[key] = schedule_for(spec.trigger, anchor)
        return schedule

    def _prepare(self, wake: datetime) -> None:
        """Parse the jobs due at ``wake`` now, while idle (a burst starts on parsed jobs).

        So many due at that one instant are a burst (``BURST``), claimed ahead of it where a
        pool holds the runs until their start (not on the caller's thread: it would wait).
        """
        jobs = self.store.due(wake + LEAD, PREPARE)
        for job in jobs:
            self._schedule(job.spec, job.anchor)
        at_once = sum(1 for job in jobs if job.next_run_at == wake)
        self._burst = None
        held = not isinstance(self.claimer.pool, InlinePool)
        if at_once >= BURST and held and wake != self._burst_over:
            self._burst = (wake, min(AHEAD_PER_JOB * at_once, AHEAD_MAX))

    def _burst_due(self, now: datetime, batch: int, taken: set[str]) -> tuple[list[DueJob], bool]:
        """The burst's jobs to claim in this pass, ahead of its instant, and whether more are left.

        Only the jobs due at the instant itself (not the others' fires before it, each
        claimed in its own pass) and not in ``taken`` (due in this pass anyway).
        """
        if self._burst is None:
            return [], False
        instant, ahead = self._burst
        if now + LEAD >= instant:  # within a pass's own lead: claimed as any fire is
            self._end_burst()
            return [], False
        if now < instant - ahead:
            return [], False
        rows = self.store.due(instant, batch)
        jobs = [job for job in rows if job.next_run_at == instant and job.spec.id not in taken]
        more = len(rows) == batch and bool(jobs)
        if not more:  # all read, or only other jobs' fires before it: claimed in their passes
            self._end_burst()
        return jobs, more

    def _end_burst(self) -> None:
        """The burst's early passes are over; what is left of it is claimed at its time."""
        if self._burst is not None:
            self._burst_over = self._burst[0]
        self._burst = None

    def _starting_early(self, claims: list[Claim], early: set[str]) -> list[Claim]:
        """The claims, less those of the burst's jobs that start no run.

        A skip is decided at its time: a run under way now may have ended by then. With none
        of the burst's left, its early passes end.
        """
        kept = [
            c
            for c in claims
            if c.queued_id is not None
            or c.job_id not in early
            or any(new.status == RunStatus.RUNNING for new in c.runs)
        ]
        if not any(c.job_id in early and c.queued_id is None for c in kept):
            self._end_burst()  # nothing of it claimed: not read again and again until then
        return kept

    def _fires(self, job: DueJob, now: datetime) -> firing.DueFires:
        give_way()  # a pass is a long stretch: a run whose start came goes first (giveway)
        fires = firing.fire_times(self._schedule(job.spec, job.anchor), job.next_run_at, now)
        if fires.capped:
            log.warning(
                "job %s missed more than %d fire times; the rest are recorded as one",
                job.spec.id,
                firing.MAX_CATCHUP,
            )
        return firing.DueFires(spec=job.spec, expected=job.next_run_at, fires=fires)

    def _reanchor(self, now: datetime) -> None:
        """The wall clock was set back: move each job's next fire time to the new ``now``."""
        claims = [
            Claim(job_id=job_id, expected=job.next_run_at, next_run_at=fresh)
            for job_id, job in self.store.load_jobs().items()
            if job.next_run_at is not None
            and (
                fresh := firing.reanchored(
                    self._schedule(job.spec, job.anchor), job.next_run_at, now
                )
            )
        ]
        log.warning(
            "the wall clock went back from %s to %s; %d job(s) re-anchored at the new time",
            self._latest,
            now,
            len(claims),
        )
        self.claimer.claim(claims, Counter())


def final_run(store: Store, job_id: str, scheduled_at: datetime) -> Run | None:
    """The last attempt of a fire once nothing more is pending for it, else None."""
    runs = store.runs(job_id, limit=1000, scheduled_at=scheduled_at)
    if not runs or not runs[0].status.final or store.pending(job_id, scheduled_at):
        return None
    return runs[0]
