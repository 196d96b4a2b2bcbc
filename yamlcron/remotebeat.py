"""From celery beat to yamlcron: a ``beat_schedule`` as a manifest (``docs/celery.md``).

::

    python -m yamlcron.remotebeat proj.celery:app > jobs.yaml

Imports the Celery application named (``module:attribute``), reads its ``beat_schedule``
and prints a manifest whose jobs send the same tasks: ``crontab()`` becomes a cron
trigger in the app's ``timezone``, a ``timedelta`` or a number of seconds an interval, and
the entry's ``args``, ``kwargs``, ``options={"queue", "priority", "headers"}`` and
``expires`` (as ``misfire_grace_time``) carry over. The broker and result backend are the
app's, in ``executors: {celery: ...}``. An entry it cannot express (a ``solar`` schedule)
is reported on stderr and left out. Job ids are the entries' names, made valid.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import yaml


def beat_to_manifest(app: Any) -> tuple[dict[str, Any], list[str]]:
    """The manifest for ``app``'s ``beat_schedule``, and what could not be converted."""
    conf = app.conf
    zone = str(conf.timezone or "UTC")
    jobs: dict[str, Any] = {}
    skipped: list[str] = []
    for name, entry in dict(conf.beat_schedule or {}).items():
        trigger = _trigger(entry.get("schedule"), zone)
        if trigger is None:
            skipped.append(f"{name}: its schedule {entry.get('schedule')!r} has no equivalent")
            continue
        run: dict[str, Any] = {"task": entry["task"]}
        if entry.get("args"):
            run["args"] = list(entry["args"])
        if entry.get("kwargs"):
            run["kwargs"] = dict(entry["kwargs"])
        job: dict[str, Any] = {"trigger": trigger, "run": run}
        options = dict(entry.get("options") or {})
        executor = {k: options[k] for k in ("queue", "priority", "headers") if k in options}
        job["executor"] = {"via": "celery", **executor} if executor else "celery"
        expires = options.get("expires")
        if isinstance(expires, int | float | timedelta):
            seconds = expires.total_seconds() if isinstance(expires, timedelta) else expires
            job["misfire_grace_time"] = _duration(seconds)
        jobs[_job_id(str(name), jobs)] = job
    settings = {"broker": str(conf.broker_url), "backend": str(conf.result_backend)}
    return {"version": 1, "executors": {"celery": settings}, "jobs": jobs}, skipped


def _trigger(schedule: Any, zone: str) -> dict[str, Any] | None:
    if isinstance(schedule, int | float):
        return {"interval": _duration(schedule)}
    if isinstance(schedule, timedelta):
        return {"interval": _duration(schedule.total_seconds())}
    fields = [
        getattr(schedule, f"_orig_{f}", None)
        for f in ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
    ]
    if all(isinstance(f, str | int) for f in fields):  # a crontab()
        return {"cron": " ".join(str(f).replace(" ", "") for f in fields), "timezone": zone}
    run_every = getattr(schedule, "run_every", None)  # a schedule(run_every=...)
    if isinstance(run_every, timedelta) and type(schedule).__name__ == "schedule":
        return {"interval": _duration(run_every.total_seconds())}
    return None


def _duration(seconds: float) -> str | int:
    whole = int(seconds)
    return whole if whole == seconds else f"{round(seconds * 1000)}ms"


def _job_id(name: str, taken: Mapping[str, Any]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-_.")[:60] or "job"
    if not base[0].isalnum():
        base = f"j{base}"
    job_id, n = base, 2
    while job_id in taken:
        job_id, n = f"{base}-{n}", n + 1
    return job_id


def main(argv: list[str]) -> int:
    """``python -m yamlcron.remotebeat MODULE:APP``: print the manifest, exit 0."""
    if len(argv) != 1 or ":" not in argv[0]:
        sys.stderr.write("usage: python -m yamlcron.remotebeat MODULE:APP  (the Celery app)\n")
        return 1
    module, _, attribute = argv[0].partition(":")
    sys.path.insert(0, "")
    try:
        app = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        sys.stderr.write(f"{argv[0]}: cannot import the Celery app: {exc}\n")
        return 1
    manifest, skipped = beat_to_manifest(app)
    for line in skipped:
        sys.stderr.write(f"{argv[0]}: left out {line}\n")
    sys.stdout.write(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
