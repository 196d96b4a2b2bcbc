"""The tables, written once for every dialect, as the migrations that build them.

A dialect differs from another only in a few words of its DDL (``DDLWords``): the type of
a 64-bit integer and how a primary key counts up by itself. Everything else, every table,
column, index and migration step, is the same text, so a new column is one edit here and
one migration for every backend.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DDLWords:
    """What a dialect's DDL says differently.

    ``bigint``: a 64-bit integer column (instants in microseconds, row ids);
    ``serial``: a primary key whose values the database assigns, growing.
    """

    bigint: str
    serial: str


#: Migration ``n`` takes a store from version ``n`` to ``n + 1``; ``{bigint}`` and
#: ``{serial}`` are a dialect's ``DDLWords``. Released scripts never change: a store made
#: by an older yamlcron runs exactly the steps after its version.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        digest TEXT NOT NULL,
        next_run_at {bigint},
        anchor {bigint} NOT NULL,
        paused_override INTEGER,
        upstream TEXT,
        last_status TEXT,
        last_final TEXT,
        created_at {bigint} NOT NULL,
        updated_at {bigint} NOT NULL
    );
    CREATE INDEX jobs_due ON jobs (next_run_at) WHERE next_run_at IS NOT NULL;
    CREATE INDEX jobs_upstream ON jobs (upstream) WHERE upstream IS NOT NULL;
    CREATE TABLE runs (
        id {serial},
        job_id TEXT NOT NULL,
        scheduled_at {bigint} NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 1,
        status TEXT NOT NULL,
        started_at {bigint},
        finished_at {bigint},
        exit_code INTEGER,
        result TEXT,
        error TEXT,
        output TEXT,
        node TEXT,
        manifest_digest TEXT,
        manifest_commit TEXT,
        cause_run_id {bigint},
        UNIQUE (job_id, scheduled_at, attempt)
    );
    CREATE INDEX runs_by_job ON runs (job_id, id);
    CREATE INDEX runs_running ON runs (status) WHERE status = 'running';
    CREATE TABLE queue (
        id {serial},
        job_id TEXT NOT NULL,
        due_at {bigint} NOT NULL,
        scheduled_at {bigint} NOT NULL,
        attempt INTEGER NOT NULL,
        reason TEXT NOT NULL,
        cause_run_id {bigint}
    );
    CREATE INDEX queue_due ON queue (due_at);
    CREATE TABLE applies (
        id {serial},
        digest TEXT NOT NULL,
        path TEXT NOT NULL,
        applied_at {bigint} NOT NULL,
        commit_id TEXT,
        rules TEXT
    );
    """,
    """
    CREATE TABLE nodes (
        token {serial},
        name TEXT NOT NULL,
        started_at {bigint} NOT NULL,
        heartbeat_at {bigint} NOT NULL,
        expires_at {bigint} NOT NULL,
        reaped_at {bigint}
    );
    CREATE INDEX nodes_live ON nodes (expires_at) WHERE reaped_at IS NULL;
    ALTER TABLE runs ADD COLUMN lease {bigint};
    ALTER TABLE runs ADD COLUMN recorded_at {bigint};
    DROP INDEX runs_running;
    CREATE INDEX runs_running ON runs (job_id) WHERE status = 'running';
    """,
    # The manifest's own notifiers, so a start that finds it unchanged need not read it.
    "ALTER TABLE applies ADD COLUMN notify TEXT",
    # The process group a run leads, and what names it against pid reuse (boot id and the
    # leader's start time), so that recovery can stop it before the run is retried.
    """
    ALTER TABLE runs ADD COLUMN process_group {bigint};
    ALTER TABLE runs ADD COLUMN process_identity TEXT;
    """,
    # A remote run's reference (``yamlcron.remote``), written when it is claimed, and
    # whether it reached its engine: a scheduler that restarts adopts such runs.
    """
    ALTER TABLE runs ADD COLUMN remote TEXT;
    ALTER TABLE runs ADD COLUMN remote_sent INTEGER;
    CREATE INDEX runs_remote ON runs (lease) WHERE status = 'running' AND remote IS NOT NULL;
    """,
)
#: The version ``migrations`` brings a store to: one per script.
SCHEMA_VERSION = len(_MIGRATIONS)


def migrations(words: DDLWords) -> tuple[str, ...]:
    """The migration scripts in a dialect's words; script ``n`` goes from version ``n``."""
    return tuple(script.format(bigint=words.bigint, serial=words.serial) for script in _MIGRATIONS)
