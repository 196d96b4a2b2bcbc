"""The loop with an injected clock: no test here sleeps to wait for a schedule."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.clock import FakeClock
from yamlcron import reconcile
from yamlcron.errors import LeaseLostError, StoreError
from yamlcron.events import RunEvent
from yamlcron.hookspecs import hookimpl
from yamlcron.interfaces import Executor, Outcome, RunContext
from yamlcron.manifest import parse_manifest
from yamlcron.model import JobSpec
from yamlcron.registry import build_registry
from yamlcron.runs import Finish, Run, RunStatus
from yamlcron.scheduler import loop
from yamlcron.scheduler.groupcommit import InlineCommit
from yamlcron.scheduler.loop import LEAD, WAKE, Scheduler
from yamlcron.scheduler.parts import Nobody, Parts, RunListener
from yamlcron.scheduler.pool import InlinePool
from yamlcron.store.sqlite import SQLiteStore

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass
class Script:
    """A test executor: answers each run with the next scripted status (default success)."""

    statuses: list[RunStatus] = field(default_factory=list)
    calls: list[RunContext] = field(default_factory=list)

    def execute(self, context: RunContext) -> Outcome:
        self.calls.append(context)
        status = self.statuses.pop(0) if self.statuses else RunStatus.SUCCESS
        return Outcome(
            status=status,
            exit_code=0 if status == RunStatus.SUCCESS else 1,
            result={"job": context.job.id},
        )


@dataclass
class HeldPool:
    """Keeps each run's work for the test to start when it chooses."""

    held: list[Callable[[], None]]

    def submit(self, work: Callable[[], None]) -> None:
        self.held.append(work)

    def shutdown(self) -> None:
        pass


@dataclass
class Hearing:
    """A listener that hears every run and hands each event to ``call``."""

    call: Callable[[RunEvent], None]

    def hears(self, job: JobSpec) -> bool:
        return True

    def on_run(self, event: RunEvent) -> None:
        self.call(event)


def inline(clock: Callable[[], datetime], listener: RunListener | None = None) -> Parts:
    """Runs executed and recorded on the calling thread: done when ``tick`` returns."""
    listener = listener or Nobody()
    return Parts(clock=clock, listener=listener, pool=InlinePool(), commit=InlineCommit)


@dataclass
class Harness:
    store: SQLiteStore
    scheduler: Scheduler
    clock: FakeClock
    script: Script
    held: list[Callable[[], None]]

    def tick(self, moment: datetime) -> float:
        return self.scheduler.tick(self.clock.at(moment))

    def runs(self, job_id: str | None = None) -> list[Run]:
        return list(reversed(self.store.runs(job_id, limit=1000)))

    def statuses(self, job_id: str | None = None) -> list[tuple[str, str]]:
        return [(r.scheduled_at.strftime("%H:%M:%S"), r.status.value) for r in self.runs(job_id)]


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(
        jobs: str,
        *,
        hold: bool = False,
        anchor: datetime = T0,
        publish: Callable[[RunEvent], None] | None = None,
        store_type: type[SQLiteStore] = SQLiteStore,
    ) -> Harness:
        text = "version: 1\njobs:\n" + textwrap.indent(textwrap.dedent(jobs), "  ")
        manifest = parse_manifest(text, tmp_path / "jobs.yaml")
        store = store_type(tmp_path / "state.db")
        stored = store.load_jobs()
        reconcile.apply(reconcile.plan(manifest, stored, anchor), manifest, store, stored, anchor)
        script = Script()

        class ScriptPlugin:
            @hookimpl
            def yamlcron_executors(self) -> Mapping[str, Executor]:
                return {"script": script}

        registry = build_registry(autoload=False, extra=[ScriptPlugin()])
        held: list[Callable[[], None]] = []
        clock = FakeClock(anchor)
        listener = Nobody() if publish is None else Hearing(publish)
        parts = inline(clock, listener=listener)
        if hold:
            parts = replace(parts, pool=HeldPool(held))
        scheduler = Scheduler(store, registry, tmp_path, parts=parts)
        made.append(Harness(store, scheduler, clock, script, held))
        return made[-1]

    yield make
    for h in made:  # runs held back end, then the recorder thread and the store
        while h.held:
            h.held.pop()()
        h.scheduler.stop(5)
        h.store.close()


def job(name: str, trigger: str, **policies: object) -> str:
    extra = "".join(f"  {k}: {v}\n" for k, v in policies.items())
    return f"{name}:\n  trigger: {trigger}\n  run: {{call: 'm:f'}}\n  executor: script\n{extra}"


def test_due_fire_runs_once_and_advances(harness: Callable[..., Harness]) -> None:
    h = harness(job("a", "{interval: 10s}"))
    # Sleeps until the next fire (less the claim's lead), no polling.
    assert h.tick(T0 + timedelta(seconds=5)) == 5.0 - WAKE.total_seconds()
    assert h.runs() == []
    h.tick(T0 + timedelta(seconds=10))
    [run] = h.runs()
    assert (run.status, run.scheduled_at, run.attempt) == (
        RunStatus.SUCCESS,
        T0 + timedelta(seconds=10),
        1,
    )
    assert run.result == {"job": "a"}
    assert h.store.load_jobs()["a"].next_run_at == T0 + timedelta(seconds=20)
    assert h.script.calls[0].env["YAMLCRON_SCHEDULED_AT"] == "2026-11-23T12:00:10+00:00"
    assert h.script.calls[0].env["YAMLCRON_RUN_ID"] == str(run.id)


def test_coalesce_runs_the_latest_and_records_the_rest(harness: Callable[..., Harness]) -> None:
    h = harness(job("a", "{interval: 10s}"))
    h.tick(T0 + timedelta(seconds=35))
    assert h.statuses() == [("12:00:10", "missed"), ("12:00:20", "missed"), ("12:00:30", "success")]
    error = h.runs()[0].error
    assert error is not None
    assert error.type == "Coalesced"
    assert h.store.load_jobs()["a"].next_run_at == T0 + timedelta(seconds=40)


def test_without_coalesce_each_fire_runs(harness: Callable[..., Harness]) -> None:
    h = harness(job("a", "{interval: 10s}", coalesce="false", max_instances=3))
    h.tick(T0 + timedelta(seconds=35))
    assert h.statuses() == [
        ("12:00:10", "success"),
        ("12:00:20", "success"),
        ("12:00:30", "success"),
    ]


def test_misfire_grace(harness: Callable[..., Harness]) -> None:
    h = harness(
        job("a", "{interval: 10s}", misfire_grace_time="25s", coalesce="false", max_instances=9)
    )
    h.tick(T0 + timedelta(seconds=60))
    assert h.statuses() == [
        ("12:00:10", "missed"),
        ("12:00:20", "missed"),
        ("12:00:30", "missed"),
        ("12:00:40", "success"),
        ("12:00:50", "success"),
        ("12:01:00", "success"),
    ]
    missed = h.runs()[0]
    assert missed.error is not None
    assert missed.error.message == "started 50s late, past the misfire grace of 25s"


def test_no_grace_limit(harness: Callable[..., Harness]) -> None:
    h = harness(job("a", "{interval: 10s}", misfire_grace_time="null"))
    h.tick(T0 + timedelta(hours=1))
    assert h.statuses()[-1] == ("13:00:00", "success")
    assert {s for _, s in h.statuses()[:-1]} == {"missed"}  # coalesced, none past a grace


@pytest.mark.parametrize("held", [False, True], ids=["lease", "daemon-lock"])
def test_max_instances_skips_and_records(harness: Callable[..., Harness], held: bool) -> None:
    h = harness(job("a", "{interval: 10s}"), hold=True)
    if held:  # the store is this scheduler's alone: it counts its own runs, reads none
        h.store.lock_daemon()
        assert h.scheduler.lease.current().ttl is None
    h.tick(T0 + timedelta(seconds=10))
    assert len(h.held) == 1
    assert h.scheduler.running("a") == 1
    h.tick(T0 + timedelta(seconds=20))
    assert h.statuses() == [("12:00:10", "running"), ("12:00:20", "skipped")]
    h.held.pop()()
    assert h.statuses() == [("12:00:10", "success"), ("12:00:20", "skipped")]
    h.tick(T0 + timedelta(seconds=30))
    assert h.statuses()[-1] == ("12:00:30", "running")


def test_jitter_stays_within_bounds(harness: Callable[..., Harness]) -> None:
    h = harness(job("a", "{interval: 10s, jitter: 4s}", max_instances=1000), hold=True)
    for i in range(1, 201):
        h.tick(T0 + timedelta(seconds=10 * i))
    delays = [(r.started_at - r.scheduled_at).total_seconds() for r in h.runs() if r.started_at]
    assert len(delays) == 200
    assert all(0 <= d <= 4 for d in delays)
    assert max(delays) > 3
    assert min(delays) < 1


def test_a_fire_is_claimed_just_ahead_of_its_time_and_starts_at_it(
    harness: Callable[..., Harness],
) -> None:
    h = harness(job("a", "{interval: 10s}"), hold=True)
    fire = T0 + timedelta(seconds=10)
    early = fire - LEAD - timedelta(milliseconds=1)
    # A pass when the fire is WAKE away; it claims what falls due up to LEAD ahead.
    assert h.tick(early) == pytest.approx((LEAD - WAKE).total_seconds() + 0.001)
    assert h.runs() == []
    h.tick(fire - LEAD)
    [run] = h.runs()  # claimed, durably, before its time; its worker waits for the time
    assert (run.status, run.scheduled_at, run.started_at) == (RunStatus.RUNNING, fire, fire)


def bursts_of(monkeypatch: pytest.MonkeyPatch, jobs: int, *, per_job: timedelta) -> None:
    """``jobs`` due at one instant make a burst, claimed ``per_job`` each ahead of it."""
    monkeypatch.setattr(loop, "BURST", jobs)
    monkeypatch.setattr(loop, "AHEAD_PER_JOB", per_job)


def test_a_burst_is_claimed_ahead_of_its_instant_and_a_skip_waits_for_it(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    bursts_of(monkeypatch, 3, per_job=timedelta(milliseconds=100))
    hourly = "{cron: '0 * * * *'}"
    h = harness(
        job("a", hourly)
        + job("b", hourly)
        + job("c", hourly)
        + job("slow", "{cron: '*/30 * * * *'}", max_instances=1)
        + job("other", "{cron: '59 12 * * *'}"),
        hold=True,
    )
    instant = T0 + timedelta(hours=1)
    h.tick(T0 + timedelta(minutes=30))  # slow's 12:30 run: under way (held) until let go
    h.tick(T0 + timedelta(minutes=59))  # other's 12:59 fire, in a pass of its own
    assert [r.job_id for r in h.runs()] == ["slow", "other"]
    # Four jobs due at 13:00 (slow's too), parsed a second or more ahead: a burst, claimed
    # 4 x 100 ms ahead of it rather than WAKE.
    ahead = timedelta(milliseconds=400)
    assert h.tick(instant - timedelta(seconds=30)) == pytest.approx(30 - ahead.total_seconds())
    h.tick(instant - ahead)
    early = [r for r in h.runs() if r.scheduled_at == instant]
    assert sorted(r.job_id for r in early) == ["a", "b", "c"]  # not slow: it would be skipped
    assert {(r.status, r.started_at) for r in early} == {(RunStatus.RUNNING, instant)}
    assert h.script.calls == []  # claimed, not run: each waits for its time
    h.held.pop(0)()  # slow's 12:30 run ends before 13:00
    h.clock.at(instant)
    h.tick(instant)  # slow's 13:00 fire decided at its time: it runs
    while h.held:
        h.held.pop(0)()
    assert sorted(h.statuses()) == [
        ("12:30:00", "success"),
        ("12:59:00", "success"),
        *[("13:00:00", "success")] * 4,
    ]


def test_a_burst_whose_fires_would_all_be_skipped_waits_for_its_time(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    bursts_of(monkeypatch, 2, per_job=timedelta(milliseconds=750))
    half_hourly = "{cron: '*/30 * * * *'}"
    h = harness(
        job("a", half_hourly, max_instances=1) + job("b", half_hourly, max_instances=1),
        hold=True,
    )
    instant = T0 + timedelta(hours=1)
    h.tick(T0 + timedelta(minutes=30))  # both 12:30 runs under way (held)
    assert h.tick(instant - timedelta(seconds=30)) == pytest.approx(28.5)  # 1.5 s ahead
    # Nothing of the burst is claimed early (each would be skipped), and the loop sleeps
    # until the instant rather than reading the burst again and again meanwhile.
    slept = h.tick(instant - timedelta(seconds=1.5))
    assert [r.scheduled_at for r in h.runs()] == [T0 + timedelta(minutes=30)] * 2
    assert slept == pytest.approx(1.5 - WAKE.total_seconds())
    h.tick(instant)  # at its time: both skipped, their runs still under way
    assert sorted(h.statuses())[-2:] == [("13:00:00", "skipped")] * 2


def test_a_burst_not_held_by_a_pool_is_claimed_at_its_time(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Runs on the caller's thread (a manual run's scheduler): one claimed ahead would wait
    # for its start there, so nothing is.
    bursts_of(monkeypatch, 2, per_job=timedelta(milliseconds=100))
    hourly = "{cron: '0 * * * *'}"
    h = harness(job("a", hourly) + job("b", hourly))
    instant = T0 + timedelta(hours=1)
    assert h.tick(instant - timedelta(seconds=30)) == pytest.approx(30 - WAKE.total_seconds())


def test_retries_with_backoff(harness: Callable[..., Harness]) -> None:
    h = harness(
        job(
            "a",
            "{cron: '0 13 * * *'}",
            retry="{attempts: 4, delay: 10s, backoff: 3, max_delay: 60s}",
        )
    )
    h.script.statuses = [RunStatus.FAILURE, RunStatus.TIMEOUT, RunStatus.FAILURE, RunStatus.SUCCESS]
    fire = T0 + timedelta(hours=1)
    h.tick(fire)
    assert h.tick(fire + timedelta(seconds=9)) == pytest.approx(1.0 - WAKE.total_seconds())
    assert len(h.runs()) == 1
    h.tick(fire + timedelta(seconds=10))  # 1st retry after 10 s
    h.tick(fire + timedelta(seconds=39))
    assert len(h.runs()) == 2
    h.tick(fire + timedelta(seconds=40))  # 2nd after 30 s more
    h.tick(fire + timedelta(seconds=100))  # 3rd after min(90, 60) s more
    runs = h.runs()
    assert [(r.attempt, r.status.value) for r in runs] == [
        (1, "failure"),
        (2, "timeout"),
        (3, "failure"),
        (4, "success"),
    ]
    assert {r.scheduled_at for r in runs} == {fire}  # every attempt belongs to the one fire
    assert [r.cause_run_id for r in runs[1:]] == [r.id for r in runs[:-1]]


def test_retries_stop_after_attempts(harness: Callable[..., Harness]) -> None:
    h = harness(job("a", "{cron: '0 13 * * *'}", retry="{attempts: 2, delay: 1s}"))
    h.script.statuses = [RunStatus.FAILURE] * 5
    fire = T0 + timedelta(hours=1)
    for seconds in range(0, 30):
        h.tick(fire + timedelta(seconds=seconds))
    assert [r.status.value for r in h.runs()] == ["failure", "failure"]


@pytest.mark.parametrize(
    ("outcome", "fired"),
    [
        (RunStatus.SUCCESS, {"on-success", "on-always"}),
        (RunStatus.FAILURE, {"on-failure", "on-always"}),
        (RunStatus.TIMEOUT, {"on-failure", "on-always"}),
    ],
)
def test_after_steps_follow_the_final_outcome(
    harness: Callable[..., Harness], outcome: RunStatus, fired: set[str]
) -> None:
    h = harness(
        job("up", "{cron: '0 13 * * *'}", retry="{attempts: 2, delay: 5s}")
        + job("on-success", "{after: up}")
        + job("on-failure", "{after: up, when: failure}")
        + job("on-always", "{after: up, when: always}")
        + job("next", "{after: on-success}")
    )
    h.script.statuses = [outcome, outcome]
    fire = T0 + timedelta(hours=1)
    h.tick(fire)
    assert {r.job_id for r in h.runs()} == {"up"}  # not before the retry is decided
    h.tick(fire + timedelta(seconds=5))  # the retry; then the steps are due at its end
    h.tick(fire + timedelta(seconds=5))
    steps = {r.job_id for r in h.runs()} - {"up"}
    expected = fired | ({"next"} if "on-success" in fired else set())
    if "next" in expected:
        h.tick(fire + timedelta(seconds=5))
        steps = {r.job_id for r in h.runs()} - {"up"}
    assert steps == expected
    upstream_final = h.runs("up")[-1]
    for step in fired:
        assert h.runs(step)[0].cause_run_id == upstream_final.id


def test_wall_clock_jumping_back_repeats_no_fire(harness: Callable[..., Harness]) -> None:
    h = harness(job("a", "{interval: 10s}"))
    h.tick(T0 + timedelta(seconds=10))
    h.tick(T0 + timedelta(seconds=2))  # the clock was set back
    h.tick(T0 + timedelta(seconds=10))
    h.tick(T0 + timedelta(seconds=19))
    assert h.statuses() == [("12:00:10", "success")]
    h.tick(T0 + timedelta(seconds=20))
    assert h.statuses() == [("12:00:10", "success"), ("12:00:20", "success")]


def test_wall_clock_jumping_forward_is_downtime(harness: Callable[..., Harness]) -> None:
    h = harness(job("a", "{interval: 10s}", history=50))
    h.tick(T0 + timedelta(hours=2))  # 720 fire times passed
    statuses = h.statuses()
    assert len(statuses) == 50  # the newest `history` are kept, the run among them
    assert statuses[-1] == ("14:00:00", "success")
    assert h.store.load_jobs()["a"].next_run_at == T0 + timedelta(hours=2, seconds=10)


def test_dst_night_daily_and_hourly(harness: Callable[..., Harness]) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 3, 28, 12, tzinfo=berlin)
    h = harness(
        job("daily", "{cron: '30 2 * * *', timezone: Europe/Berlin}")
        + job("hourly", "{cron: '0 * * * *', timezone: Europe/Berlin}"),
        anchor=start,
    )
    moment = start.astimezone(UTC)  # real time: aware arithmetic in a zone is wall-clock
    while moment < datetime(2026, 3, 29, 12, tzinfo=berlin):
        moment += timedelta(minutes=5)
        h.tick(moment)
    daily = [r.scheduled_at.astimezone(berlin).isoformat() for r in h.runs("daily")]
    assert daily == ["2026-03-29T03:00:00+02:00"]  # 02:30 does not exist that night
    hourly = [r.scheduled_at.astimezone(berlin).strftime("%H%z") for r in h.runs("hourly")]
    assert len(hourly) == 23  # a 23-hour day: 13:00..23:00, 00:00, 01:00, 03:00..12:00
    assert "02+0100" not in hourly
    assert "02+0200" not in hourly
    assert all(r.status == RunStatus.SUCCESS for r in h.runs())


def test_dst_fall_back_hourly_fires_every_real_hour(harness: Callable[..., Harness]) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 10, 25, 0, tzinfo=berlin)
    h = harness(
        job("hourly", "{cron: '0 * * * *', timezone: Europe/Berlin}")
        + job("daily", "{cron: '30 2 * * *', timezone: Europe/Berlin}"),
        anchor=start,
    )
    for minutes in range(5, 25 * 60 + 1, 5):  # the 25 real hours of that day
        h.tick(start.astimezone(UTC) + timedelta(minutes=minutes))
    hourly = [r.scheduled_at.astimezone(berlin).strftime("%H%z") for r in h.runs("hourly")]
    assert hourly[:4] == ["01+0200", "02+0200", "02+0100", "03+0100"]
    assert len(hourly) == 25
    daily = [r.scheduled_at.astimezone(berlin).isoformat() for r in h.runs("daily")]
    assert daily == ["2026-10-25T02:30:00+02:00"]


def test_recover_marks_interrupted_and_retries(harness: Callable[..., Harness]) -> None:
    h = harness(job("a", "{interval: 10s}", retry="{attempts: 2, delay: 5s}"), hold=True)
    h.tick(T0 + timedelta(seconds=10))
    assert h.statuses() == [("12:00:10", "running")]
    # A new scheduler over the same store, as after kill -9.
    fresh = Scheduler(h.store, h.scheduler.registry, h.scheduler.folder, parts=inline(h.clock))
    [interrupted] = fresh.recover()
    assert interrupted.status == RunStatus.INTERRUPTED
    assert h.statuses() == [("12:00:10", "interrupted")]
    fresh.tick(h.clock.at(T0 + timedelta(seconds=15)))
    fresh.stop(5)
    assert [(r.attempt, r.status.value) for r in h.runs()] == [(1, "interrupted"), (2, "success")]


def test_history_is_pruned(harness: Callable[..., Harness]) -> None:
    h = harness(job("a", "{interval: 1s}", history=5))
    for second in range(1, 41):
        h.tick(T0 + timedelta(seconds=second))
    runs = h.runs()
    assert 5 <= len(runs) <= 6
    assert runs[-1].scheduled_at == T0 + timedelta(seconds=40)


def test_manual_trigger_and_pause(harness: Callable[..., Harness]) -> None:
    h = harness(job("a", "{cron: '0 0 1 1 *'}"))
    item = h.scheduler.trigger("a")
    h.tick(h.clock.now)
    [run] = h.runs()
    assert (run.scheduled_at, run.status) == (item.scheduled_at, RunStatus.SUCCESS)
    h.store.set_paused("a", True, None)
    h.tick(datetime(2027, 1, 1, tzinfo=UTC))
    assert len(h.runs()) == 1


def test_a_manual_trigger_starts_at_once_whatever_the_jitter(
    harness: Callable[..., Harness],
) -> None:
    # Run now means now: jitter spreads the trigger's own fires, through the daemon's queue.
    h = harness(job("a", "{cron: '0 0 1 1 *', jitter: 1h}"), hold=True)
    item = h.scheduler.trigger("a")
    h.tick(h.clock.now)
    [run] = h.runs()
    assert (run.status, run.started_at) == (RunStatus.RUNNING, item.scheduled_at)


def test_a_manual_run_in_process_starts_at_once_whatever_the_jitter(
    harness: Callable[..., Harness],
) -> None:
    def check(event: RunEvent) -> None:
        if event.kind == "submitted":  # fails here rather than waiting the jitter out
            assert event.run.started_at == event.run.scheduled_at

    h = harness(job("a", "{cron: '0 0 1 1 *', jitter: 1h}"), publish=check)
    run = h.scheduler.run_now("a")
    h.scheduler.stop(5)
    assert (run.status, run.scheduled_at, run.started_at) == (RunStatus.SUCCESS, T0, T0)


def test_a_cancelled_run_now_returns_and_leaves_its_retry_to_a_daemon(
    harness: Callable[..., Harness],
) -> None:
    h = harness(job("a", "{cron: '0 0 1 1 *'}", retry="{attempts: 3, delay: 1h}"))

    cancelled: list[bool] = []

    def hours_pass() -> datetime:  # once cancelled: each retry is due at once, if waited for
        if cancelled:
            h.clock.now += timedelta(hours=10)
        return h.clock.now

    def interrupted(context: RunContext) -> Outcome:
        h.scheduler.cancel()  # Ctrl-C on `yamlcron trigger` during the run
        cancelled.append(True)
        return Outcome(status=RunStatus.INTERRUPTED)

    h.scheduler.clock = h.scheduler.runner.clock = hours_pass
    h.script.execute = interrupted  # type: ignore[method-assign]
    run = h.scheduler.run_now("a")
    h.scheduler.stop(5)
    assert (run.status, run.attempt) == (RunStatus.INTERRUPTED, 1)
    assert h.store.pending("a", run.scheduled_at)


def test_a_raising_executor_is_a_recorded_failure(harness: Callable[..., Harness]) -> None:
    h = harness(job("a", "{interval: 10s}"))

    def boom(context: RunContext) -> Outcome:
        raise RuntimeError("executor bug")

    h.script.execute = boom  # type: ignore[method-assign]
    h.tick(T0 + timedelta(seconds=10))
    [run] = h.runs()
    assert run.status == RunStatus.FAILURE
    assert run.error is not None
    assert run.error.type == "RuntimeError"
    assert "executor bug" in (run.error.traceback or "")


class RecordsFailOnce(SQLiteStore):
    """A store whose first write of runs' ends fails, as a database restart would."""

    failures = 1

    def finish_many(self, items: list[Finish]) -> list[str | LeaseLostError | None]:
        if self.failures:
            self.failures -= 1
            raise StoreError("the database went away")
        return super().finish_many(items)


def test_a_run_whose_end_was_not_recorded_does_not_count_as_running_forever(
    harness: Callable[..., Harness],
) -> None:
    # A lease that expires: max_instances counts the runs the store holds running.
    h = harness(job("a", "{interval: 10s}"), store_type=RecordsFailOnce)
    assert h.scheduler.lease.current().ttl is not None
    h.tick(T0 + timedelta(seconds=10))
    assert h.scheduler.running("a") == 0  # over here, though its end is not written
    assert h.statuses() == [("12:00:10", "running")]
    h.tick(T0 + timedelta(seconds=20))  # its end is written first, so the next fire runs
    assert h.statuses() == [("12:00:10", "success"), ("12:00:20", "success")]


class LeaseEndsWhileRecording(SQLiteStore):
    """A store whose lease ends in the middle of writing runs' ends (a process frozen there)."""

    def _record_ends(self, ended: list[Finish]) -> None:
        super()._record_ends(ended)
        for token in {item.lease.token for item in ended}:
            self._execute("UPDATE nodes SET expires_at = 0 WHERE token = ?", (token,))


def test_an_end_written_as_its_lease_ends_is_refused_not_recorded_late(
    harness: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    h = harness(job("a", "{interval: 10s}"), store_type=LeaseEndsWhileRecording)
    h.tick(T0 + timedelta(seconds=10))
    assert h.statuses() == [("12:00:10", "running")]  # for a reaper to mark interrupted
    assert "was discarded" in caplog.text


def test_building_a_scheduler_reads_nothing_and_starts_no_thread(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    store.close()  # any read or write now fails
    with pytest.raises(Exception, match="closed"):
        store.last_applied()
    scheduler = Scheduler(store, build_registry(autoload=False), tmp_path)
    assert scheduler.running("a") == 0
    assert not [t.name for t in threading.enumerate() if t.name.startswith("yamlcron")]
