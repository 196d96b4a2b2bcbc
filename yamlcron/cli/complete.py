"""Shell completion of job ids, read from the manifest the command line names (or jobs.yaml).

click completes commands and options itself (``_YAMLCRON_COMPLETE=bash_source yamlcron``);
this adds the ``JOB`` arguments. A completion never fails: a manifest that is missing or
unreadable completes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import click


def job_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """The manifest's job ids that start with ``incomplete``, by a cheap read of its keys."""
    import yaml  # only when the shell asks: --help and validate stay light

    given = ctx.params.get("manifest_path")
    if isinstance(given, tuple):
        given = given[0] if given else None
    path = Path(given or os.environ.get("YAMLCRON_FILE") or "jobs.yaml")
    try:
        jobs = yaml.safe_load(path.read_text()).get("jobs")
        ids = [str(job_id) for job_id in jobs] if isinstance(jobs, dict) else []
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError):
        return []
    return sorted(i for i in ids if i.startswith(incomplete))
