"""Plan and apply: make the store mirror the manifest, the way ``terraform plan/apply`` does.

``plan`` is pure: it compares the manifest's jobs with the stored ones by id and digest and
returns a ``Plan`` of values. ``apply`` turns a plan into one store transaction. A changed
trigger (or ``paused``) recomputes the next fire time; any other change keeps it, so
editing a command never moves its schedule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from yamlcron.errors import CorruptJobError, PlanRefusedError
from yamlcron.gitsource import source_commit
from yamlcron.interfaces import JobStore, Store
from yamlcron.manifest import file_digest
from yamlcron.model import (
    AppliedManifest,
    FieldChange,
    JobSpec,
    JobWrite,
    Manifest,
    Plan,
    StoredJob,
)
from yamlcron.triggers import schedule_for

#: The deletion guard looks at stores holding at least this many jobs.
GUARD_MIN_JOBS = 4


def plan(manifest: Manifest, stored: Mapping[str, StoredJob], now: datetime) -> Plan:
    """What applying ``manifest`` over ``stored`` would change; no I/O."""
    add = tuple(spec for job_id, spec in sorted(manifest.jobs.items()) if job_id not in stored)
    changed = [
        spec
        for job_id, spec in sorted(manifest.jobs.items())
        if job_id in stored and stored[job_id].digest != spec.digest
    ]
    before, unreadable = _stored_forms([stored[spec.id] for spec in changed])
    change = tuple(
        (spec, diff(old, spec.canonical)) for spec, old in zip(changed, before, strict=True)
    )
    remove = tuple(sorted(job_id for job_id in stored if job_id not in manifest.jobs))
    warnings = unreadable + tuple(
        f"job '{spec.id}': its date {spec.trigger.date.isoformat()} has passed; it will never fire"
        for spec in (*add, *(spec for spec, changes in change if reschedules(changes)))
        if spec.trigger.date is not None and first_fire(spec, now, now) is None
    )
    unchanged = len(manifest.jobs) - len(add) - len(change)
    drift = tuple(
        drift_note(job_id, job.paused_override)
        for job_id, spec in sorted(manifest.jobs.items())
        if (job := stored.get(job_id)) is not None
        and job.paused_override is not None
        and job.paused_override != spec.paused
    )
    return Plan(
        add=add, change=change, remove=remove, unchanged=unchanged, warnings=warnings, drift=drift
    )


def _stored_forms(jobs: list[StoredJob]) -> tuple[list[Any], tuple[str, ...]]:
    """The canonical forms of stored jobs, and why those that cannot be read cannot.

    A row that cannot be read (a damaged file) reads as empty: the plan rewrites all of it.
    """
    forms: list[Any] = []
    unreadable: list[str] = []
    for job in jobs:
        try:
            forms.append(job.spec.canonical)
        except CorruptJobError as exc:
            forms.append({})
            unreadable.append(str(exc))
    return forms, tuple(unreadable)


def drift_note(job_id: str, paused: bool) -> str:
    """How a runtime pause override differs from the manifest, and how to undo it."""
    return (
        f"{job_id}: {'paused' if paused else 'resumed'} at run time, the manifest says "
        f"{'not paused' if paused else 'paused'} ('yamlcron "
        f"{'resume' if paused else 'pause'} {job_id}' to undo)"
    )


def current_record(path: Path, store: JobStore, rules: str) -> AppliedManifest | None:
    """The last apply's record, if the file at ``path`` is still that manifest.

    That is when the file's bytes and git commit are those of the last apply and the rules
    it was validated by are the same: the boot of a GitOps deploy re-applies for free, and
    ``yamlcron run`` starts on the store as it is. None means: load, validate and plan as
    usual (so too for a record from before the store kept the manifest's notifiers).
    """
    last = store.last_applied()
    if last is None or last.notify is None or last.rules != rules:
        return None
    if file_digest(path) != last.digest or source_commit(path) != last.commit:
        return None
    return last


def empty_plan(store: JobStore) -> Plan:
    """The plan of re-applying the manifest applied last: every stored job unchanged."""
    count, drifted = store.overview()
    notes = tuple(drift_note(job_id, paused) for job_id, paused in sorted(drifted.items()))
    return Plan(add=(), change=(), remove=(), unchanged=count, drift=notes)


def diff(old: Any, new: Any, prefix: str = "") -> tuple[FieldChange, ...]:
    """Field-level differences between two canonical values, by dotted path."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[FieldChange] = []
        for key in sorted(old.keys() | new.keys()):
            path = f"{prefix}.{key}" if prefix else key
            changes.extend(diff(old.get(key), new.get(key), path))
        return tuple(changes)
    return () if old == new else (FieldChange(prefix, old, new),)


def reschedules(changes: tuple[FieldChange, ...]) -> bool:
    """True when a change moves the next fire time: the trigger, or whether the job is paused."""
    return any(c.path.startswith("trigger.") or c.path == "paused" for c in changes)


def check_guard(plan: Plan, stored_count: int, *, force: bool) -> None:
    """Refuse a plan that removes every job, or more than half of four or more (octoDNS)."""
    if force or not plan.remove:
        return
    left = stored_count - len(plan.remove) + len(plan.add)
    if left == 0:
        raise PlanRefusedError(
            f"refusing to remove all {len(plan.remove)} stored jobs and leave none; "
            "pass --force if that is what you mean"
        )
    if stored_count >= GUARD_MIN_JOBS and len(plan.remove) * 2 > stored_count:
        raise PlanRefusedError(
            f"refusing to remove {len(plan.remove)} of {stored_count} stored jobs (more than "
            "half); pass --force if that is what you mean"
        )


def first_fire(spec: JobSpec, now: datetime, anchor: datetime) -> datetime | None:
    """The next fire time a job gets when it is added or its trigger changes.

    A ``date`` that passed no longer ago than the misfire grace still fires (late); every
    other schedule starts strictly after ``now``.
    """
    moment = spec.trigger.date
    if moment is not None and moment <= now:
        grace = spec.misfire_grace_time
        late_ok = grace is None or now - moment <= timedelta(seconds=grace)
        return moment if late_ok else None
    return schedule_for(spec.trigger, anchor).next_fire(now)


def apply(
    plan: Plan,
    manifest: Manifest,
    store: JobStore,
    stored: Mapping[str, StoredJob],
    now: datetime,
) -> None:
    """Write ``plan`` to ``store`` in one transaction: the old manifest or the new, never a mix."""
    now = now.replace(microsecond=0)  # new interval jobs are anchored here: keep their times round
    writes = [
        JobWrite(spec=s, next_run_at=_initial(s, now, now), reschedule=True) for s in plan.add
    ]
    for spec, changes in plan.change:
        moved = reschedules(changes)
        next_run_at = _initial(spec, now, stored[spec.id].anchor) if moved else None
        writes.append(JobWrite(spec=spec, next_run_at=next_run_at, reschedule=moved))
    record = AppliedManifest(
        digest=manifest.digest,
        path=str(manifest.path),
        applied_at=now,
        commit=manifest.commit,
        rules=manifest.rules,
        notify=manifest.notify,
    )
    store.apply(writes, list(plan.remove), record)


def sync(
    manifest: Manifest,
    store: Store,
    now: datetime,
    *,
    force: bool = False,
    show: Callable[[Plan], None] | None = None,
) -> tuple[Plan, bool]:
    """Plan ``manifest`` against ``store``, ``show`` it, check the guard, apply, ring.

    Returns the plan and whether anything was written: the apply is skipped when nothing
    changed and this exact manifest was applied last, leaving the store untouched. The
    store's apply lock is held throughout, so an apply from another process or replica
    never writes a plan this one made stale.
    """
    with store.applying():
        stored = store.load_jobs()
        result = plan(manifest, stored, now)
        if show is not None:
            show(result)
        check_guard(result, len(stored), force=force)
        last = store.last_applied()
        same = (
            last is not None
            and last.notify is not None  # else record them: the next start can skip the parse
            and (last.digest, last.commit, last.rules)
            == (manifest.digest, manifest.commit, manifest.rules)
        )
        if result.is_empty and same:
            return result, False
        apply(result, manifest, store, stored, now)
    store.ring()
    return result, True


def _initial(spec: JobSpec, now: datetime, anchor: datetime) -> datetime | None:
    """Paused jobs get no fire time until the manifest or ``resume`` unpauses them."""
    return None if spec.paused else first_fire(spec, now, anchor)
