"""Prometheus metrics of one service (SPEC §9), on a registry of its own.

Runs are counted as the scheduler reports them (``RunCounter``, its run listener, on the
thread that reports each), not through the event bus: the bus hands every event to a
thread of its own, and at a thousand runs a second that handoff alone cost the scheduler
more CPU than all the rest of the metrics (bench/http.py). Reloads come from the bus
(a listener registered while the HTTP server runs); notifications from whoever delivers
them (``count_notification``). Gauges are read at scrape time (``StateCollector``): next
fire times and pauses from the store, runs under way from the scheduler, the manifest's
digest, the lease. The label of a job is ``job_id``: Prometheus keeps ``job`` for the
scrape job.

Last run and last success are what this process saw, started from the store's history
once per job: with several replicas, ``max by (job_id)`` over them is the truth.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest

from yamlcron.errors import StoreError
from yamlcron.events import ManifestEvent, RunEvent
from yamlcron.hookspecs import hookimpl
from yamlcron.runs import RunStatus

if TYPE_CHECKING:
    from prometheus_client.metrics import MetricWrapperBase

    from yamlcron.app import Yamlcron
    from yamlcron.model import JobSpec, StoredJob
    from yamlcron.scheduler.parts import RunListener

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
#: What a manifest event says of a reload.
_RELOAD_RESULT = {"applied": "ok", "reload_failed": "error", "plan_refused": "refused"}


class Metrics:
    """The metrics of one ``Yamlcron``: ``exposition()`` is the ``/metrics`` body. Thread-safe."""

    def __init__(self, app: Yamlcron, reads: Yamlcron | None = None) -> None:
        """The metrics of ``app``'s loop; the store is read through ``reads`` (default app)."""
        self.app = app
        self.reads = reads or app
        self._forget_deliveries: Callable[[], None] = lambda: None
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
        for result in _RELOAD_RESULT.values():  # a rate() needs the zero before the first
            self.reloads.labels(result=result)
        self._runs, self._durations = Children(self.runs), Children(self.duration)
        self.seen = Seen()
        self.store_errors = 0
        self.registry.register(StateCollector(self))
        self.listener = Listener(self)

    def count_notification(self, via: str, result: str) -> None:
        """One delivery by notifier ``via`` ended with ``result``: ``ok`` or ``error``."""
        self.notifications.labels(via=via, result=result).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE

    def attach(self) -> None:
        """Hear the service's events, and count its notifiers' deliveries, from now on."""
        self.app.registry.manager.register(self.listener, name=f"yamlcron-metrics-{id(self)}")
        self._forget_deliveries = self.app.events.observe_deliveries(self.count_notification)

    def detach(self) -> None:
        """Stop hearing them."""
        if self.app.registry.manager.is_registered(self.listener):
            self.app.registry.manager.unregister(self.listener)
        self._forget_deliveries()

    def counting(self, listener: RunListener) -> RunCounter:
        """A scheduler's run listener that counts every run here, then tells ``listener``."""
        return RunCounter(self, listener)

    def observe_run(self, event: RunEvent) -> None:
        """Count a run event: lateness at its start, status and duration at its end."""
        run = event.run
        if event.kind == "submitted":
            return
        if event.kind == "started":
            if run.attempt == 1 and run.started_at is not None:
                late = (run.started_at - run.scheduled_at).total_seconds()
                self.lateness.observe(max(late, 0.0))
            self.seen.started(run.job_id, run.started_at)
            return
        self._runs(run.job_id, run.status.value).inc()
        self.seen.ended(run.job_id, run.status, run.finished_at)
        if run.started_at is not None and run.finished_at is not None:
            took = (run.finished_at - run.started_at).total_seconds()
            self._durations(run.job_id).observe(max(took, 0.0))

    def observe_manifest(self, event: ManifestEvent) -> None:
        """Count an apply (``ok``), a failed reload (``error``) or a refused one (``refused``)."""
        self.reloads.labels(result=_RELOAD_RESULT[event.kind]).inc()


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


class RunCounter:
    """A scheduler's run listener (``scheduler.parts.RunListener``) that counts every run.

    It hears every job, so the scheduler builds every run's events; each is counted on the
    thread that reports it, then handed to the listener it wraps (the event bus's), which
    still decides on its own whom to tell.
    """

    def __init__(self, metrics: Metrics, listener: RunListener) -> None:
        self.metrics = metrics
        self.listener = listener

    def hears(self, job: JobSpec) -> bool:
        """Every run is counted."""
        return True

    def on_run(self, event: RunEvent) -> None:
        """Count the event, then pass it on."""
        self.metrics.observe_run(event)
        self.listener.on_run(event)


class Listener:
    """The plugin that hands the service's manifest events to its ``Metrics``."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    @hookimpl
    def yamlcron_manifest_event(self, event: ManifestEvent) -> None:
        """Count a manifest event."""
        self.metrics.observe_manifest(event)


class Seen:
    """Each job's last start and success. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.last_run: dict[str, float] = {}
        self.last_success: dict[str, float] = {}
        self.seeded: set[str] = set()

    def started(self, job_id: str, at: datetime | None) -> None:
        if at is not None:
            with self._lock:
                _latest(self.last_run, job_id, at.timestamp())

    def ended(self, job_id: str, status: RunStatus, at: datetime | None) -> None:
        with self._lock:
            if status == RunStatus.SUCCESS and at is not None:
                _latest(self.last_success, job_id, at.timestamp())

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
        app, reads = self.metrics.app, self.metrics.reads
        try:
            jobs = reads.store.load_jobs()
            record = reads.applied()
            replicas = reads.replicas()
            self._seed(jobs)
        except StoreError:
            self.metrics.store_errors += 1
            jobs, record, replicas = {}, None, []
        yield from self._jobs(jobs)
        yield self._running(jobs)
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
            if replica.node == app.config.node and replica.expires_at is not None:
                lease.add_metric([], replica.expires_at.timestamp())
        yield lease
        loop_errors = app.scheduler.store_errors
        yield CounterMetricFamily(
            "yamlcron_store_errors",
            "Store operations that failed: scheduler passes and scrapes.",
            value=loop_errors + self.metrics.store_errors,
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

    def _running(self, jobs: dict[str, StoredJob]) -> Metric:
        running = GaugeMetricFamily(
            "yamlcron_runs_running", "Runs under way in this replica, by job.", labels=["job_id"]
        )
        runner = self.metrics.app.scheduler.runner
        with runner.lock:
            counts = dict(runner.under_way)
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
