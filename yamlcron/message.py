"""Events in words for people: what a chat message, an e-mail or a ping's body says.

One module, so that a run reads the same wherever it lands (the ``apprise`` notifier's
Slack message or e-mail, the ``healthchecks`` notifier's ping body)::

    yamlcron: nightly-backup failed

    Job: nightly-backup
    Status: failure (attempt 3 of 3)
    Scheduled: 2026-11-29 03:00:00+01:00
    Duration: 4s120ms
    Exit code: 2
    Error: Failure: exited with code 2
    Node: db-1:4242
    Run: https://cron.example/runs/1234

    Last output:
    pg_dump: error: connection to server failed
"""

from __future__ import annotations

from dataclasses import dataclass

from yamlcron.durations import format_duration
from yamlcron.events import ManifestEvent, RunEvent
from yamlcron.runs import Run

#: What the title says a run did, by event kind.
_DID = {
    "submitted": "was submitted",
    "started": "started",
    "succeeded": "succeeded",
    "failed": "failed",
    "retried": "failed and will be retried",
    "interrupted": "was interrupted",
    "missed": "missed a run",
    "skipped": "skipped a run",
}
_MANIFEST_DID = {
    "applied": "applied",
    "reload_failed": "reload failed",
    "plan_refused": "plan refused",
}


@dataclass(frozen=True, slots=True)
class Message:
    """A title (a chat message's first line, an e-mail's subject) and its text."""

    title: str
    body: str


def compose(
    event: RunEvent | ManifestEvent, *, link: str | None = None, lines: int = 20
) -> Message:
    """The message for ``event``: the facts of its run, then its last ``lines`` of output.

    ``link``: the status page's public URL; the message then links the run's page there,
    ``{link}/runs/{run id}``.
    """
    if isinstance(event, ManifestEvent):
        return Message(
            f"yamlcron: manifest {_MANIFEST_DID[event.kind]}",
            "\n".join(filter(None, [f"Manifest: {event.path}", event.message])),
        )
    body = "\n".join(facts(event, link))
    output = last_lines(event.run.output, lines)
    if output:
        body += f"\n\nLast output:\n{output}"
    return Message(title(event), body)


def title(event: RunEvent) -> str:
    """One line: ``yamlcron: JOB failed``."""
    return f"yamlcron: {event.run.job_id} {_DID[event.kind]}"


def facts(event: RunEvent, link: str | None = None) -> list[str]:
    """The run's facts, a ``Name: value`` line each: what a person reads first."""
    run = event.run
    attempts = event.job.retry.attempts if event.job is not None else None
    of = f" of {attempts}" if attempts else ""
    lines = [
        f"Job: {run.job_id}",
        f"Status: {run.status.value} (attempt {run.attempt}{of})",
        f"Scheduled: {_local(run, event)}",
    ]
    if run.started_at is not None and run.finished_at is not None:
        seconds = (run.finished_at - run.started_at).total_seconds()
        lines.append(f"Duration: {format_duration(max(seconds, 0.0))}")
    if run.exit_code is not None:
        lines.append(f"Exit code: {run.exit_code}")
    if run.error is not None:
        first = run.error.message.splitlines()[0] if run.error.message else ""
        lines.append(f"Error: {run.error.type}: {first}")
    if run.node:
        lines.append(f"Node: {run.node}")
    if link:
        lines.append(f"Run: {run_link(link, run.id)}")
    return lines


def run_link(link: str, run_id: int) -> str:
    """The run's page under the status page's public URL ``link``."""
    return f"{link.rstrip('/')}/runs/{run_id}"


def last_lines(text: str, count: int) -> str:
    """The last ``count`` lines of ``text``, without its final newline."""
    return "\n".join(text.rstrip("\n").splitlines()[-count:]) if count > 0 else ""


def last_bytes(text: str, limit: int) -> str:
    """The end of ``text`` that fits in ``limit`` bytes of UTF-8 (no character cut in two)."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[len(data) - max(limit, 0) :].decode(errors="ignore")


def _local(run: Run, event: RunEvent) -> str:
    """The scheduled time in the job's time zone, as people there read it."""
    if event.job is None:
        return run.scheduled_at.isoformat(sep=" ", timespec="seconds")
    from yamlcron.triggers import zone

    local = run.scheduled_at.astimezone(zone(event.job.trigger.timezone))
    return local.isoformat(sep=" ", timespec="seconds")
