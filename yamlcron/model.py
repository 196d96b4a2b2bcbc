"""The job values that cross module boundaries: specs, manifests, plans.

Everything here is frozen. A ``JobSpec`` is built once, at the validation boundary
(``manifest.py``) or from the store's JSON, by the job codec in ``canonical.py``; it carries
its canonical JSON form and that form's digest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from yamlcron.durations import format_duration

TriggerKind = Literal["cron", "interval", "date", "after"]
RunKind = Literal["command", "shell", "call", "task"]
When = Literal["success", "failure", "always"]

#: Order in which the kinds are looked for in a trigger or run mapping.
TRIGGER_KINDS: tuple[TriggerKind, ...] = ("cron", "interval", "date", "after")
RUN_KINDS: tuple[RunKind, ...] = ("command", "shell", "call", "task")
#: A run's ``env`` when the manifest gives none; told apart from ``env: {}`` by identity,
#: because the canonical form (and so the digest) keeps whether ``env`` was written.
NO_ENV: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerSpec:
    """When a job fires: exactly one of ``cron``, ``interval``, ``date`` or ``after`` is set."""

    kind: TriggerKind
    cron: str | None = None
    interval: float | None = None
    date: datetime | None = None
    after: str | None = None
    when: When = "success"
    timezone: str = "UTC"
    jitter: float = 0.0
    start: datetime | None = None
    end: datetime | None = None

    def describe(self) -> str:
        """One line for listings: ``cron 0 3 * * * (Europe/Berlin)``."""
        if self.kind == "after":
            return f"after {self.after} ({self.when})"
        canonical_value = {
            "cron": self.cron,
            "interval": None if self.interval is None else format_duration(self.interval),
            "date": None if self.date is None else self.date.isoformat(),
        }[self.kind]
        return f"{self.kind} {canonical_value} ({self.timezone})"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSpec:
    """What a job runs: an argv, a ``shell`` script, a Python ``call``, or a ``task``.

    A ``task`` is sent by name to a distributed engine: a remote run (``yamlcron.remote``).
    """

    kind: RunKind
    command: tuple[str, ...] = ()
    shell: str | None = None
    call: str | None = None
    task: str | None = None
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=lambda: NO_ENV)
    cwd: str | None = None
    timeout: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How failed runs are tried again: ``attempts`` counts the first try."""

    attempts: int = 1
    delay: float = 10.0
    backoff: float = 2.0
    max_delay: float = 600.0

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before try number ``attempt`` (2 for the first retry)."""
        return min(self.delay * self.backoff ** max(attempt - 2, 0), self.max_delay)


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifySpec:
    """One ``notify:`` entry: a notifier by name, the event kinds it hears, its options."""

    via: str
    on: tuple[str, ...]
    options: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    """A job as declared, defaults applied. ``canonical`` is its JSON form; ``digest`` its hash."""

    id: str
    trigger: TriggerSpec
    run: RunSpec
    executor: str
    coalesce: bool
    misfire_grace_time: float | None
    max_instances: int
    retry: RetryPolicy
    paused: bool
    notify: tuple[NotifySpec, ...]
    history: int
    description: str | None
    tags: tuple[str, ...] | None  # None when not given: ``tags: []`` is canonical too
    canonical: Mapping[str, Any] = field(compare=False, repr=False)
    digest: str = field(compare=False, repr=False)
    #: ``executor: {via: NAME, ...options}``'s options over the manifest's ``executors:``
    #: settings for that executor, as written: ``${VAR}`` is expanded at run time only.
    executor_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def remote(self) -> bool:
        """Whether a run of this job is handed to another engine (a ``task`` run)."""
        return self.run.kind == "task"


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """A validated manifest: its jobs in file order, its global notifiers and its identity."""

    path: Path
    jobs: Mapping[str, JobSpec]
    notify: tuple[NotifySpec, ...]
    digest: str
    commit: str | None = None
    rules: str | None = None  # digest of the rules it was validated by (see manifest.rules_digest)


@dataclass(frozen=True, slots=True, kw_only=True)
class Components:
    """What installed plugins provide for a manifest to name, notifiers with options schemas.

    ``executor_options`` holds the options schema of each executor that declares one;
    ``remote`` names the executors that run ``task`` runs (``yamlcron.remote``).
    """

    executors: frozenset[str]
    notifiers: Mapping[str, Mapping[str, Any]]
    executor_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    remote: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True)
class StoredJob:
    """A job as the store holds it: the applied spec and its runtime state.

    The spec is built on first use from ``read_spec``: a plan over ten thousand stored
    jobs compares digests and parses only the jobs that changed.
    """

    digest: str
    read_spec: Callable[[], JobSpec] = field(repr=False, compare=False)  # the digest names it
    next_run_at: datetime | None
    anchor: datetime
    paused_override: bool | None = None
    last_status: str | None = None

    @classmethod
    def of(cls, spec: JobSpec, **state: Any) -> StoredJob:
        """A stored job whose spec is at hand already."""
        return cls(digest=spec.digest, read_spec=lambda: spec, **state)

    @cached_property
    def spec(self) -> JobSpec:
        """The applied spec."""
        return self.read_spec()

    @property
    def paused(self) -> bool:
        """Paused by the manifest, unless ``pause``/``resume`` overrode it at run time."""
        return self.spec.paused if self.paused_override is None else self.paused_override


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One changed field of a job, by dotted path (``trigger.cron``)."""

    path: str
    old: Any
    new: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What ``apply`` would do, as values: pure output of ``reconcile.plan``."""

    add: tuple[JobSpec, ...]
    change: tuple[tuple[JobSpec, tuple[FieldChange, ...]], ...]
    remove: tuple[str, ...]
    unchanged: int
    warnings: tuple[str, ...] = ()
    drift: tuple[str, ...] = ()  # runtime state the manifest does not say (pause overrides)

    @property
    def is_empty(self) -> bool:
        """True when applying would change no job."""
        return not (self.add or self.change or self.remove)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobWrite:
    """A job row to insert or update in one apply; ``reschedule`` replaces its next fire time."""

    spec: JobSpec
    next_run_at: datetime | None
    reschedule: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AppliedManifest:
    """The record of an apply: which manifest content (and git commit), from where, when."""

    digest: str
    path: str
    applied_at: datetime
    commit: str | None = None
    rules: str | None = None
    #: The manifest's own notifiers; None in a record from before the store kept them.
    notify: tuple[NotifySpec, ...] | None = None


@dataclass(frozen=True)
class ReloadError:
    """A reload that kept the running manifest: when, and why (every problem, located)."""

    at: datetime
    message: str


def label(digest: str | None, commit: str | None) -> str:
    """``3f9a1c2e`` or ``3f9a1c2e@1a2b3c4``: the manifest a run came from, in short."""
    if digest is None:
        return "-"
    short = digest[:8]
    return (
        f"{short}@{commit[:7]}{'-dirty' if commit.endswith('-dirty') else ''}" if commit else short
    )
