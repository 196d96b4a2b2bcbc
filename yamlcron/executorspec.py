"""A job's executor as the manifest names it, and the checks of its options.

``executor: NAME`` or ``executor: {via: NAME, ...options}``; the manifest's top-level
``executors: {NAME: {...settings}}`` go under every job's options for that executor. An
executor plugin declares the JSON Schema of its options (``options_schema``, as a notifier
does) and they are checked against it with located errors. A ``task`` run needs an
executor that runs tasks (a remote one, ``yamlcron.remote``); no other run may use one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from yamlcron.canonical import DEFAULT_EXECUTORS, executor_of
from yamlcron.errors import Issue
from yamlcron.model import RUN_KINDS, Components
from yamlcron.schema import Path_, did_you_mean, option_issues
from yamlcron.templates import stray
from yamlcron.yamldoc import Document

Fail = Callable[..., None]  # the checker's fail(path, message, key=False)


def check_task_run(
    fail: Fail, base: Path_, job: Mapping[str, Any], defaults: Mapping[str, Any]
) -> None:
    """A ``task`` run names its executor; ``args``/``kwargs`` go with ``call`` or ``task`` only."""
    run = job.get("run")
    if not isinstance(run, dict):
        return
    for key in ("args", "kwargs"):
        if key in run and not ("call" in run or "task" in run):
            fail((*base, "run", key), f"'{key}' goes only with 'call' or 'task'", key=True)
    if "task" in run and "executor" not in job and "executor" not in defaults:
        fail(
            (*base, "run", "task"),
            "a task run needs an executor that runs tasks (such as executor: celery)",
        )


def check_settings(fail: Fail, doc: Document, components: Components) -> list[Issue]:
    """The top-level ``executors:`` mapping: installed executors, options they declare."""
    settings = doc.data.get("executors")
    issues: list[Issue] = []
    for name, values in (settings if isinstance(settings, dict) else {}).items():
        where: Path_ = ("executors", name)
        if name not in components.executors:
            _unknown(fail, where, str(name), components, key=True)
            continue
        if isinstance(values, dict):
            check_templates(fail, where, values)
            schema = components.executor_options.get(name)
            if schema is None and values:
                fail(where, f"executor '{name}' takes no settings", key=True)
            elif schema is not None:  # partial: a job may give the required ones itself
                partial = {k: v for k, v in schema.items() if k != "required"}
                issues += option_issues(doc, where, partial, values)
    return issues


@dataclass(frozen=True, slots=True)
class JobExecutorCheck:
    """Checks each job's executor against the installed ones: name, kind of run, options."""

    fail: Fail
    doc: Document
    defaults: Mapping[str, Any]
    components: Components

    def __call__(self, job_id: str, job: Mapping[str, Any]) -> list[Issue]:
        """A job's executor (named, from defaults, or its run kind's default) and its options."""
        run = job.get("run")
        kind = next((k for k in RUN_KINDS if isinstance(run, dict) and k in run), None)
        chosen = _chosen(job_id, job, self.defaults, kind)
        if chosen is None:
            return []
        value, where = chosen
        name, options = executor_of(value)
        at: Path_ = (*where, "via") if isinstance(value, dict) else where
        if not self.fits(at, where, name, kind):
            return []
        if where[0] != "jobs" and job_id != _first(self.doc):
            return []  # defaults' own options are checked once, with the first job
        schema = self.components.executor_options.get(name)
        if isinstance(value, dict):
            check_templates(self.fail, where, options)
            if schema is None and options:
                self.fail(where, f"executor '{name}' takes no options", key=True)
        if schema is None:
            return []
        settings = self.doc.data.get("executors")
        shared = settings.get(name) if isinstance(settings, dict) else None
        known = schema.get("properties", {})  # an unknown setting is reported at executors:
        merged = {
            **{k: v for k, v in (shared if isinstance(shared, dict) else {}).items() if k in known},
            **options,
        }
        return option_issues(self.doc, where, schema, merged)

    def fits(self, at: Path_, where: Path_, name: str, kind: str | None) -> bool:
        """Whether executor ``name`` is installed and runs runs of this ``kind``."""
        remote = self.components.remote
        if name not in self.components.executors:
            if where[0] == "jobs":  # a wrong defaults.executor is reported once, by defaults
                _unknown(self.fail, at, name, self.components)
            return False
        if kind == "task" and name not in remote:
            runs_tasks = ", ".join(sorted(remote)) or "none installed"
            self.fail(
                at, f"executor '{name}' does not run task runs; use one that does ({runs_tasks})"
            )
            return False
        if kind is not None and kind != "task" and name in remote:
            self.fail(at, f"executor '{name}' runs task runs only (run: {{task: ...}})")
            return False
        return True


def _chosen(
    job_id: str, job: Mapping[str, Any], defaults: Mapping[str, Any], kind: str | None
) -> tuple[str | dict[str, Any], Path_] | None:
    """The executor a job names and where it is written; None when there is nothing to check."""
    where: Path_
    if "executor" in job:
        value, where = job["executor"], ("jobs", job_id, "executor")
    elif "executor" in defaults:
        value, where = defaults["executor"], ("defaults", "executor")
    elif kind is not None and kind in DEFAULT_EXECUTORS:
        value, where = DEFAULT_EXECUTORS[kind], ("jobs", job_id, "run")
    else:
        return None  # a task run without executor: check_task_run says so
    return (value, where) if isinstance(value, str | dict) else None  # else the schema said


def _first(doc: Document) -> str | None:
    jobs = doc.data.get("jobs")
    return next(iter(jobs), None) if isinstance(jobs, dict) else None


def check_templates(fail: Fail, path: Path_, value: Any) -> None:
    """``${`` that starts no ``${VAR}`` in option strings (expanded at run time)."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_templates(fail, (*path, key), item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_templates(fail, (*path, index), item)
    elif isinstance(value, str) and stray(value):
        fail(path, "'${' starts no ${VAR} or ${VAR:-default}; write $${ for a literal")


def _unknown(
    fail: Fail, path: Path_, name: str, components: Components, *, key: bool = False
) -> None:
    known = components.executors
    hint = did_you_mean(name, list(known))
    installed = ", ".join(sorted(known)) or "none"
    fail(path, f"unknown executor '{name}'{hint}; installed: {installed}", key=key)
