"""The validation boundary: manifest text in, a frozen ``Manifest`` out, or every problem at once.

The steps, each reporting ``FILE:LINE:COL: PATH: message`` at the offending key or value:
safe YAML (``yamldoc``), the JSON Schema in ``schemas/jobs.schema.json``, then the checks a
schema cannot express (cron syntax, time zones, datetimes, ``after`` targets and cycles,
``${VAR}`` templates, the installed executors and notifiers), in one walk over the jobs.
The values those checks parse (durations, datetimes, zones) are handed on: while no problem
has been found, each job is turned into a ``JobSpec`` and its canonical form by the job
codec (``canonical.py``) from them, parsing nothing again; nothing past this module
validates again.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from yamlcron.canonical import (
    DURATIONS,
    Parsed,
    digest_of,
    executor_of,
    job_from_manifest,
    notify_from_manifest,
)
from yamlcron.cronexpr import check_cron
from yamlcron.durations import DurationRangeError, parse_duration
from yamlcron.errors import Issue, ManifestError, YamlcronError
from yamlcron.executorspec import JobExecutorCheck, check_settings, check_task_run
from yamlcron.gitsource import source_commit
from yamlcron.manifestfile import MAX_BYTES, read_manifest_file
from yamlcron.model import Components, JobSpec, Manifest
from yamlcron.schema import Path_, core_schema, did_you_mean, option_issues, schema_issues
from yamlcron.templates import stray
from yamlcron.triggers import zone
from yamlcron.yamldoc import Document, dotted, not_a_manifest, read_document

#: The operating system ends an argv, environment or path string at its first NUL.
_NUL = "a NUL byte (\\0) cannot be passed to a process"


def load_manifest(path: Path, components: Components | None = None) -> Manifest:
    """Read and validate the manifest at ``path``.

    Raises:
        ManifestError: with every problem found, each located.
        YamlcronError: the file cannot be read at all.
    """
    file = str(path)
    data = read_manifest_file(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        message = f"not UTF-8 text (byte 0x{data[exc.start]:02x}); a manifest is UTF-8 YAML"
        raise ManifestError([Issue(file, line, column, "", message)]) from None
    with _collector_paused():
        return _parse(text, path, components, _sha256(data), source_commit(path))


def file_digest(path: Path) -> str | None:
    """A manifest file's identity: SHA-256 of its bytes (None while it cannot be read).

    The same digest an apply records, so the watcher and the re-apply shortcut compare
    like with like, byte-order mark and all.
    """
    try:
        return _sha256(read_manifest_file(path))
    except YamlcronError:
        return None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_manifest(text: str, path: Path, components: Components | None = None) -> Manifest:
    """Validate manifest ``text`` as if read from ``path`` (which locates runs and errors).

    ``components`` are the installed executors and notifiers: names are checked against
    them and notifier options against their schemas. None skips those checks (for tools
    that read a manifest without running it).
    """
    with _collector_paused():
        return _parse(text, path, components, _sha256(text.encode()), None)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a manifest is parsed.

    A parse allocates hundreds of thousands of containers that all stay alive, and each
    burst of allocations made the collector scan them again: a third of the time of a
    10,000-job parse. Reference counting frees everything as usual meanwhile.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse(
    text: str, path: Path, components: Components | None, digest: str, commit: str | None
) -> Manifest:
    file = str(path)
    if len(text) > MAX_BYTES:
        raise ManifestError([Issue(file, 1, 1, "", f"the manifest is over {MAX_BYTES >> 20} MiB")])
    doc = read_document(text, file)
    if doc.root is not None and _unlike_a_manifest(doc):
        raise ManifestError([not_a_manifest(file, doc.root, "a mapping of other keys")])
    issues = schema_issues(doc)
    checker = _Checker(doc, components, build=not issues)
    checker.check()
    issues.extend(checker.issues)
    if issues:
        raise ManifestError(issues)
    notify = tuple(notify_from_manifest(n) for n in doc.data.get("notify", []))
    rules = None if components is None else rules_digest(components)
    return Manifest(
        path=path, jobs=checker.jobs, notify=notify, digest=digest, commit=commit, rules=rules
    )


def _unlike_a_manifest(doc: Document) -> bool:
    """Whether no top-level key is a manifest's, nor close to one (a typo of ``version``)."""
    known = list(core_schema()["properties"])
    return not any(k in known or did_you_mean(k, known) for k in doc.data)


def rules_digest(components: Components) -> str:
    """What a manifest was validated by: this yamlcron, its schema, the installed plugins.

    An apply records it; while it and the manifest's bytes are unchanged, the manifest is
    known valid and unchanged without reading it again (see ``reconcile.current_record``).
    """
    from yamlcron import __version__

    options = {name: components.notifiers[name] for name in sorted(components.notifiers)}
    rules = [__version__, core_schema(), sorted(components.executors), options]
    if components.executor_options:  # absent without such executors: older records hold
        rules.append(
            {n: components.executor_options[n] for n in sorted(components.executor_options)}
        )
        rules.append(sorted(components.remote))
    return digest_of(rules)


# -- checks a schema cannot express ---------------------------------------------------------


class _Checker:
    """The checks a schema cannot express, in one walk over the jobs.

    Each job is checked and, while no issue has been found (``build``), turned into its
    ``JobSpec`` from the values its checks parsed (``Parsed``): nothing is parsed twice.
    """

    def __init__(self, doc: Document, components: Components | None, *, build: bool) -> None:
        self.doc = doc
        self.components = components
        self.build = build
        self.issues: list[Issue] = []
        self.parsed = Parsed()
        self.jobs: dict[str, JobSpec] = {}
        self.upstream: dict[str, str] = {}  # job id -> the job it runs after
        defaults = doc.data.get("defaults")
        self.defaults: dict[str, Any] = defaults if isinstance(defaults, dict) else {}

    def fail(self, path: Path_, message: str, *, key: bool = False) -> None:
        line, column = self.doc.locate(path, key=key)
        self.issues.append(Issue(self.doc.file, line, column, dotted(path), message))

    def check(self) -> None:
        jobs = self.doc.data.get("jobs")
        jobs = jobs if isinstance(jobs, dict) else {}
        tz_name = self.defaults.get("timezone", "UTC")
        if isinstance(tz_name, str):
            self._zone(("defaults", "timezone"), tz_name)
        self.check_durations(("defaults",), self.defaults)
        if self.components is not None:
            self.check_defaults_components(self.components)
        for job_id, job in jobs.items():
            if isinstance(job, dict):
                self.check_job(str(job_id), job, jobs)
                if self.build and not self.issues:
                    self.jobs[job_id] = job_from_manifest(
                        job_id, job, self.defaults, self.parsed, self.doc.data.get("executors")
                    )
        self.check_cycles()

    def check_job(self, job_id: str, job: dict[str, Any], jobs: Mapping[str, Any]) -> None:
        base: Path_ = ("jobs", job_id)
        trigger = job.get("trigger")
        tz: tzinfo | None = None
        if isinstance(trigger, dict):
            tz_name = trigger.get("timezone", self.defaults.get("timezone", "UTC"))
            if isinstance(tz_name, str):
                self.parsed.zones[job_id] = tz_name
                where = (*base, "trigger", "timezone") if "timezone" in trigger else ("defaults",)
                tz = self._zone(where, tz_name) if where[0] == "jobs" else _try_zone(tz_name)
        self.check_durations(base, job)  # first: the trigger's checks use its interval
        if isinstance(trigger, dict):
            self.check_trigger((*base, "trigger"), trigger, tz, job_id, jobs)
        run = job.get("run")
        if isinstance(run, dict):
            for key in ("env", "command", "cwd"):
                self.check_templates((*base, "run", key), run.get(key))
            for key in ("env", "command", "shell", "cwd", "call", "task"):
                self.check_no_nul((*base, "run", key), run.get(key))
        check_task_run(self.fail, base, job, self.defaults)
        if self.components is not None:
            self.check_job_components(job_id, job, self.components)

    def check_durations(self, base: Path_, owner: dict[str, Any]) -> None:
        """The durations the schema passed that yamlcron cannot keep (under 1 ms, say)."""
        for relative in DURATIONS:
            value: Any = owner
            for key in relative:
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, int | str) and not isinstance(value, bool):
                try:
                    self.parsed.seconds[(*base, *relative)] = parse_duration(value)
                except DurationRangeError as exc:
                    self.fail((*base, *relative), str(exc))
                except ValueError:
                    pass  # not a duration at all: the schema has reported it

    def _zone(self, path: Path_, name: str) -> tzinfo | None:
        try:
            return zone(name)
        except ValueError as exc:
            self.fail(path, str(exc))
            return None

    def check_trigger(
        self,
        path: Path_,
        trigger: dict[str, Any],
        tz: tzinfo | None,
        job_id: str,
        jobs: Mapping[str, Any],
    ) -> None:
        cron = trigger.get("cron")
        if isinstance(cron, str):
            try:
                check_cron(cron)
            except ValueError as exc:
                self.fail((*path, "cron"), str(exc))
        interval = self.parsed.seconds.get((*path, "interval"))
        if interval is not None and interval <= 0:
            self.fail((*path, "interval"), "an interval must be longer than zero")
        if tz is not None:
            self.check_moments(path, trigger, tz)
        if "date" in trigger:
            for key in ("start", "end"):
                if key in trigger:
                    message = f"a date trigger fires once and takes no '{key}'"
                    self.fail(
                        (*path, key), f"{message} (it bounds cron and interval triggers)", key=True
                    )
        after = trigger.get("after")
        if isinstance(after, str):
            self.check_after((*path, "after"), after, job_id, jobs)

    def check_moments(self, path: Path_, trigger: dict[str, Any], tz: tzinfo) -> None:
        """``date``, ``start`` and ``end``, each parsed once and kept in ``parsed``."""
        moments = {}
        for key in ("date", "start", "end"):
            value = trigger.get(key)
            if isinstance(value, str):
                moment = self._moment((*path, key), value, tz)
                if moment is not None:
                    moments[key] = self.parsed.moments[(*path, key)] = moment
        if "start" in moments and "end" in moments and moments["end"] <= moments["start"]:
            self.fail((*path, "end"), "end must come after start")

    def check_after(self, path: Path_, after: str, job_id: str, jobs: Mapping[str, Any]) -> None:
        """The job a workflow step runs after: another job of this manifest."""
        if after in jobs:
            self.upstream[job_id] = after  # for check_cycles, once every job is seen
        if after == job_id:
            self.fail(path, "a job cannot run after itself")
        elif after not in jobs:
            hint = did_you_mean(after, list(jobs))
            self.fail(path, f"no job '{after}' in this manifest{hint}")

    def _moment(self, path: Path_, value: str, tz: tzinfo) -> datetime | None:
        try:
            moment = parse_datetime(value, tz)
            moment.astimezone(UTC)
        except ValueError:
            self.fail(path, f"{value!r} is not a valid date or datetime")
        except OverflowError:
            # A schedule simply ends past the year 9999; a datetime the manifest names must exist.
            self.fail(
                path, f"{value!r} is outside the years 1 to 9999 in UTC, the span yamlcron keeps"
            )
        else:
            return moment
        return None

    def check_templates(self, path: Path_, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                self.check_templates((*path, key), item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.check_templates((*path, index), item)
        elif isinstance(value, str) and stray(value):
            self.fail(path, "'${' starts no ${VAR} or ${VAR:-default}; write $${ for a literal")

    def check_no_nul(self, path: Path_, value: Any) -> None:
        """What becomes a process's argv, environment or folder holds no NUL byte.

        The operating system ends each of those strings at the first NUL, so Python refuses
        it when the run starts: found here, it is an error at its line, not a failed run.
        """
        if isinstance(value, dict):
            for key, item in value.items():
                if "\0" in key:
                    self.fail((*path, key), _NUL, key=True)
                self.check_no_nul((*path, key), item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.check_no_nul((*path, index), item)
        elif isinstance(value, str) and "\0" in value:
            self.fail(path, _NUL)

    def check_defaults_components(self, components: Components) -> None:
        """``defaults.executor`` and the top-level and default notifiers."""
        executor = self.defaults.get("executor")
        if isinstance(executor, str | dict):
            name = executor_of(executor)[0]
            where = ("defaults", "executor", *(("via",) if isinstance(executor, dict) else ()))
            if name not in components.executors:
                self.unknown(where, "executor", name, components.executors)
        self.issues.extend(check_settings(self.fail, self.doc, components))
        self.check_notifiers(("notify",), self.doc.data.get("notify"), components)
        self.check_notifiers(("defaults", "notify"), self.defaults.get("notify"), components)

    def check_job_components(
        self, job_id: str, job: dict[str, Any], components: Components
    ) -> None:
        """A job's executor (named, or its run kind's default) and notifiers."""
        self.check_notifiers(("jobs", job_id, "notify"), job.get("notify"), components)
        self.issues.extend(
            JobExecutorCheck(self.fail, self.doc, self.defaults, components)(job_id, job)
        )

    def check_notifiers(self, base: Path_, entries: Any, components: Components) -> None:
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(entry, dict):
                self.check_notifier((*base, index), entry, components)

    def check_notifier(self, path: Path_, entry: dict[str, Any], components: Components) -> None:
        via = entry.get("via", "log")
        if not isinstance(via, str):
            return
        schema = components.notifiers.get(via)
        if schema is None:
            self.unknown((*path, "via"), "notifier", via, components.notifiers)
            return
        options = {k: v for k, v in entry.items() if k not in ("via", "on")}
        self.issues.extend(option_issues(self.doc, path, schema, options))

    def unknown(self, path: Path_, kind: str, name: str, known: Collection[str]) -> None:
        hint = did_you_mean(name, list(known))
        installed = ", ".join(sorted(known)) or "none"
        self.fail(path, f"unknown {kind} '{name}'{hint}; installed: {installed}")

    def check_cycles(self) -> None:
        upstream = self.upstream
        reported: set[str] = set()
        for start in upstream:
            chain = [start]
            while chain[-1] in upstream and upstream[chain[-1]] not in chain:
                chain.append(upstream[chain[-1]])
            if chain[-1] in upstream and upstream[chain[-1]] == start and start not in reported:
                reported.update(chain)
                cycle = " -> ".join([*chain, start])
                self.fail(("jobs", start, "trigger", "after"), f"'after' makes a cycle: {cycle}")


def _try_zone(name: str) -> tzinfo | None:
    try:
        return zone(name)
    except ValueError:
        return None


def parse_datetime(text: str, tz: tzinfo) -> datetime:
    """ISO 8601 text to an aware datetime; without an offset it is read in ``tz``."""
    value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    return value if value.tzinfo else value.replace(tzinfo=tz)
