"""What every due fire becomes: SPEC §5's rules and §1's follow-ups, as pure functions.

A pass of the loop reads what is due, then asks ``decide`` what becomes of it, once and
before anything runs. For each job, every fire time that has come is:

* later than ``misfire_grace_time`` past its time: a ``missed`` run;
* one of several on time with ``coalesce``: the latest runs, the others are ``missed``;
* past ``max_instances``: a ``skipped`` run;
* otherwise a ``running`` run, started after a random ``jitter`` (a manual trigger: at once).

A run that ends sets off ``followups``: a retry with backoff while attempts are left, else
the ``after`` steps its final outcome fires. Nothing here reads a clock, a store or a
thread: the caller passes the time, the counts of runs under way and a random source.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from yamlcron.durations import format_duration
from yamlcron.model import JobSpec
from yamlcron.runs import Claim, NewRun, Queued, Run, RunError, RunStatus
from yamlcron.triggers import Schedule

#: Fire times of one job looked at per pass; beyond, the rest are recorded as one ``missed``.
MAX_CATCHUP = 1000
#: Fire times counted past ``MAX_CATCHUP`` before giving up counting (a clock set years ahead).
MAX_COUNTED = 100_000
#: A wall clock that goes back further than this was set, not slewed: the schedules are
#: re-anchored at the new time (``reanchored``). Smaller steps wait for the clock instead.
STEP_BACK = timedelta(minutes=1)

#: The status of a fire recorded without running, by the reason (its error's type).
_STATUS = {
    "Missed": RunStatus.MISSED,
    "Coalesced": RunStatus.MISSED,
    "Skipped": RunStatus.SKIPPED,
    "Paused": RunStatus.SKIPPED,
}

#: A random source: ``uniform(a, b)`` is a number from a to b (``random.uniform``).
Uniform = Callable[[float, float], float]


@dataclass(frozen=True, slots=True, kw_only=True)
class Beyond:
    """Fire times past the catch-up cap (``limit``): ``count`` of them, ``first`` to ``last``.

    ``last`` is None when there were more than ``MAX_COUNTED``, no longer counted.
    """

    first: datetime
    count: int
    last: datetime | None
    limit: int = MAX_CATCHUP


@dataclass(frozen=True, slots=True, kw_only=True)
class FireTimes:
    """The fire times of one job that have come, and the one after them.

    ``capped``: more than ``MAX_CATCHUP`` had come. ``times`` then holds the first
    ``MAX_CATCHUP`` and the latest one (which may still be on time), and ``beyond`` the
    ones between, recorded together as one ``missed`` run rather than one each.
    """

    times: tuple[datetime, ...]
    following: datetime | None
    capped: bool = False
    beyond: Beyond | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DueFires:
    """A job whose next fire time has come: ``expected`` is the one the store holds."""

    spec: JobSpec
    expected: datetime
    fires: FireTimes


def fire_times(
    schedule: Schedule, first: datetime, now: datetime, limit: int = MAX_CATCHUP
) -> FireTimes:
    """``first`` and every later fire time up to ``now`` (at most ``limit``), then the next.

    Past ``limit``, the rest up to ``now`` are counted (``beyond``) and the latest of them
    joins ``times``; past ``MAX_COUNTED`` more, counting stops and the schedule resumes
    from ``now``.
    """
    times = [first]
    following = schedule.next_fire(first)
    while following is not None and following <= now and len(times) < limit:
        times.append(following)
        following = schedule.next_fire(following)
    if following is None or following > now:
        return FireTimes(times=tuple(times), following=following)
    start, count, before, last = following, 0, following, following
    while following is not None and following <= now and count < MAX_COUNTED:
        before, last, count = last, following, count + 1
        following = schedule.next_fire(following)
    if following is not None and following <= now:  # too many to count: skip to now
        uncounted = Beyond(first=start, count=count, last=None, limit=limit)
        return FireTimes(
            times=tuple(times), following=schedule.next_fire(now), capped=True, beyond=uncounted
        )
    between = Beyond(first=start, count=count - 1, last=before, limit=limit) if count > 1 else None
    return FireTimes(times=(*times, last), following=following, capped=True, beyond=between)


def stepped_back(latest: datetime | None, now: datetime) -> bool:
    """Whether the wall clock went back more than ``STEP_BACK`` since it read ``latest``."""
    return latest is not None and latest - now > STEP_BACK


def reanchored(schedule: Schedule, stored: datetime, now: datetime) -> datetime | None:
    """After the clock was set back to ``now``: the job's next fire time, if it moves.

    SPEC §5 says a clock set back repeats no fire; cron keeps its frequent jobs running
    meanwhile, and so do we: the next fire time becomes the schedule's first after the new
    ``now`` when that is earlier than the one stored. A fire time already recorded is
    claimed once only (the store's runs are unique on job, time and attempt), so no fire
    runs twice. None when the stored time stands.
    """
    fresh = schedule.next_fire(now)
    return fresh if fresh is not None and fresh < stored else None


def decide(
    jobs: Iterable[DueFires],
    queued: Sequence[tuple[Queued, JobSpec | None]],
    now: datetime,
    running: Mapping[str, int],
    uniform: Uniform,
) -> list[Claim]:
    """The claims of one pass: what each due fire and each due queued fire becomes.

    ``running`` counts the runs under way per job, everywhere; the runs this pass starts
    count against ``max_instances`` too, in order: the jobs' own fires, then the queue.
    ``queued`` pairs each item with its job, None for a job removed since (the claim then
    only drops the item). ``uniform`` draws each jitter.
    """
    counts = Counter(running)
    claims = [_claim_fires(job, now, counts, uniform) for job in jobs]
    claims += [_claim_queued(item, spec, now, counts, uniform) for item, spec in queued]
    return claims


def starts(claims: Sequence[Claim]) -> Counter[str]:
    """How many ``running`` runs the claims start, per job."""
    return Counter(
        new.job_id for claim in claims for new in claim.runs if new.status == RunStatus.RUNNING
    )


def followups(
    spec: JobSpec, run: Run, steps: Sequence[JobSpec], now: datetime
) -> tuple[Queued, ...]:
    """What a finished ``run`` of ``spec`` sets off: a retry, or the workflow steps after it.

    A failed run (``failure``, ``timeout``, ``interrupted``) with attempts left is tried
    again after the policy's backoff delay, for the same fire. Otherwise its outcome is
    final, and each of ``steps`` (the jobs declared ``after`` this one) whose ``when``
    matches it is queued at once. Times count from the run's end (``now`` if it has none).
    """
    end = run.finished_at or now
    if run.status.failed and run.attempt < spec.retry.attempts:
        delay = timedelta(seconds=spec.retry.delay_before(run.attempt + 1))
        retry = Queued(
            job_id=spec.id,
            due_at=end + delay,
            scheduled_at=run.scheduled_at,
            attempt=run.attempt + 1,
            reason="retry",
            cause_run_id=run.id,
        )
        return (retry,)
    outcome = "success" if run.status == RunStatus.SUCCESS else "failure"
    return tuple(
        Queued(job_id=step.id, due_at=end, scheduled_at=end, reason="after", cause_run_id=run.id)
        for step in steps
        if step.trigger.when in (outcome, "always")
    )


def _claim_fires(job: DueFires, now: datetime, counts: Counter[str], uniform: Uniform) -> Claim:
    spec = job.spec
    grace = spec.misfire_grace_time
    runs: list[NewRun] = []
    on_time = []
    for moment in job.fires.times:
        late = (now - moment).total_seconds()
        if grace is not None and late > grace:
            message = (
                f"started {format_duration(late)} late, past the misfire grace "
                f"of {format_duration(grace)}"
            )
            runs.append(_final(spec.id, moment, now, "Missed", message))
        else:
            on_time.append(moment)
    if spec.coalesce and len(on_time) > 1:
        kept = on_time[-1]
        message = f"coalesced into the fire at {kept.isoformat()}"
        runs += [_final(spec.id, m, now, "Coalesced", message) for m in on_time[:-1]]
        on_time = [kept]
    if job.fires.beyond is not None:  # in time order: before the latest fire, if missed
        at = len(runs) - (1 if runs and runs[-1].scheduled_at == job.fires.times[-1] else 0)
        runs.insert(at, _beyond(spec.id, job.fires.beyond, now))
    # Older ones would be pruned at once: keep what the history holds, runs included.
    runs = runs[max(len(runs) + len(on_time) - spec.history, 0) :]
    runs += [_start_or_skip(spec, moment, now, counts, uniform) for moment in on_time]
    return Claim(
        job_id=spec.id, expected=job.expected, next_run_at=job.fires.following, runs=tuple(runs)
    )


def _claim_queued(
    item: Queued, spec: JobSpec | None, now: datetime, counts: Counter[str], uniform: Uniform
) -> Claim:
    if spec is None:  # the job was removed since: drop what was queued for it
        return Claim(job_id=item.job_id, queued_id=item.id)
    if item.reason != "trigger" and spec.paused:
        message = f"the job is paused; its {item.reason} did not run"
        new = _final(spec.id, item.scheduled_at, now, "Paused", message)
    else:
        # Run now means now: jitter spreads the trigger's own fires, not a manual one.
        draw = uniform if item.reason != "trigger" else None
        new = _start_or_skip(spec, item.scheduled_at, now, counts, draw)
    new = replace(new, attempt=item.attempt, cause_run_id=item.cause_run_id)
    return Claim(job_id=spec.id, queued_id=item.id, runs=(new,))


def _start_or_skip(
    spec: JobSpec, moment: datetime, now: datetime, counts: Counter[str], uniform: Uniform | None
) -> NewRun:
    if counts[spec.id] >= spec.max_instances:
        message = f"{spec.max_instances} run(s) already under way (max_instances)"
        return _final(spec.id, moment, now, "Skipped", message)
    counts[spec.id] += 1
    start = max(now, moment)  # not before its time
    if uniform is not None and spec.trigger.jitter:
        start += timedelta(seconds=uniform(0, spec.trigger.jitter))
    return NewRun(
        job_id=spec.id,
        scheduled_at=moment,
        status=RunStatus.RUNNING,
        started_at=start,
        remote=spec.remote,
    )


def _final(job_id: str, moment: datetime, now: datetime, kind: str, message: str) -> NewRun:
    """A fire recorded without running: ``kind`` names why, and so its status."""
    error = RunError(type=kind, message=message)
    return NewRun(
        job_id=job_id, scheduled_at=moment, status=_STATUS[kind], started_at=now, error=error
    )


def _beyond(job_id: str, beyond: Beyond, now: datetime) -> NewRun:
    """The one ``missed`` run that stands for the fire times past the catch-up cap."""
    until = "" if beyond.last is None else f" to {beyond.last.isoformat()}"
    more = "" if beyond.last is not None else " or more"
    message = (
        f"{beyond.count}{more} fire times from {beyond.first.isoformat()}{until} were past "
        f"the catch-up limit of {beyond.limit}: recorded once, here"
    )
    return _final(job_id, beyond.first, now, "Coalesced", message)
