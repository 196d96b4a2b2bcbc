"""The row codec: how values of ``model`` and ``runs`` are written to and read from rows.

Only JSON goes in, never pickle. Instants are integers, microseconds since the Unix epoch
in UTC: exact (so ``UNIQUE (job_id, scheduled_at, attempt)`` on runs really claims one
fire once), indexable and the same in every dialect.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from yamlcron.canonical import job_from_json, notify_from_json, notify_to_json
from yamlcron.errors import CorruptJobError
from yamlcron.model import AppliedManifest, JobSpec, StoredJob
from yamlcron.runs import Queued, Run, RunError, RunStatus

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: The columns ``run_from_row`` reads, in its order.
RUN_COLUMNS = (
    "id, job_id, scheduled_at, attempt, status, started_at, finished_at, exit_code, result, "
    "error, output, node, cause_run_id, manifest_digest, manifest_commit"
)
#: The columns ``stored_job_from_row`` reads, in its order.
JOB_COLUMNS = "id, digest, spec, next_run_at, anchor, paused_override, last_status"
#: The columns ``applied_from_row`` reads, in its order.
APPLIED_COLUMNS = "digest, path, applied_at, commit_id, rules, notify"
#: The columns ``queue_row`` writes, in its order.
QUEUE_COLUMNS = "job_id, due_at, scheduled_at, attempt, reason, cause_run_id"


def to_micros(moment: datetime) -> int:
    """An aware datetime as microseconds since the epoch."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    """Microseconds since the epoch as an aware UTC datetime."""
    # Exact, and cheaper than fromtimestamp + replace: a claimed fire reads several.
    return _EPOCH + timedelta(microseconds=value)


def moment(value: int | None) -> datetime | None:
    """``from_micros`` of a nullable column."""
    return None if value is None else from_micros(value)


def micros(value: datetime | None) -> int | None:
    """``to_micros`` for a nullable column."""
    return None if value is None else to_micros(value)


def json_text(value: Any) -> str | None:
    """A JSON column's text (None stays NULL); what JSON cannot hold is written as its repr."""
    return None if value is None else json.dumps(value, ensure_ascii=False, default=repr)


def error_text(error: RunError | None) -> str | None:
    """A run's error column: SPEC §6's ``{type, message, traceback}`` as JSON, or NULL."""
    return None if error is None else json_text(error.to_json())


#: What reading a spec that is not what we wrote raises: not JSON (ValueError), not an
#: object, a field missing or of another type, a kind we do not know (StopIteration).
_UNREADABLE = (ValueError, KeyError, TypeError, AttributeError, StopIteration)


def parse_spec(job_id: str, text: str, digest: str) -> JobSpec:
    """A job row's spec column as the ``JobSpec`` it was written from.

    Raises ``CorruptJobError``, naming the job and what is wrong, for a spec that cannot
    be read back (a damaged file, a hand edit).
    """
    try:
        return job_from_json(job_id, json.loads(text), digest)
    except _UNREADABLE as exc:
        detail = " ".join(f"{type(exc).__name__}: {exc}".split()).rstrip(":")
        raise CorruptJobError(
            f"job {job_id!r} in the store cannot be read ({detail[:200]}); "
            "'yamlcron apply' writes it again"
        ) from None


def intact(text: str, digest: str) -> bool:
    """Whether a job row's spec is the text its digest was taken of, as written."""
    return hashlib.sha256(text.encode()).hexdigest() == digest


def stored_job_from_row(row: tuple[Any, ...]) -> tuple[str, StoredJob]:
    """A row of ``JOB_COLUMNS`` as its id and ``StoredJob`` (its spec parsed when read)."""
    job_id, digest, spec, next_at, anchor, paused, last_status = row
    return job_id, StoredJob(
        # A damaged row matches no manifest's digest: a plan rewrites it.
        digest=digest if intact(spec, digest) else "",
        # Not through the store's cache: listing every job must not keep every job in memory.
        read_spec=partial(parse_spec, job_id, spec, digest),
        next_run_at=moment(next_at),
        anchor=from_micros(anchor),
        paused_override=None if paused is None else bool(paused),
        last_status=last_status,
    )


def applied_row(record: AppliedManifest) -> tuple[Any, ...]:
    """An apply record as a row of ``APPLIED_COLUMNS``."""
    notify = None if record.notify is None else [notify_to_json(n) for n in record.notify]
    return (
        record.digest,
        record.path,
        to_micros(record.applied_at),
        record.commit,
        record.rules,
        None if notify is None else json.dumps(notify),
    )


def applied_from_row(row: tuple[Any, ...]) -> AppliedManifest:
    """A row of ``APPLIED_COLUMNS`` as the apply record it was written from."""
    digest, path, applied_at, commit, rules, notify_text = row
    notify = None if notify_text is None else json.loads(notify_text)
    return AppliedManifest(
        digest=digest,
        path=path,
        applied_at=from_micros(applied_at),
        commit=commit,
        rules=rules,
        notify=None if notify is None else tuple(map(notify_from_json, notify)),
    )


def queue_row(item: Queued) -> tuple[Any, ...]:
    """A queued fire as a row of ``QUEUE_COLUMNS``."""
    return (
        item.job_id,
        to_micros(item.due_at),
        to_micros(item.scheduled_at),
        item.attempt,
        item.reason,
        item.cause_run_id,
    )


def run_from_row(row: tuple[Any, ...]) -> Run:
    """A row of ``RUN_COLUMNS`` as a ``Run``."""
    (
        run_id,
        job_id,
        scheduled,
        attempt,
        status,
        started,
        finished,
        exit_code,
        result,
        error,
        output,
        node,
        cause,
        digest,
        commit,
    ) = row
    return Run(
        id=run_id,
        job_id=job_id,
        scheduled_at=from_micros(scheduled),
        attempt=attempt,
        status=RunStatus(status),
        started_at=moment(started),
        finished_at=moment(finished),
        exit_code=exit_code,
        result=None if result is None else json.loads(result),
        error=None if error is None else RunError.from_json(json.loads(error)),
        output=output or "",
        node=node or "",
        cause_run_id=cause,
        manifest_digest=digest,
        manifest_commit=commit,
    )
