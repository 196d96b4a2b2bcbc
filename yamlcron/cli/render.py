"""Everything the ``yamlcron`` command prints: tables, plan text, runs for people.

The JSON shapes and the rule for times live in ``yamlcron.shapes``, shared with the HTTP API.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

import click

from yamlcron.shapes import Times, job_json, moments, plan_json, replica_json, run_json

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


#: What a terminal would act on rather than show: C0 and C1 controls but tab and newline
#: (ESC starts colour, cursor and title sequences), DEL, and the bidirectional overrides
#: that reorder what is shown.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def for_terminal(text: str) -> str:
    """``text`` with what a terminal would act on written as Python escapes (``\\x1b``).

    A job's output and errors are the job's words, not ours: printed raw to a terminal, an
    escape sequence could recolour the screen, move the cursor, retitle the window or hide
    lines. Only text for people goes through here; JSON keeps every character as recorded.
    """
    return _CONTROLS.sub(lambda m: repr(m.group())[1:-1], text)


def _shown(text: str) -> str:
    """``text`` escaped when standard output is a terminal, else as it is (a pipe, a file)."""
    terminal = sys.stdout.isatty()
    return for_terminal(text) if terminal else text


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
    rows = [job_json(job, times) for job in stored]
    if output == "json":
        echo_json(rows)
        return
    headers = ("ID", "TRIGGER", "EXECUTOR", "PAUSED", "NEXT RUN", "LAST")
    keys = ("id", "trigger", "executor", "paused", "next_run_at", "last_status")
    click.echo(table(headers, [[cell(row[k]) for k in keys] for row in rows]))


def replicas(live: Sequence[Replica], times: Times, now: datetime, output: str) -> None:
    """``replicas``: each live one's lease age and expiry, and what it runs."""
    if output == "json":
        echo_json([replica_json(r, times) for r in live])
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


# -- runs -----------------------------------------------------------------------------------


def history(runs: Sequence[Run], zones: dict[str, tzinfo], times: Times, output: str) -> None:
    """``history``: the runs as a table (or JSON), each time in its job's zone."""
    if output == "json":
        echo_json([run_json(r, times.of(zones.get(r.job_id, UTC))) for r in runs])
        return
    rows = [_run_row(r, times.of(zones.get(r.job_id, UTC))) for r in runs]
    click.echo(_shown(table(HISTORY_HEADERS, rows)))
    if rows:
        click.echo("('yamlcron history --run RUN' shows one run's output and traceback)")


def one_run(run: Run, zones: dict[str, tzinfo], times: Times, output: str) -> None:
    """``history --run``: one run whole, with its output and traceback."""
    shown = times.of(zones.get(run.job_id, UTC))
    if output == "json":
        echo_json(run_json(run, shown))
    else:
        click.echo(_shown(_run_text(run, shown)))


def outcome(run: Run, shown: Callable[[datetime], str], output: str) -> None:
    """``trigger``'s final run: its summary line and output, or its JSON."""
    if output == "json":
        echo_json(run_json(run, shown))
        return
    click.echo(_shown(describe(run)))
    if run.output:
        click.echo(_shown(run.output.rstrip("\n")))


def queued(job_id: str, scheduled: str, output: str) -> None:
    """``trigger`` without waiting: the run is the daemon's now."""
    if output == "json":
        echo_json({"job_id": job_id, "queued": True, "scheduled_at": scheduled})
    else:
        click.echo(f"queued a run of {job_id} for the running daemon")


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
    for key, moment in moments(run):
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
