"""Callables for examples/jobs.yaml: the manifest's folder is first on sys.path."""

from __future__ import annotations


def tidy(days: int, **context: str) -> dict[str, object]:
    """Pretend to delete files older than ``days``; the return value is the run's result."""
    return {"deleted": 0, "older_than_days": days, "job": context.get("YAMLCRON_JOB_ID")}
