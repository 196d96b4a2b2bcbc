"""The job codec: manifest values -> ``JobSpec`` with its canonical JSON, and JSON -> ``JobSpec``.

A job's *canonical* form is a plain JSON mapping with every default filled in, durations as
text kept to the millisecond (``"15m"``) and datetimes as ISO 8601 with an offset. It is what
the store keeps, what a job's digest is taken of and what ``plan`` diffs, so two manifests
that mean the same job give the same digest.

Two ways in, one shape out:

- ``job_from_manifest`` builds a ``JobSpec`` and its canonical form together from a validated
  job and the values its checks already parsed (``Parsed``): nothing is parsed twice and the
  canonical form is never read back.
- ``job_from_json`` rebuilds a ``JobSpec`` from canonical JSON (the store's rows).

Both give equal specs with equal digests for the same job (``tests/test_canonical.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from yamlcron.durations import format_duration, kept, parse_duration
from yamlcron.model import (
    NO_ENV,
    RUN_KINDS,
    TRIGGER_KINDS,
    JobSpec,
    NotifySpec,
    RetryPolicy,
    RunSpec,
    TriggerSpec,
)

#: What a job gets for a field that neither it nor ``defaults`` sets.
JOB_DEFAULTS: Mapping[str, Any] = {
    "coalesce": True,
    "misfire_grace_time": "60s",
    "max_instances": 1,
    "retry": {"attempts": 1, "delay": "10s", "backoff": 2.0, "max_delay": "10m"},
    "paused": False,
    "notify": [],
    "history": 100,
}
#: The executor a job gets by its run kind when it names none.
DEFAULT_EXECUTORS: Mapping[str, str] = {
    "command": "subprocess",
    "shell": "subprocess",
    "call": "thread",
}
DEFAULT_NOTIFY_ON = ("failure",)
#: Where a job, or ``defaults``, holds a duration (the schema's ``#/$defs/duration``).
DURATIONS: tuple[tuple[str, ...], ...] = (
    ("trigger", "interval"),
    ("trigger", "jitter"),
    ("run", "timeout"),
    ("misfire_grace_time",),
    ("retry", "delay"),
    ("retry", "max_delay"),
)

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Parsed:
    """What the manifest's checks parsed, by path in the document, for the codec to use.

    The checker fills it as it goes (so the mappings themselves are filled in place);
    ``seconds`` holds each duration, ``moments`` each ``date``/``start``/``end`` and
    ``zones`` each job's trigger time zone name.
    """

    seconds: dict[Path_, float] = field(default_factory=dict)
    moments: dict[Path_, datetime] = field(default_factory=dict)
    zones: dict[str, str] = field(default_factory=dict)


def job_from_manifest(
    job_id: str,
    job: Mapping[str, Any],
    defaults: Mapping[str, Any],
    parsed: Parsed,
    executors: Mapping[str, Any] | None = None,
) -> JobSpec:
    """The ``JobSpec`` of a validated job, its canonical form and digest built alongside.

    ``executors`` is the manifest's ``executors:`` mapping: the settings of the job's
    executor go under the options its ``executor: {via: ...}`` gives.
    """
    base: Path_ = ("jobs", str(job_id))

    def seconds(*relative: str) -> float | None:
        """The duration at ``relative`` in the job, else in defaults, else the built-in one."""
        for owner, prefix in ((job, base), (defaults, ("defaults",))):
            value: Any = owner
            for key in relative:
                value = value.get(key, _ABSENT) if isinstance(value, dict) else _ABSENT
            if value is not _ABSENT:
                return None if value is None else kept(parsed.seconds[(*prefix, *relative)])
        return _DEFAULT_SECONDS.get(relative)

    merged: dict[str, Any] = {**JOB_DEFAULTS}
    for source in (defaults, job):
        for key, value in source.items():
            if key == "retry":
                merged["retry"] = {**merged["retry"], **value}
            elif key != "timezone":
                merged[key] = value
    retry = merged["retry"]
    policy = RetryPolicy(
        attempts=retry["attempts"],
        delay=_given(seconds("retry", "delay")),
        backoff=float(retry["backoff"]),
        max_delay=_given(seconds("retry", "max_delay")),
    )
    where: Path_ = (*base, "trigger")
    trigger = TriggerSpec(
        kind=next(k for k in TRIGGER_KINDS if k in job["trigger"]),
        cron=_cron(job["trigger"].get("cron")),
        interval=seconds("trigger", "interval"),
        date=_fixed(parsed.moments.get((*where, "date"))),
        after=job["trigger"].get("after"),
        when=job["trigger"].get("when", "success"),
        timezone=parsed.zones[str(job_id)],
        jitter=seconds("trigger", "jitter") or 0.0,
        start=_fixed(parsed.moments.get((*where, "start"))),
        end=_fixed(parsed.moments.get((*where, "end"))),
    )
    run = _run(job["run"], seconds("run", "timeout"))
    executor, options = executor_of(merged.get("executor", DEFAULT_EXECUTORS.get(run.kind, "")))
    settings = (executors or {}).get(executor)
    if isinstance(settings, Mapping):
        options = {**settings, **options}
    return _spec(
        job_id,
        trigger=trigger,
        run=run,
        executor=executor,
        executor_options=options,
        coalesce=merged["coalesce"],
        misfire_grace_time=seconds("misfire_grace_time"),
        max_instances=merged["max_instances"],
        retry=policy,
        paused=merged["paused"],
        notify=tuple(notify_from_manifest(n) for n in merged["notify"]),
        history=merged["history"],
        description=merged.get("description"),
        tags=None if "tags" not in merged else tuple(merged["tags"]),
    )


def executor_of(value: Any) -> tuple[str, dict[str, Any]]:
    """``executor: NAME`` or ``{via: NAME, ...options}``: the name and the options."""
    if isinstance(value, Mapping):
        return str(value.get("via", "")), {k: v for k, v in value.items() if k != "via"}
    return str(value), {}


def executor_json(spec: JobSpec) -> str | dict[str, Any]:
    """The canonical ``executor``: the name alone while it has no options (older digests hold)."""
    if not spec.executor_options:
        return spec.executor
    return {**spec.executor_options, "via": spec.executor}


_ABSENT = object()
_DEFAULT_SECONDS = {
    ("misfire_grace_time",): parse_duration(JOB_DEFAULTS["misfire_grace_time"]),
    ("retry", "delay"): parse_duration(JOB_DEFAULTS["retry"]["delay"]),
    ("retry", "max_delay"): parse_duration(JOB_DEFAULTS["retry"]["max_delay"]),
}


def _given(value: float | None) -> float:
    assert value is not None  # the schema allows null for misfire_grace_time only
    return value


def _cron(expression: str | None) -> str | None:
    """Spaces between the fields do not make another schedule."""
    return None if expression is None else " ".join(expression.split())


def _fixed(moment: datetime | None) -> datetime | None:
    """The moment at its UTC offset, as canonical JSON keeps it (not its zone's rules)."""
    if moment is None:
        return None
    offset = moment.utcoffset()
    assert offset is not None  # the checker reads naive datetimes in the trigger's zone
    return moment.replace(tzinfo=timezone(offset))


def _run(run: Mapping[str, Any], timeout: float | None) -> RunSpec:
    kind = next(k for k in RUN_KINDS if k in run)
    return RunSpec(
        kind=kind,
        command=tuple(run.get("command", ())),
        shell=run.get("shell"),
        call=run.get("call"),
        task=run.get("task"),
        args=tuple(run.get("args", ())),
        kwargs=dict(run.get("kwargs", {})),
        env=NO_ENV if "env" not in run else _env(run["env"]),
        cwd=run.get("cwd"),
        timeout=timeout,
    )


def _env(env: Mapping[str, Any]) -> dict[str, str]:
    """Numbers written as env values become their JSON text."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in env.items()}


def notify_from_manifest(entry: Mapping[str, Any]) -> NotifySpec:
    """A ``notify:`` entry with its defaults (``via: log``, ``on: [failure]``)."""
    options = {k: v for k, v in entry.items() if k not in ("via", "on")}
    return NotifySpec(
        via=entry.get("via", "log"), on=tuple(entry.get("on", DEFAULT_NOTIFY_ON)), options=options
    )


def notify_to_json(spec: NotifySpec) -> dict[str, Any]:
    """A notifier's canonical mapping, as ``notify_from_json`` reads it back."""
    return {**spec.options, "via": spec.via, "on": list(spec.on)}


def notify_from_json(data: Mapping[str, Any]) -> NotifySpec:
    """A notifier from its canonical mapping."""
    options = {k: v for k, v in data.items() if k not in ("via", "on")}
    return NotifySpec(via=data["via"], on=tuple(data["on"]), options=options)


# -- JobSpec <-> canonical JSON ---------------------------------------------------------------


def job_to_json(spec: JobSpec) -> dict[str, Any]:
    """A job's canonical form, from its values."""
    out: dict[str, Any] = {
        "trigger": _trigger_json(spec.trigger),
        "run": _run_json(spec.run),
        "executor": executor_json(spec),
        "coalesce": spec.coalesce,
        "misfire_grace_time": _text(spec.misfire_grace_time),
        "max_instances": spec.max_instances,
        "retry": {
            "attempts": spec.retry.attempts,
            "delay": format_duration(spec.retry.delay),
            "backoff": spec.retry.backoff,
            "max_delay": format_duration(spec.retry.max_delay),
        },
        "paused": spec.paused,
        "notify": [notify_to_json(n) for n in spec.notify],
        "history": spec.history,
    }
    if spec.description is not None:
        out["description"] = spec.description
    if spec.tags is not None:
        out["tags"] = list(spec.tags)
    return out


def _text(seconds: float | None) -> str | None:
    return None if seconds is None else format_duration(seconds)


def _trigger_json(trigger: TriggerSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if trigger.kind == "interval":
        out["interval"] = _text(trigger.interval)
    elif trigger.kind == "date":
        out["date"] = _iso(trigger.date)
    elif trigger.kind == "after":
        out.update(after=trigger.after, when=trigger.when)
    else:
        out["cron"] = trigger.cron
    out["timezone"] = trigger.timezone
    out["jitter"] = format_duration(trigger.jitter)
    for key, moment in (("start", trigger.start), ("end", trigger.end)):
        if moment is not None:
            out[key] = moment.isoformat()
    return out


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _run_json(run: RunSpec) -> dict[str, Any]:
    value = {
        "command": list(run.command),
        "shell": run.shell,
        "call": run.call,
        "task": run.task,
    }[run.kind]
    out: dict[str, Any] = {run.kind: value}
    if run.kind in ("call", "task"):
        out["args"] = list(run.args)
        out["kwargs"] = dict(run.kwargs)
    if run.env is not NO_ENV:
        out["env"] = dict(run.env)
    if run.cwd is not None:
        out["cwd"] = run.cwd
    if run.timeout is not None:
        out["timeout"] = format_duration(run.timeout)
    return out


def _spec(job_id: str, **values: Any) -> JobSpec:
    """A spec from its values, with its canonical form and digest computed once."""
    draft = JobSpec(id=job_id, canonical={}, digest="", **values)
    data = job_to_json(draft)
    return JobSpec(id=job_id, canonical=data, digest=digest_of(data), **values)


def job_from_json(job_id: str, data: Mapping[str, Any], digest: str | None = None) -> JobSpec:
    """Rebuild a spec from its canonical form; trusted input (our own store).

    ``digest`` is ``digest_of(data)`` when the caller already has it (the store does).
    """
    trigger, run, retry = data["trigger"], data["run"], data["retry"]
    executor, options = executor_of(data["executor"])
    return JobSpec(
        id=job_id,
        trigger=TriggerSpec(
            kind=next(k for k in TRIGGER_KINDS if k in trigger),
            cron=trigger.get("cron"),
            interval=_seconds(trigger.get("interval")),
            date=_instant(trigger.get("date")),
            after=trigger.get("after"),
            when=trigger.get("when", "success"),
            timezone=trigger["timezone"],
            jitter=_seconds(trigger["jitter"]) or 0.0,
            start=_instant(trigger.get("start")),
            end=_instant(trigger.get("end")),
        ),
        run=RunSpec(
            kind=next(k for k in RUN_KINDS if k in run),
            command=tuple(run.get("command", ())),
            shell=run.get("shell"),
            call=run.get("call"),
            task=run.get("task"),
            args=tuple(run.get("args", ())),
            kwargs=dict(run.get("kwargs", {})),
            env=NO_ENV if "env" not in run else dict(run["env"]),
            cwd=run.get("cwd"),
            timeout=_seconds(run.get("timeout")),
        ),
        executor=executor,
        executor_options=options,
        coalesce=data["coalesce"],
        misfire_grace_time=_seconds(data["misfire_grace_time"]),
        max_instances=data["max_instances"],
        retry=RetryPolicy(
            attempts=retry["attempts"],
            delay=parse_duration(retry["delay"]),
            backoff=float(retry["backoff"]),
            max_delay=parse_duration(retry["max_delay"]),
        ),
        paused=data["paused"],
        notify=tuple(notify_from_json(n) for n in data["notify"]),
        history=data["history"],
        description=data.get("description"),
        tags=None if "tags" not in data else tuple(data["tags"]),
        canonical=data,
        digest=digest or digest_of(data),
    )


def _seconds(value: Any) -> float | None:
    return None if value is None else parse_duration(value)


def _instant(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def canonical_json(data: Any) -> str:
    """A JSON value as stable text: sorted keys, no whitespace (what digests and the store use)."""
    return _CANONICAL_JSON.encode(data)


def digest_of(data: Any) -> str:
    """A stable SHA-256 of a JSON value (of its ``canonical_json`` text)."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


# One encoder for all: json.dumps with options builds a new one per call.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
