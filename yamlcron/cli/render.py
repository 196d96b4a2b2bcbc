"""Everything the ``yamlcron`` command prints: tables, JSON shapes, plan text, logs.

Every time goes out by one rule (``Times``): ISO 8601 with its offset, in the job's zone,
or this host's zone for times that belong to no job, or UTC under ``--utc``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from yamlcron.answers import Fires
    from yamlcron.errors import ManifestError
    from yamlcron.model import Manifest, Plan, StoredJob
    from yamlcron.registry import PluginInfo
    from yamlcron.runs import Replica, Run

#: The columns of ``yamlcron history``.
HISTORY_HEADERS = (
    "RUN",
    "JOB",
    "SCHEDULED",
    "TRY",
    "STATUS",
    "EXIT",
    "TOOK",
    "NODE",
    "MANIFEST",
    "DETAIL",
)


@dataclass(frozen=True)
class Times:
    """The one rule for every time a command prints."""

    utc: bool = False

    def shown(self, moment: datetime, tz: tzinfo | None = None, timespec: str = "auto") -> str:
        """``moment`` in ``tz`` (a job's zone; None: this host's), or UTC under ``--utc``."""
        return moment.astimezone(UTC if self.utc else tz).isoformat(timespec=timespec)

    def of(self, tz: tzinfo | None) -> Callable[[datetime], str]:
        return lambda moment: self.shown(moment, tz)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def table(headers: Sequence[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; no rows is the header line alone."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


# -- validate, plan, next, plugins ---------------------------------------------------------


def validation(path: str, manifest: Manifest | None, error: Exception | None) -> dict[str, Any]:
    """One manifest's ``validate --output json`` shape."""
    from yamlcron.errors import ManifestError

    if isinstance(error, ManifestError):
        return {"file": path, "valid": False, "issues": _issues(error)}
    if error is not None:  # unreadable: one issue without a line
        issue = {"file": path, "line": 0, "column": 0, "path": "", "message": str(error)}
        return {"file": path, "valid": False, "issues": [issue]}
    assert manifest is not None
    return {"file": path, "valid": True, "jobs": len(manifest.jobs)}


def validation_text(path: str, manifest: Manifest | None, error: Exception | None) -> None:
    """One manifest's ``validate`` lines: valid on stdout, its problems on stderr."""
    from yamlcron.errors import ManifestError

    if isinstance(error, ManifestError):
        click.echo(str(error), err=True)
    elif error is not None:
        click.echo(f"error: {error}", err=True)
    else:
        assert manifest is not None
        click.echo(f"{path}: valid, {len(manifest.jobs)} jobs")


def _issues(error: ManifestError) -> list[dict[str, Any]]:
    keys = ("file", "line", "column", "path", "message")
    return [{key: getattr(issue, key) for key in keys} for issue in error.issues]


def plan(result: Plan, output: str) -> None:
    """A plan's warnings on stderr, then the plan as text (``+ ~ - !``) or JSON."""
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if output == "json":
        echo_json(plan_json(result))
    else:
        click.echo(plan_text(result))


def plan_json(result: Plan) -> dict[str, Any]:
    """The ``--output json`` shape of SPEC §6."""
    return {
        "add": [spec.id for spec in result.add],
        "change": {
            spec.id: [{"path": c.path, "old": c.old, "new": c.new} for c in changes]
            for spec, changes in result.change
        },
        "remove": list(result.remove),
        "unchanged": result.unchanged,
    }


def plan_text(result: Plan) -> str:
    """Terraform-style text: ``+`` added, ``~`` changed with field diffs, ``-`` removed."""
    lines = [f"+ {spec.id}  {spec.trigger.describe()}" for spec in result.add]
    for spec, changes in result.change:
        lines.append(f"~ {spec.id}")
        lines.extend(f"    {c.path}: {_value(c.old)} -> {_value(c.new)}" for c in changes)
    lines.extend(f"- {job_id}" for job_id in result.remove)
    lines.extend(f"! {note}" for note in result.drift)
    if result.is_empty:
        lines.append(f"No changes: {result.unchanged} unchanged.")
    else:
        lines.append(
            f"Plan: {len(result.add)} to add, {len(result.change)} to change, "
            f"{len(result.remove)} to remove, {result.unchanged} unchanged."
        )
    return "\n".join(lines)


def _value(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, ensure_ascii=False)


def fires(found: Fires, output: str) -> None:
    """``next``: the fire times in the job's zone, or why there are none."""
    shown = [t.astimezone(found.zone).isoformat() for t in found.times]
    if output == "json":
        echo_json(shown)
        return
    spec = found.spec
    if spec.trigger.kind == "after":
        click.echo(f"{spec.id} fires after {spec.trigger.after} ({spec.trigger.when}), not by time")
    elif not shown:
        after = found.after.astimezone(found.zone).isoformat()
        click.echo(f"{spec.id} has no fire time after {after}")
    for line in shown:
        click.echo(line)


def plugins(infos: Sequence[PluginInfo], output: str) -> None:
    """``plugins``: origin, version, hooks and what each provides."""
    if output == "json":
        echo_json(
            [
                {
                    "name": i.name,
                    "origin": i.origin,
                    "version": i.version,
                    "hooks": list(i.hooks),
                    "provides": {k: list(v) for k, v in i.provides.items()},
                }
                for i in infos
            ]
        )
        return
    rows = [
        [
            i.name,
            i.origin,
            i.version or "-",
            " ".join(f"{k}: {', '.join(v)}" for k, v in sorted(i.provides.items())) or "-",
            ", ".join(h.removeprefix("yamlcron_") for h in i.hooks),
        ]
        for i in infos
    ]
    click.echo(table(("PLUGIN", "FROM", "VERSION", "PROVIDES", "HOOKS"), rows))


# -- jobs, replicas -------------------------------------------------------------------------


def jobs(stored: Sequence[StoredJob], times: Times, output: str) -> None:
    """``jobs``: each job's trigger, executor, pause, next fire time and last outcome."""
    from yamlcron.triggers import zone

    rows = []
    for job in stored:
        # A paused job has a stored next fire time, kept for resume; it will not fire.
        next_at = None
        if job.next_run_at is not None and not job.paused:
            next_at = times.shown(job.next_run_at, zone(job.spec.trigger.timezone))
        rows.append(
            {
                "id": job.spec.id,
                "trigger": job.spec.trigger.describe(),
                "executor": job.spec.executor,
                "paused": job.paused,
                "next_run_at": next_at,
                "last_status": job.last_status,
            }
        )
    if output == "json":
        echo_json(rows)
        return
    headers = ("ID", "TRIGGER", "EXECUTOR", "PAUSED", "NEXT RUN", "LAST")
    keys = ("id", "trigger", "executor", "paused", "next_run_at", "last_status")
    click.echo(table(headers, [[cell(row[k]) for k in keys] for row in rows]))


def replicas(live: Sequence[Replica], times: Times, now: datetime, output: str) -> None:
    """``replicas``: each live one's lease age and expiry, and what it runs."""
    if output == "json":
        echo_json([_replica_json(r, times) for r in live])
        return
    rows = [
        [
            r.node,
            str(r.token),
            times.shown(r.started_at, timespec="seconds"),
            *(
                ("-", "when it stops")  # held by the SQLite daemon lock: no heartbeat
                if r.expires_at is None
                else (
                    f"{(now - r.heartbeat_at).total_seconds():.1f}s",
                    f"{(r.expires_at - now).total_seconds():.1f}s",
                )
            ),
            ", ".join(r.running) or "-",
        ]
        for r in live
    ]
    headers = ("NODE", "TOKEN", "STARTED", "LEASE AGE", "EXPIRES IN", "RUNNING")
    click.echo(table(headers, rows) if rows else "no live replicas")


def _replica_json(replica: Replica, times: Times) -> dict[str, Any]:
    """``Replica.to_json`` with its times in this host's zone, or UTC (the rule of every time)."""
    shape = replica.to_json()
    for key in ("started_at", "heartbeat_at", "expires_at"):
        if shape[key] is not None:
            shape[key] = times.shown(datetime.fromisoformat(shape[key]))
    return shape


# -- runs -----------------------------------------------------------------------------------


def history(runs: Sequence[Run], zones: dict[str, tzinfo], times: Times, output: str) -> None:
    """``history``: the runs as a table (or JSON), each time in its job's zone."""
    if output == "json":
        echo_json([run_json(r, times.of(zones.get(r.job_id, UTC))) for r in runs])
        return
    rows = [_run_row(r, times.of(zones.get(r.job_id, UTC))) for r in runs]
    click.echo(table(HISTORY_HEADERS, rows))
    if rows:
        click.echo("('yamlcron history --run RUN' shows one run's output and traceback)")


def one_run(run: Run, zones: dict[str, tzinfo], times: Times, output: str) -> None:
    """``history --run``: one run whole, with its output and traceback."""
    shown = times.of(zones.get(run.job_id, UTC))
    if output == "json":
        echo_json(run_json(run, shown))
    else:
        click.echo(_run_text(run, shown))


def outcome(run: Run, shown: Callable[[datetime], str], output: str) -> None:
    """``trigger``'s final run: its summary line and output, or its JSON."""
    if output == "json":
        echo_json(run_json(run, shown))
        return
    click.echo(describe(run))
    if run.output:
        click.echo(run.output.rstrip("\n"))


def queued(job_id: str, scheduled: str, output: str) -> None:
    """``trigger`` without waiting: the run is the daemon's now."""
    if output == "json":
        echo_json({"job_id": job_id, "queued": True, "scheduled_at": scheduled})
    else:
        click.echo(f"queued a run of {job_id} for the running daemon")


def run_json(run: Run, times: Callable[[datetime], str] = datetime.isoformat) -> dict[str, object]:
    """SPEC §6's shape, word for word, with datetimes written by ``times``."""
    full = run.to_json()
    keys = (
        "id",
        "job_id",
        "scheduled_at",
        "started_at",
        "finished_at",
        "attempt",
        "status",
        "exit_code",
        "result",
        "error",
        "output",
        "node",
    )
    shape = {k: full[k] for k in keys}
    for key, moment in _moments(run):
        shape[key] = None if moment is None else times(moment)
    return shape


def _moments(run: Run) -> tuple[tuple[str, datetime | None], ...]:
    return (
        ("scheduled_at", run.scheduled_at),
        ("started_at", run.started_at),
        ("finished_at", run.finished_at),
    )


def _took(run: Run) -> str:
    from yamlcron.runs import RunStatus

    # A missed or skipped fire never ran: its zero duration would read as a run.
    never_ran = run.status in (RunStatus.MISSED, RunStatus.SKIPPED)
    if run.started_at is None or run.finished_at is None or never_ran:
        return "-"
    return f"{(run.finished_at - run.started_at).total_seconds():.2f}s"


def _run_row(run: Run, times: Callable[[datetime], str]) -> list[str]:
    from yamlcron.model import label

    detail = ""
    if run.error:
        detail = run.error.message
    elif run.result is not None:
        detail = f"result: {run.result!r}"
    elif run.output:
        detail = run.output.strip().splitlines()[-1] if run.output.strip() else ""
    return [
        str(run.id),
        run.job_id,
        times(run.scheduled_at.replace(microsecond=0)),
        str(run.attempt),
        run.status.value,
        cell(run.exit_code),
        _took(run),
        run.node or "-",
        label(run.manifest_digest, run.manifest_commit),
        detail[:60],
    ]


def _run_text(run: Run, times: Callable[[datetime], str]) -> str:
    """One run for people: the summary line, its times and where, then traceback and output."""
    from yamlcron.model import label

    lines = [describe(run)]
    for key, moment in _moments(run):
        lines.append(f"  {key.removesuffix('_at') + ':':<11}{cell(moment and times(moment))}")
    lines.append(f"  {'node:':<11}{run.node or '-'}")
    lines.append(f"  {'manifest:':<11}{label(run.manifest_digest, run.manifest_commit)}")
    if run.cause_run_id is not None:
        lines.append(f"  {'after run:':<11}{run.cause_run_id}")
    trace = run.error.traceback if run.error else None
    if trace:
        lines += ["traceback:", trace.rstrip("\n")]
    lines += ["output:", run.output.rstrip("\n")] if run.output else ["output: none"]
    return "\n".join(lines)


def describe(run: Run) -> str:
    """A run in one line: id, job, attempt, status, exit code, time taken, result or error."""
    code = "" if run.exit_code is None else f", exit {run.exit_code}"
    took = _took(run)
    text = f"run {run.id} of {run.job_id} (attempt {run.attempt}): {run.status.value}{code}"
    if took != "-":
        text += f" in {took}"
    if run.result is not None:
        text += f"; result {run.result!r}"
    if run.error:
        text += f"; {run.error.type}: {run.error.message}"
    return text


# -- logs -----------------------------------------------------------------------------------


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``TIME LEVEL logger: message``, TIME in ISO 8601 with its offset (as every printed time)."""

    def __init__(self, utc: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._zone = UTC if utc else None  # None: this host's zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, UTC).astimezone(self._zone)
        return moment.isoformat(timespec="milliseconds")


def configure_logging(log_format: str, level: int, *, utc: bool = False) -> None:
    """Send yamlcron's logs to stderr, as text or one JSON object a line.

    Text lines carry the host's local time with its offset, or UTC with ``utc``; JSON lines
    always carry UTC (``time``), for machines.
    """
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(TextFormatter(utc))
    root = logging.getLogger("yamlcron")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
