"""A job's page (what it is, its runs a page at a time, its actions) and a run's page."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from datetime import tzinfo
from typing import TYPE_CHECKING

from yamlcron.http.page_html import (
    STATUSES,
    Frame,
    Moments,
    badge,
    duration,
    esc,
    facts,
    link,
    pager,
    select,
    table,
)
from yamlcron.model import label
from yamlcron.triggers import zone

if TYPE_CHECKING:
    from yamlcron.app import Yamlcron
    from yamlcron.model import JobSpec
    from yamlcron.runs import Run

ROOT = "../"


@dataclass(frozen=True)
class RunFilter:
    """Which runs of a job its page shows: a status, and the page (runs older than ``before``)."""

    status: str = ""
    before: int | None = None
    per: int = 50

    def query(self, before: str = "") -> dict[str, str]:
        """The query string's values of this filter, on the page of runs ``before``."""
        per = "" if self.per == RunFilter.per else str(self.per)
        return {"status": self.status, "before": before, "per": per}


def job_page(app: Yamlcron, job_id: str, wanted: RunFilter, at: Moments) -> bytes:
    """A job's page: its declaration and state, actions, and its runs newest first."""
    job = app.job(job_id)
    spec = job.spec
    tz = zone(spec.trigger.timezone)
    statuses = (wanted.status,) if wanted.status else ()
    runs = app.recent_runs([job_id], wanted.per + 1, before=wanted.before, statuses=statuses)
    found = runs.get(job_id, [])
    shown_runs, older = found[: wanted.per], len(found) > wanted.per
    upcoming = None if job.paused else job.next_run_at
    about = facts(
        (
            ("Trigger", f"<code>{esc(spec.trigger.describe())}</code>"),
            ("Runs", f"<code>{esc(_what(spec))}</code>"),
            ("Executor", esc(spec.executor)),
            ("Tags", ", ".join(esc(t) for t in spec.tags or ()) or "—"),
            ("Paused", "yes" if job.paused else "no"),
            ("Next run", at.both(upcoming, tz)),
            ("Last outcome", badge(job.last_status)),
        )
    )
    rows = [_run_row(r, at, tz) for r in shown_runs]
    headers = ("Run", "Status", "Scheduled", "Started", "Duration", "Attempt", "Exit code", "Node")
    filtered = f" ({esc(wanted.status)})" if wanted.status else ""
    newest = link(ROOT, "jobs", job_id, query=wanted.query())
    following = None
    if older:
        following = link(ROOT, "jobs", job_id, query=wanted.query(before=str(shown_runs[-1].id)))
    body = (
        f"<h1>Job <code>{esc(job_id)}</code></h1>"
        + (f'<p class="description">{esc(spec.description)}</p>' if spec.description else "")
        + f"{about}{_actions(job_id)}"
        '<section aria-labelledby="runs"><h2 id="runs">Runs</h2>'
        f"{_status_form(wanted)}"
        + table(f"Runs of {esc(job_id)}{filtered}, newest first", headers, rows)
        + pager(newest if wanted.before else None, "", following, "Pages of runs")
        + "</section>"
    )
    crumbs = ((link(ROOT), "Jobs"), (link(ROOT, "jobs", job_id), esc(job_id)))
    return Frame(ROOT, f"Job {job_id}", crumbs=crumbs).render(body, at)


def _what(spec: JobSpec) -> str:
    """What a job runs, in one line: its argv, shell script or Python callable."""
    run = spec.run
    if run.kind == "command":
        return shlex.join(run.command)
    return f"{run.kind}: {run.shell if run.kind == 'shell' else run.call}"


def _actions(job_id: str) -> str:
    """The buttons the script reveals once a token is typed (actions need it anyway)."""
    return (
        f'<div class="actions js-only" data-job="{esc(job_id)}" hidden>'
        '<p class="token-needed">Type the token above to run, pause or resume this job.</p>'
        '<div class="buttons" hidden>'
        '<button type="button" data-action="trigger">Run now</button>'
        '<button type="button" data-action="pause">Pause</button>'
        '<button type="button" data-action="resume">Resume</button></div></div>'
    )


def _status_form(wanted: RunFilter) -> str:
    options = [("", "any"), *((s, s) for s in STATUSES)]
    return (
        '<form class="filters" method="get" aria-label="Filter runs">'
        + select("status", "Status", options, wanted.status)
        + (
            f'<input type="hidden" name="per" value="{wanted.per}">'
            if wanted.query()["per"]
            else ""
        )
        + '<button type="submit">Filter</button></form>'
    )


def _run_row(run: Run, at: Moments, tz: tzinfo) -> list[str]:
    return [
        f'<a href="{link(ROOT, "runs", run.id)}">#{run.id}</a>',
        badge(run.status),
        at.shown(run.scheduled_at, tz),
        at.shown(run.started_at, tz),
        duration(run.started_at, run.finished_at),
        str(run.attempt),
        "—" if run.exit_code is None else str(run.exit_code),
        esc(run.node) or "—",
    ]


def run_page(app: Yamlcron, run_id: int, at: Moments) -> bytes:
    """A run's page: when, how it ended, its result, error and traceback, and its output."""
    (run,) = app.history(run_id=run_id)
    zones = app.zones([run.job_id])
    tz = zones.get(run.job_id)  # a removed job's runs: in this host's zone
    job = link(ROOT, "jobs", run.job_id)
    named = (
        f'<a href="{job}">{esc(run.job_id)}</a>'
        if run.job_id in zones
        else f"{esc(run.job_id)} (removed from the manifest; its history is kept)"
    )
    cause = (
        f'<a href="{link(ROOT, "runs", run.cause_run_id)}">#{run.cause_run_id}</a>'
        if run.cause_run_id is not None
        else "—"
    )
    about = facts(
        (
            ("Job", named),
            ("Status", badge(run.status)),
            ("Scheduled", at.shown(run.scheduled_at, tz)),
            ("Started", at.shown(run.started_at, tz)),
            ("Finished", at.shown(run.finished_at, tz)),
            ("Duration", duration(run.started_at, run.finished_at)),
            ("Attempt", str(run.attempt)),
            ("Exit code", "—" if run.exit_code is None else str(run.exit_code)),
            ("Node", esc(run.node) or "—"),
            ("Manifest", f"<code>{esc(label(run.manifest_digest, run.manifest_commit))}</code>"),
            ("Caused by", cause),
        )
    )
    body = (
        f"<h1>Run #{run.id} of <code>{esc(run.job_id)}</code>: {badge(run.status)}</h1>"
        f"{about}{_error(run)}{_result(run)}"
        '<section aria-labelledby="output"><h2 id="output">Output</h2>'
        + (
            f'<pre tabindex="0" aria-labelledby="output">{esc(run.output)}</pre>'
            if run.output
            else "<p>No output.</p>"
        )
        + "</section>"
    )
    here = (link(ROOT, "runs", run.id), f"#{run.id}")
    crumbs = (
        (link(ROOT), "Jobs"),
        *([(job, esc(run.job_id))] if run.job_id in zones else []),
        here,
    )
    frame = Frame(ROOT, f"Run #{run.id} of {run.job_id}", run.status == "running", crumbs)
    return frame.render(body, at)


def _error(run: Run) -> str:
    if run.error is None:
        return ""
    trace = (
        '<h3 id="traceback">Traceback</h3>'
        f'<pre tabindex="0" aria-labelledby="traceback">{esc(run.error.traceback)}</pre>'
        if run.error.traceback
        else ""
    )
    return (
        '<section class="problem" aria-labelledby="error"><h2 id="error">Error</h2>'
        f"<p><strong>{esc(run.error.type)}</strong>: {esc(run.error.message)}</p>{trace}</section>"
    )


def _result(run: Run) -> str:
    if run.result is None:
        return ""
    text = json.dumps(run.result, indent=2, ensure_ascii=False)
    return (
        '<section aria-labelledby="result"><h2 id="result">Result</h2>'
        f"<pre>{esc(text)}</pre></section>"
    )
