"""The status page's front page: the jobs (filtered, a page at a time), replicas, last reload.

With ten thousand jobs it reads every job's row but parses only the specs it shows (a tag
or ``paused`` filter reads them all), and the recent runs of the jobs shown in one query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from yamlcron.http.page_html import (
    STATUSES,
    Frame,
    Moments,
    badge,
    esc,
    facts,
    link,
    pager,
    select,
    strip,
    table,
    text_input,
)
from yamlcron.model import label
from yamlcron.runs import Run
from yamlcron.triggers import zone

if TYPE_CHECKING:
    from yamlcron.app import Yamlcron
    from yamlcron.model import ReloadError, StoredJob

#: Runs in a job's strip of recent outcomes.
STRIP_RUNS = 20
#: What the status filter offers besides run statuses: (value, words).
JOB_STATES = (("", "any"), ("failing", "failing"), ("paused", "paused"), ("never", "never run"))
#: Last statuses that count as failing: the run did not succeed and nothing has since.
FAILING = frozenset({"failure", "timeout", "interrupted"})
ROOT = "./"


@dataclass(frozen=True)
class JobFilter:
    """Which jobs the front page shows: id text, tag, status, and which page of them."""

    text: str = ""
    tag: str = ""
    status: str = ""
    page: int = 1
    per: int = 50

    def query(self, **changed: str) -> dict[str, str]:
        """This filter as a query string's values, with some changed (a page number...)."""
        values = {"q": self.text, "tag": self.tag, "status": self.status, "page": ""}
        values["per"] = "" if self.per == JobFilter.per else str(self.per)
        return {**values, **changed}

    def keeps(self, job_id: str, job: StoredJob) -> bool:
        """Whether ``job`` passes this filter (its spec is read only for tag and pause)."""
        if self.text and self.text.casefold() not in job_id.casefold():
            return False
        if self.status and not _in_state(job, self.status):
            return False
        return not self.tag or self.tag in (job.spec.tags or ())


def _in_state(job: StoredJob, state: str) -> bool:
    if state == "failing":
        return job.last_status in FAILING
    if state == "paused":
        return job.paused
    if state == "never":
        return job.last_status is None
    return job.last_status == state


def index(app: Yamlcron, failed: ReloadError | None, wanted: JobFilter, at: Moments) -> bytes:
    """The front page, as a whole document; ``failed``: the daemon's last reload error."""
    stored = app.jobs_by_id()
    ids = sorted(i for i, job in stored.items() if wanted.keeps(i, job))
    pages = max(1, -(-len(ids) // wanted.per))
    page = min(wanted.page, pages)
    chosen = ids[(page - 1) * wanted.per : page * wanted.per]
    recent = app.recent_runs(chosen, STRIP_RUNS)
    rows = [_job_row(i, stored[i], recent.get(i, []), at) for i in chosen]
    first = (page - 1) * wanted.per + 1
    caption = (
        f"Jobs {first} to {first + len(chosen) - 1} of {len(ids)}" if chosen else "No job matches"
    )
    headers = ("Job", "Trigger", "Next run", "Last outcome", "When", "Paused", "Recent runs")
    body = (
        f"<h1>Jobs</h1>{_summary(stored)}{_filter_form(wanted)}"
        + table(caption, headers, rows)
        + _pages(wanted, page, pages)
        + _replicas(app, at)
        + _reload(app, failed, at)
    )
    return Frame(ROOT, "Jobs").render(body, at)


def _summary(stored: dict[str, StoredJob]) -> str:
    failing = sum(1 for job in stored.values() if job.last_status in FAILING)
    return (
        f'<p class="summary">{len(stored)} jobs in the store; '
        f'<a href="{link(ROOT, query={"status": "failing"})}">{failing} failing</a> '
        "(last outcome failure, timeout or interrupted).</p>"
    )


def _filter_form(wanted: JobFilter) -> str:
    statuses = [*JOB_STATES, *((s, f"last {s}") for s in STATUSES)]
    return (
        '<form class="filters" role="search" method="get" action="./" aria-label="Filter jobs">'
        + text_input("q", "Id contains", wanted.text, "backup")
        + text_input("tag", "Tag", wanted.tag, "nightly")
        + select("status", "Status", statuses, wanted.status)
        + f'<input type="hidden" name="per" value="{wanted.per}">'
        + '<button type="submit">Filter</button>'
        + f'<a href="{link(ROOT)}">Clear</a></form>'
    )


def _job_row(job_id: str, job: StoredJob, runs: list[Run], at: Moments) -> list[str]:
    tz = zone(job.spec.trigger.timezone)
    last = next((r for r in runs if r.status != "running"), None)
    when = None if last is None else (last.finished_at or last.scheduled_at)
    upcoming = None if job.paused else job.next_run_at
    return [
        f'<a href="{link(ROOT, "jobs", job_id)}">{esc(job_id)}</a>',
        f"<code>{esc(job.spec.trigger.describe())}</code>",
        at.relative(upcoming, tz),
        badge(last.status if last else job.last_status),
        at.relative(when, tz),
        '<span class="badge s-paused">paused</span>' if job.paused else "no",
        strip(runs, at, tz),
    ]


def _pages(wanted: JobFilter, page: int, pages: int) -> str:
    def to(n: int) -> str:
        return link(ROOT, query=wanted.query(page=str(n)))

    return pager(
        to(page - 1) if page > 1 else None,
        f"Page {page} of {pages}",
        to(page + 1) if page < pages else None,
        "Pages of jobs",
    )


def _replicas(app: Yamlcron, at: Moments) -> str:
    rows = [
        [
            esc(r.node),
            at.shown(r.started_at),
            at.relative(r.heartbeat_at),
            "held while it runs" if r.expires_at is None else at.relative(r.expires_at),
            ", ".join(f'<a href="{link(ROOT, "jobs", j)}">{esc(j)}</a>' for j in r.running) or "—",
        ]
        for r in app.replicas()
    ]
    headers = ("Node", "Started", "Last heartbeat", "Lease expires", "Running")
    return (
        '<section aria-labelledby="replicas"><h2 id="replicas">Replicas</h2>'
        + table("Live <code>yamlcron run</code> processes of this store", headers, rows)
        + "</section>"
    )


def _reload(app: Yamlcron, failed: ReloadError | None, at: Moments) -> str:
    record = app.applied()
    applied = (
        "<p>No manifest applied.</p>"
        if record is None
        else facts(
            (
                ("Manifest", f"<code>{esc(record.path)}</code>"),
                ("Version", f"<code>{esc(label(record.digest, record.commit))}</code>"),
                ("Digest", f'<code class="wrap">{esc(record.digest)}</code>'),
                ("Commit", f"<code>{esc(record.commit)}</code>" if record.commit else "—"),
                ("Applied", at.both(record.applied_at)),
            )
        )
    )
    error = (
        "<p>The last reload succeeded (or none was tried since the daemon started).</p>"
        if failed is None
        else '<div class="problem"><h3>The last reload failed</h3>'
        f"<p>At {at.both(failed.at)}; "
        "the manifest above keeps running.</p>"
        f"<pre>{esc(failed.message)}</pre></div>"
    )
    return (
        '<section aria-labelledby="reload"><h2 id="reload">Manifest and last reload</h2>'
        f"{applied}{error}</section>"
    )
