"""Prometheus metrics of one service (SPEC §9), on a registry of its own.

Runs, reloads and deliveries are counted as the daemon hears them (``yamlcron.http.loop``:
its ``RunCounter`` on the scheduler's own thread, not through the event bus, whose handoff
to a thread of its own cost more than all the rest of the metrics). Gauges are read at
scrape time (``StateCollector``): next fire times and pauses from the store, runs under way
and the loop's store errors from the loop's state, the manifest's digest, the lease. The
label of a job is ``job_id``: Prometheus keeps ``job`` for the scrape job.

Last run and last success are what this process saw, started from the store's history
once per job: with several replicas, ``max by (job_id)`` over them is the truth.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest

from yamlcron.errors import StoreError
from yamlcron.http.loop import RELOAD_RESULT, Loop
from yamlcron.runs import RunStatus

if TYPE_CHECKING:
    from prometheus_client.metrics import MetricWrapperBase

    from yamlcron.app import Yamlcron
    from yamlcron.model import StoredJob

#: Run durations: from a quick call to a long batch job.
#: Every bucket is a line per job in each scrape: ten, not the client's default fifteen.
DURATION_BUCKETS = (0.1, 0.5, 1, 5, 30, 60, 300, 900, 3600, float("inf"))
#: How late a fire started: milliseconds when healthy, seconds when the loop falls behind.
LATENESS_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, float("inf"),
)  # fmt: skip
#: Statuses of runs that started (a missed or skipped run never did).
_STARTED = frozenset(
    {RunStatus.RUNNING, RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.TIMEOUT,
     RunStatus.INTERRUPTED}
)  # fmt: skip
#: The classic text format, which every Prometheus reads (newer clients announce 1.0.0).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """The metrics of one service's loop: ``exposition()`` is the ``/metrics`` body. Thread-safe.

    A ``Sink`` (``yamlcron.http.loop``): runs, reloads and deliveries are counted into it,
    in the daemon's process or, drained from the daemon's ``Feed``, in the server's.
    """

    def __init__(self, loop: Loop, reads: Yamlcron) -> None:
        """The metrics of ``loop``; the store is read through ``reads``, whose node it is."""
        self.loop = loop
        self.reads = reads
        self.registry = CollectorRegistry(auto_describe=False)
        self.runs = Counter(
            "yamlcron_runs", "Runs that ended, by job and status.", ["job_id", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.duration = Histogram(
            "yamlcron_run_duration_seconds", "How long runs took, by job.", ["job_id"],
            buckets=DURATION_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.lateness = Histogram(
            "yamlcron_fire_lateness_seconds", "How long after its time a fire started.",
            buckets=LATENESS_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.reloads = Counter(
            "yamlcron_manifest_reloads", "Manifest applies and reloads, by result.", ["result"],
            registry=self.registry,
        )  # fmt: skip
        self.notifications = Counter(
            "yamlcron_notifications", "Notifier deliveries, by notifier and result.",
            ["via", "result"], registry=self.registry,
        )  # fmt: skip
        for result in RELOAD_RESULT.values():  # a rate() needs the zero before the first
            self.reloads.labels(result=result)
        self._runs, self._durations = Children(self.runs), Children(self.duration)
        self.seen = Seen()
        self.store_errors = 0
        self.registry.register(StateCollector(self))

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition and its content type, with every run the daemon counted so far."""
        self.loop.fresh()
        return generate_latest(self.registry), CONTENT_TYPE

    def run_started(self, job_id: str, late: float | None, at: float) -> None:
        """A run started: its lateness (first attempts only) and the job's last run."""
        if late is not None:
            self.lateness.observe(late)
        self.seen.started(job_id, at)

    def run_ended(self, job_id: str, status: str, took: float | None, at: float | None) -> None:
        """A run ended: by status, its duration, and the job's last success."""
        self._runs(job_id, status).inc()
        self.seen.ended(job_id, status, at)
        if took is not None:
            self._durations(job_id).observe(took)

    def reloaded(self, result: str) -> None:
        """Count an apply (``ok``), a failed reload (``error``) or a refused one (``refused``)."""
        self.reloads.labels(result=result).inc()

    def delivered(self, via: str, result: str) -> None:
        """One delivery by notifier ``via`` ended with ``result``: ``ok`` or ``error``."""
        self.notifications.labels(via=via, result=result).inc()


class Children:
    """A labelled metric's children, kept by their label values.

    ``labels()`` parses its arguments on every call, which was most of counting a run.
    """

    def __init__(self, metric: MetricWrapperBase) -> None:
        self.metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *labels: str) -> Any:
        child = self._children.get(labels)
        if child is None:  # two threads may both ask: labels() answers both the same child
            child = self._children[labels] = self.metric.labels(*labels)
        return child


class Seen:
    """Each job's last start and success. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.last_run: dict[str, float] = {}
        self.last_success: dict[str, float] = {}
        self.seeded: set[str] = set()

    def started(self, job_id: str, at: float) -> None:
        with self._lock:
            _latest(self.last_run, job_id, at)

    def ended(self, job_id: str, status: str, at: float | None) -> None:
        if status == "success" and at is not None:
            with self._lock:
                _latest(self.last_success, job_id, at)

    def seed(self, job_id: str, last_run: datetime | None, last_success: datetime | None) -> None:
        """What the store knew of ``job_id`` before this process heard of it."""
        with self._lock:
            if last_run is not None:
                _latest(self.last_run, job_id, last_run.timestamp())
            if last_success is not None:
                _latest(self.last_success, job_id, last_success.timestamp())
            self.seeded.add(job_id)


def _latest(times: dict[str, float], job_id: str, moment: float) -> None:
    times[job_id] = max(times.get(job_id, moment), moment)


class StateCollector:
    """The gauges read at scrape time: one read of the stored jobs, whatever their number."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._paused_by_spec: dict[str, bool] = {}  # by digest: a spec is parsed once
        self._periods = Periods()

    def collect(self) -> Iterator[Metric]:
        """Every gauge; what the store cannot answer now is left out and counted."""
        reads = self.metrics.reads
        state = self.metrics.loop.state()
        try:
            jobs = reads.store.load_jobs()
            record = reads.applied()
            replicas = reads.replicas()
            self._seed(jobs)
        except StoreError:
            self.metrics.store_errors += 1
            jobs, record, replicas = {}, None, []
        yield from self._jobs(jobs)
        yield self._running(jobs, state.under_way)
        info = GaugeMetricFamily(
            "yamlcron_manifest_info", "The applied manifest.", labels=["digest", "commit"]
        )
        if record is not None:
            info.add_metric([record.digest, record.commit or ""], 1)
        yield info
        lease = GaugeMetricFamily(
            "yamlcron_lease_expiry_timestamp_seconds",
            "When this replica's lease expires unless renewed (none on SQLite: a lock).",
        )
        for replica in replicas:
            if replica.node == reads.config.node and replica.expires_at is not None:
                lease.add_metric([], replica.expires_at.timestamp())
        yield lease
        yield CounterMetricFamily(
            "yamlcron_store_errors",
            "Store operations that failed: scheduler passes and scrapes.",
            value=state.store_errors + self.metrics.store_errors,
        )

    def _jobs(self, jobs: dict[str, StoredJob]) -> Iterator[Metric]:
        seen = self.metrics.seen
        labels = ["job_id"]
        last_success = GaugeMetricFamily(
            "yamlcron_job_last_success_timestamp_seconds",
            "When the job's last successful run ended.",
            labels=labels,
        )
        last_run = GaugeMetricFamily(
            "yamlcron_job_last_run_timestamp_seconds",
            "When the job's last run started.",
            labels=labels,
        )
        next_run = GaugeMetricFamily(
            "yamlcron_job_next_run_timestamp_seconds",
            "When the job fires next (none when paused or done).",
            labels=labels,
        )
        paused = GaugeMetricFamily(
            "yamlcron_job_paused", "1 when the job is paused, else 0.", labels=labels
        )
        period = GaugeMetricFamily(
            "yamlcron_job_period_seconds",
            "The time between the job's next two fires (cron, interval): its period.",
            labels=labels,
        )
        for job_id, job in jobs.items():
            is_paused = self._paused(job)
            paused.add_metric([job_id], float(is_paused))
            if job.next_run_at is not None and not is_paused:
                next_run.add_metric([job_id], job.next_run_at.timestamp())
            gap = self._periods.period(job_id, job)
            if gap is not None:
                period.add_metric([job_id], gap)
            if job_id in seen.last_run:
                last_run.add_metric([job_id], seen.last_run[job_id])
            if job_id in seen.last_success:
                last_success.add_metric([job_id], seen.last_success[job_id])
        yield from (last_success, last_run, next_run, paused, period)

    def _running(self, jobs: dict[str, StoredJob], counts: Mapping[str, int]) -> Metric:
        running = GaugeMetricFamily(
            "yamlcron_runs_running", "Runs under way in this replica, by job.", labels=["job_id"]
        )
        for job_id in jobs:
            running.add_metric([job_id], counts.get(job_id, 0))
        return running

    def _paused(self, job: StoredJob) -> bool:
        if job.paused_override is not None:
            return job.paused_override
        known = self._paused_by_spec.get(job.digest)
        if known is None:
            known = self._paused_by_spec[job.digest] = job.spec.paused
        return known

    def _seed(self, jobs: dict[str, StoredJob]) -> None:
        """Each job's last start and success from the store, the first time it is scraped."""
        seen = self.metrics.seen
        store = self.metrics.reads.store
        for job_id in jobs:
            if job_id in seen.seeded:
                continue
            started = store.runs(job_id, limit=1, statuses=[s.value for s in _STARTED])
            succeeded = store.runs(job_id, limit=1, statuses=[RunStatus.SUCCESS.value])
            seen.seed(
                job_id,
                started[0].started_at if started else None,
                succeeded[0].finished_at if succeeded else None,
            )


class Periods:
    """Each job's period, the gap after its next fire, worked out again when that fire moves.

    What "has not succeeded within its period" means, for an alert, whatever the trigger:
    a cron expression's gaps vary (weekdays only), so it is the gap that comes next.
    """

    def __init__(self) -> None:
        self._known: dict[str, tuple[str, datetime | None, float | None]] = {}

    def period(self, job_id: str, job: StoredJob) -> float | None:
        """Seconds from the job's next fire to the one after; None for a one-off or a step."""
        known = self._known.get(job_id)
        if known is not None and known[:2] == (job.digest, job.next_run_at):
            return known[2]
        gap = None
        if job.next_run_at is not None and job.spec.trigger.kind in ("cron", "interval"):
            from yamlcron.triggers import schedule_for

            following = schedule_for(job.spec.trigger, job.anchor).next_fire(job.next_run_at)
            if following is not None:
                gap = (following - job.next_run_at).total_seconds()
        self._known[job_id] = (job.digest, job.next_run_at, gap)
        return gap
