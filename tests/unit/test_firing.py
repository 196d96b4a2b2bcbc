"""SPEC §5's firing rules and §1's retries and ``after`` steps, as plain values.

No store, no thread, no clock: each test hands ``yamlcron.firing`` a job, its due fire
times, the time now, the runs under way and a random source, and reads the claims back.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from yamlcron import firing
from yamlcron.firing import DueFires, FireTimes
from yamlcron.manifest import parse_manifest
from yamlcron.model import JobSpec
from yamlcron.runs import Claim, NewRun, Queued, Run, RunError, RunStatus
from yamlcron.triggers import schedule_for

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def specs(jobs: str) -> dict[str, JobSpec]:
    text = "version: 1\njobs:\n" + textwrap.indent(textwrap.dedent(jobs), "  ")
    return dict(parse_manifest(text, Path("jobs.yaml")).jobs)


def job(name: str, trigger: str, **policies: object) -> str:
    extra = "".join(f"  {k}: {v}\n" for k, v in policies.items())
    return f"{name}:\n  trigger: {trigger}\n  run: {{call: 'm:f'}}\n{extra}"


def spec(trigger: str = "{interval: 10s}", **policies: object) -> JobSpec:
    return specs(job("a", trigger, **policies))["a"]


def never(a: float, b: float) -> float:
    raise AssertionError("no jitter was to be drawn")


def due(spec: JobSpec, *times: datetime, following: datetime | None = None) -> DueFires:
    fires = FireTimes(times=times, following=following)
    return DueFires(spec=spec, expected=times[0], fires=fires)


def runs_of(
    job: DueFires,
    now: datetime,
    running: dict[str, int] | None = None,
    uniform: firing.Uniform = never,
) -> tuple[NewRun, ...]:
    [claim] = firing.decide([job], [], now, running or {}, uniform)
    return claim.runs


def outline(runs: Sequence[NewRun]) -> list[tuple[str, str]]:
    return [(r.scheduled_at.strftime("%H:%M:%S"), r.status.value) for r in runs]


def every_10s(count: int) -> list[datetime]:
    return [T0 + 10 * S * i for i in range(1, count + 1)]


# -- which fire times have come -------------------------------------------------------------


def test_fire_times_are_every_time_come_and_the_next() -> None:
    schedule = schedule_for(spec().trigger, T0)
    assert firing.fire_times(schedule, T0 + 10 * S, T0 + 35 * S) == FireTimes(
        times=(T0 + 10 * S, T0 + 20 * S, T0 + 30 * S), following=T0 + 40 * S
    )
    # Claimed just ahead of its time: the fire is due although now is before it.
    early = firing.fire_times(schedule, T0 + 10 * S, T0 + 10 * S - timedelta(milliseconds=5))
    assert early == FireTimes(times=(T0 + 10 * S,), following=T0 + 20 * S)


def test_catching_up_stops_at_the_limit_and_counts_the_rest_keeping_the_latest() -> None:
    schedule = schedule_for(spec().trigger, T0)
    now = T0 + timedelta(hours=2)
    fires = firing.fire_times(schedule, T0 + 10 * S, now, limit=5)
    assert fires.times == (*every_10s(5), now)  # the latest may still be on time
    assert fires.capped
    assert fires.beyond == firing.Beyond(first=T0 + 60 * S, count=714, last=now - 10 * S, limit=5)
    assert fires.following == now + 10 * S


def test_past_the_cap_the_missed_fire_times_are_one_record_with_a_count() -> None:
    a = spec(history=20)
    now = T0 + timedelta(hours=2)
    fires = firing.fire_times(schedule_for(a.trigger, T0), T0 + 10 * S, now, limit=5)
    runs = runs_of(DueFires(spec=a, expected=T0 + 10 * S, fires=fires), now)
    assert outline(runs) == [
        *[(t.strftime("%H:%M:%S"), "missed") for t in every_10s(5)],
        ("12:01:00", "missed"),
        ("14:00:00", "running"),
    ]
    assert runs[-2].error == RunError(
        type="Coalesced",
        message="714 fire times from 2026-11-23T12:01:00+00:00 to 2026-11-23T13:59:50+00:00 "
        "were past the catch-up limit of 5: recorded once, here",
    )


def test_a_clock_set_back_past_the_threshold_re_anchors_earlier_fire_times() -> None:
    schedule = schedule_for(spec("{cron: '* * * * *'}").trigger, T0)
    later = T0 + timedelta(minutes=10)
    assert not firing.stepped_back(later, later - firing.STEP_BACK)  # a slewed clock waits
    assert firing.stepped_back(later, later - timedelta(hours=1))
    back = later - timedelta(hours=1, seconds=30)
    assert firing.reanchored(schedule, later + 60 * S, back) == T0 - timedelta(minutes=50)
    # A stored fire time earlier than the schedule's next is kept.
    assert firing.reanchored(schedule, back, back) is None


def test_a_schedule_that_ended_has_no_following_fire() -> None:
    once = spec("{date: '2026-11-23T12:00:10+00:00'}")
    fires = firing.fire_times(schedule_for(once.trigger, T0), T0 + 10 * S, T0 + 11 * S)
    assert fires == FireTimes(times=(T0 + 10 * S,), following=None)


# -- what each fire becomes ------------------------------------------------------------------


def test_a_fire_on_time_runs_and_advances_the_job() -> None:
    a = spec()
    [claim] = firing.decide(
        [due(a, T0 + 10 * S, following=T0 + 20 * S)], [], T0 + 10 * S, {}, never
    )
    assert claim == Claim(
        job_id="a",
        expected=T0 + 10 * S,
        next_run_at=T0 + 20 * S,
        runs=(
            NewRun(
                job_id="a",
                scheduled_at=T0 + 10 * S,
                status=RunStatus.RUNNING,
                started_at=T0 + 10 * S,
            ),
        ),
    )


def test_a_fire_claimed_ahead_of_its_time_starts_at_it() -> None:
    [run] = runs_of(due(spec(), T0 + 10 * S), T0 + 10 * S - timedelta(milliseconds=5))
    assert (run.status, run.started_at) == (RunStatus.RUNNING, T0 + 10 * S)


def test_coalesce_runs_the_latest_and_records_the_rest_missed() -> None:
    runs = runs_of(due(spec(), *every_10s(3)), T0 + 35 * S)
    assert outline(runs) == [
        ("12:00:10", "missed"),
        ("12:00:20", "missed"),
        ("12:00:30", "running"),
    ]
    assert runs[0].error == RunError(
        type="Coalesced",
        message="coalesced into the fire at 2026-11-23T12:00:30+00:00",
        traceback=None,
    )
    assert runs[0].started_at == T0 + 35 * S  # recorded when decided


def test_without_coalesce_each_fire_runs_up_to_max_instances() -> None:
    runs = runs_of(due(spec(coalesce="false", max_instances=3), *every_10s(4)), T0 + 45 * S)
    assert outline(runs) == [
        ("12:00:10", "running"),
        ("12:00:20", "running"),
        ("12:00:30", "running"),
        ("12:00:40", "skipped"),
    ]


def test_a_fire_later_than_the_misfire_grace_is_missed() -> None:
    a = spec(misfire_grace_time="25s", coalesce="false", max_instances=9)
    runs = runs_of(due(a, *every_10s(6)), T0 + 60 * S)
    assert outline(runs) == [
        ("12:00:10", "missed"),
        ("12:00:20", "missed"),
        ("12:00:30", "missed"),
        ("12:00:40", "running"),
        ("12:00:50", "running"),
        ("12:01:00", "running"),
    ]
    assert runs[0].error == RunError(
        type="Missed",
        message="started 50s late, past the misfire grace of 25s",
        traceback=None,
    )


def test_misfire_and_coalesce_together() -> None:
    # Past the grace: missed as such; the rest on time coalesce into the latest.
    runs = runs_of(due(spec(misfire_grace_time="25s"), *every_10s(6)), T0 + 60 * S)
    assert outline(runs) == [
        ("12:00:10", "missed"),
        ("12:00:20", "missed"),
        ("12:00:30", "missed"),
        ("12:00:40", "missed"),
        ("12:00:50", "missed"),
        ("12:01:00", "running"),
    ]
    assert [r.error.type for r in runs[:5] if r.error] == ["Missed"] * 3 + ["Coalesced"] * 2


def test_no_grace_limit_misses_nothing_for_lateness() -> None:
    runs = runs_of(due(spec(misfire_grace_time="null"), *every_10s(360)), T0 + timedelta(hours=1))
    assert runs[-1].status == RunStatus.RUNNING
    assert {r.error.type for r in runs[:-1] if r.error} == {"Coalesced"}


def test_only_what_the_history_keeps_is_recorded() -> None:
    runs = runs_of(due(spec(history=50), *every_10s(720)), T0 + timedelta(hours=2))
    assert len(runs) == 50  # the newest `history`, the run among them
    assert outline(runs)[-1] == ("14:00:00", "running")
    assert runs[0].scheduled_at == T0 + timedelta(hours=2) - 49 * 10 * S


def test_max_instances_counts_the_runs_under_way() -> None:
    runs = runs_of(due(spec(), T0 + 20 * S), T0 + 20 * S, running={"a": 1})
    assert outline(runs) == [("12:00:20", "skipped")]
    assert runs[0].error == RunError(
        type="Skipped",
        message="1 run(s) already under way (max_instances)",
        traceback=None,
    )
    assert outline(runs_of(due(spec(), T0 + 20 * S), T0 + 20 * S, running={"b": 5})) == [
        ("12:00:20", "running")
    ]


def test_max_instances_counts_what_the_pass_starts_before_the_queue() -> None:
    a = spec()
    trigger = Queued(job_id="a", due_at=T0 + 5 * S, scheduled_at=T0 + 5 * S, id=7)
    claims = firing.decide([due(a, T0 + 10 * S)], [(trigger, a)], T0 + 10 * S, {}, never)
    assert [outline(c.runs) for c in claims] == [
        [("12:00:10", "running")],
        [("12:00:05", "skipped")],
    ]
    assert firing.starts(claims) == {"a": 1}


def test_jitter_delays_the_start_by_a_draw_up_to_it() -> None:
    drawn: list[tuple[float, float]] = []

    def most(a: float, b: float) -> float:
        drawn.append((a, b))
        return b

    a = spec("{interval: 10s, jitter: 4s}")
    [run] = runs_of(due(a, T0 + 10 * S), T0 + 10 * S, uniform=most)
    assert drawn == [(0, 4.0)]
    assert run.started_at == T0 + 14 * S


def test_a_late_fire_starts_now_plus_its_jitter() -> None:
    a = spec("{interval: 10s, jitter: 4s}")
    [run] = runs_of(due(a, T0 + 10 * S), T0 + 12 * S, uniform=lambda lo, hi: 1.5)
    assert run.started_at == T0 + 13.5 * S


# -- queued fires: retries, steps, manual triggers -------------------------------------------


def queued(reason: str, **fields: object) -> Queued:
    return Queued(
        job_id="a",
        due_at=T0,
        scheduled_at=T0 - 60 * S,
        reason=reason,  # type: ignore[arg-type]
        id=3,
        **fields,  # type: ignore[arg-type]
    )


def test_a_manual_trigger_starts_at_once_whatever_the_jitter() -> None:
    a = spec("{cron: '0 0 1 1 *', jitter: 1h}")
    item = Queued(job_id="a", due_at=T0, scheduled_at=T0, id=3)
    [claim] = firing.decide([], [(item, a)], T0, {}, never)
    assert claim == Claim(
        job_id="a",
        queued_id=3,
        runs=(NewRun(job_id="a", scheduled_at=T0, status=RunStatus.RUNNING, started_at=T0),),
    )


def test_a_retry_keeps_its_fire_attempt_and_cause_and_is_jittered() -> None:
    a = spec("{interval: 1h, jitter: 10s}")
    item = queued("retry", attempt=3, cause_run_id=41)
    [claim] = firing.decide([], [(item, a)], T0, {}, lambda lo, hi: 2.0)
    [run] = claim.runs
    assert (run.status, run.scheduled_at, run.attempt, run.cause_run_id, run.started_at) == (
        RunStatus.RUNNING,
        T0 - 60 * S,
        3,
        41,
        T0 + 2 * S,
    )
    assert claim.queued_id == 3
    assert claim.expected is None  # the job's own schedule is not touched


@pytest.mark.parametrize("reason", ["retry", "after"])
def test_a_paused_job_skips_its_retries_and_steps(reason: str) -> None:
    a = spec(paused="true")
    [claim] = firing.decide([], [(queued(reason, attempt=2, cause_run_id=9), a)], T0, {}, never)
    [run] = claim.runs
    assert (run.status, run.attempt, run.cause_run_id) == (RunStatus.SKIPPED, 2, 9)
    assert run.error == RunError(
        type="Paused",
        message=f"the job is paused; its {reason} did not run",
        traceback=None,
    )


def test_a_paused_job_still_runs_when_triggered() -> None:
    [claim] = firing.decide([], [(queued("trigger"), spec(paused="true"))], T0, {}, never)
    assert claim.runs[0].status == RunStatus.RUNNING


def test_a_queued_fire_of_a_removed_job_is_dropped() -> None:
    [claim] = firing.decide([], [(queued("retry"), None)], T0, {}, never)
    assert claim == Claim(job_id="a", queued_id=3)


def test_a_queued_fire_past_max_instances_is_skipped() -> None:
    [claim] = firing.decide([], [(queued("retry", attempt=2), spec())], T0, {"a": 1}, never)
    assert (claim.runs[0].status, claim.runs[0].attempt) == (RunStatus.SKIPPED, 2)
    assert firing.starts([claim]) == {}


# -- what a finished run sets off -------------------------------------------------------------


def ended(status: RunStatus, attempt: int = 1, finished: datetime | None = T0) -> Run:
    return Run(
        id=40 + attempt,
        job_id="up",
        scheduled_at=T0 - timedelta(hours=1),
        attempt=attempt,
        status=status,
        finished_at=finished,
    )


def test_retries_back_off_up_to_the_max_delay() -> None:
    up = specs(
        job("up", "{interval: 1h}", retry="{attempts: 4, delay: 10s, backoff: 3, max_delay: 60s}")
    )["up"]
    delays = []
    for attempt, status in enumerate(
        [RunStatus.FAILURE, RunStatus.TIMEOUT, RunStatus.INTERRUPTED], 1
    ):
        [retry] = firing.followups(up, ended(status, attempt), [], T0 + timedelta(days=1))
        assert retry == Queued(
            job_id="up",
            due_at=retry.due_at,
            scheduled_at=T0 - timedelta(hours=1),  # every attempt belongs to the one fire
            attempt=attempt + 1,
            reason="retry",
            cause_run_id=40 + attempt,
        )
        delays.append((retry.due_at - T0).total_seconds())
    assert delays == [10, 30, 60]  # min(90, 60)


def test_retries_stop_after_the_attempts() -> None:
    up = specs(job("up", "{interval: 1h}", retry="{attempts: 2, delay: 1s}"))["up"]
    assert firing.followups(up, ended(RunStatus.FAILURE, 2), [], T0) == ()
    assert firing.followups(up, ended(RunStatus.SUCCESS, 1), [], T0) == ()


def test_a_missed_or_skipped_run_is_not_retried() -> None:
    up = specs(job("up", "{interval: 1h}", retry="{attempts: 3}"))["up"]
    for status in (RunStatus.MISSED, RunStatus.SKIPPED):
        assert firing.followups(up, ended(status), [], T0) == ()


WORKFLOW = (
    job("up", "{interval: 1h}", retry="{attempts: 2, delay: 5s}")
    + job("on-success", "{after: up}")
    + job("on-failure", "{after: up, when: failure}")
    + job("on-always", "{after: up, when: always}")
)


@pytest.mark.parametrize(
    ("outcome", "fired"),
    [
        (RunStatus.SUCCESS, ["on-success", "on-always"]),
        (RunStatus.FAILURE, ["on-failure", "on-always"]),
        (RunStatus.TIMEOUT, ["on-failure", "on-always"]),
        (RunStatus.INTERRUPTED, ["on-failure", "on-always"]),
    ],
)
def test_after_steps_follow_the_final_outcome(outcome: RunStatus, fired: list[str]) -> None:
    jobs = specs(WORKFLOW)
    steps = [jobs["on-success"], jobs["on-failure"], jobs["on-always"]]
    if outcome != RunStatus.SUCCESS:  # not before the retry is decided
        [retry] = firing.followups(jobs["up"], ended(outcome, 1), steps, T0)
        assert retry.reason == "retry"
    final = ended(outcome, 2)
    assert firing.followups(jobs["up"], final, steps, T0 + timedelta(days=1)) == tuple(
        Queued(job_id=step, due_at=T0, scheduled_at=T0, reason="after", cause_run_id=final.id)
        for step in fired
    )


def test_follow_ups_of_a_run_without_an_end_count_from_now() -> None:
    jobs = specs(WORKFLOW)
    [step] = firing.followups(
        jobs["up"], ended(RunStatus.SUCCESS, finished=None), [jobs["on-success"]], T0 + S
    )
    assert (step.due_at, step.scheduled_at) == (T0 + S, T0 + S)
