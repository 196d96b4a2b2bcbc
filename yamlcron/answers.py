"""What the service answers with, beyond plans and runs: fire times, pauses, summaries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from yamlcron.model import JobSpec, Plan, StoredJob


@dataclass(frozen=True)
class Fires:
    """The coming fire times of a job (``Yamlcron.next_fires``), in its zone."""

    spec: JobSpec
    zone: tzinfo
    after: datetime  #: where the count started
    times: tuple[datetime, ...]


@dataclass(frozen=True)
class Paused:
    """A job after ``pause`` or ``resume``: its spec and next fire time (None: none)."""

    spec: JobSpec
    next_run_at: datetime | None


def fires(
    spec: JobSpec,
    stored: StoredJob | None,
    count: int,
    after: datetime | str | None,
    now: datetime,
) -> Fires:
    """Up to ``count`` fire times of ``spec`` after ``after`` (text: ISO 8601 in its zone).

    ``stored`` anchors an interval without ``start`` when its trigger is unchanged.
    """
    from yamlcron.manifest import parse_datetime
    from yamlcron.triggers import schedule_for, zone

    tz = zone(spec.trigger.timezone)
    if isinstance(after, str):
        try:
            after = parse_datetime(after, tz)
        except ValueError:
            raise ValueError(f"{after!r} is not an ISO 8601 datetime") from None
    moment = now if after is None else after
    same = stored is not None and stored.spec.canonical["trigger"] == spec.canonical["trigger"]
    anchor = stored.anchor if stored is not None and same else moment
    times: list[datetime] = []
    if spec.trigger.kind == "date" and spec.trigger.date and spec.trigger.date > moment:
        times.append(spec.trigger.date)
    else:
        schedule = schedule_for(spec.trigger, anchor)
        cursor: datetime | None = moment
        while len(times) < count and cursor is not None:
            cursor = schedule.next_fire(cursor)
            if cursor is not None:
                times.append(cursor)
    return Fires(spec=spec, zone=tz, after=moment, times=tuple(times))


def summary(plan: Plan) -> str:
    """``+ a ~ b - c`` (or ``no changes``) for logs."""
    parts = [f"+ {s.id}" for s in plan.add]
    parts += [f"~ {s.id}" for s, _ in plan.change]
    parts += [f"- {job_id}" for job_id in plan.remove]
    return " ".join(parts) if parts else f"no changes ({plan.unchanged} unchanged)"
