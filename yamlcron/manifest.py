"""The validation boundary: manifest text in, a frozen ``Manifest`` out, or every problem at once.

The steps, each reporting ``FILE:LINE:COL: PATH: message`` at the offending key or value:
safe YAML (``yamldoc``), the JSON Schema in ``schemas/jobs.schema.json``, then the checks a
schema cannot express (cron syntax, time zones, datetimes, ``after`` targets and cycles,
``${VAR}`` templates). Only then are defaults merged and each job turned into its canonical
form and a ``JobSpec``; nothing past this module validates again.
"""

from __future__ import annotations

import gc
import hashlib
import json
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fastjsonschema

from yamlcron.durations import DurationRangeError, format_duration, parse_duration
from yamlcron.errors import Issue, ManifestError, YamlcronError
from yamlcron.gitsource import source_commit
from yamlcron.model import (
    RUN_KINDS,
    TRIGGER_KINDS,
    Components,
    JobSpec,
    Manifest,
    NotifySpec,
    digest_of,
)
from yamlcron.schemaerrors import Path_, did_you_mean, issues_of
from yamlcron.templates import stray
from yamlcron.triggers import check_cron, zone
from yamlcron.yamldoc import Document, dotted, read_document

if TYPE_CHECKING:
    import jsonschema

#: Larger manifests are refused before they are read (100,000 jobs take about 10 MiB).
MAX_BYTES = 32 * 1024 * 1024

#: What a job gets for a field that neither it nor ``defaults`` sets.
JOB_DEFAULTS: Mapping[str, Any] = {
    "coalesce": True,
    "misfire_grace_time": "60s",
    "max_instances": 1,
    "retry": {"attempts": 1, "delay": "10s", "backoff": 2.0, "max_delay": "10m"},
    "paused": False,
    "notify": [],
    "history": 100,
}
#: The executor a job gets by its run kind when it names none.
DEFAULT_EXECUTORS: Mapping[str, str] = {
    "command": "subprocess",
    "shell": "subprocess",
    "call": "thread",
}
DEFAULT_NOTIFY_ON = ("failure",)
#: Where a job, or ``defaults``, holds a duration (the schema's ``#/$defs/duration``).
_DURATIONS: tuple[tuple[str, ...], ...] = (
    ("trigger", "interval"),
    ("trigger", "jitter"),
    ("run", "timeout"),
    ("misfire_grace_time",),
    ("retry", "delay"),
    ("retry", "max_delay"),
)


@cache
def core_schema() -> dict[str, Any]:
    """The manifest's JSON Schema, as shipped inside the package."""
    text = files("yamlcron.schemas").joinpath("jobs.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> jsonschema.Draft202012Validator:
    # Imported here: jsonschema only explains a manifest the compiled check refused, and
    # importing it costs more than checking a valid manifest (tests/test_startup.py).
    import jsonschema

    return jsonschema.Draft202012Validator(core_schema())


@cache
def _passes_schema() -> Callable[[Any], Any]:
    """The schema compiled to Python by fastjsonschema: a quick yes or no, never the why.

    fastjsonschema knows JSON Schema up to draft 7, so it gets the draft-7 spelling of the
    one 2020-12 keyword the schema uses (``dependentRequired`` was ``dependencies``).
    ``tests/test_manifest.py`` checks that both validators agree on generated manifests.
    """
    return fastjsonschema.compile(_as_draft7(core_schema()))


def _as_draft7(node: Any) -> Any:
    if isinstance(node, list):
        return [_as_draft7(v) for v in node]
    if not isinstance(node, dict):
        return node
    renamed = {"dependentRequired": "dependencies"}
    draft7 = {renamed.get(k, k): _as_draft7(v) for k, v in node.items()}
    if "$schema" in draft7:
        draft7["$schema"] = "http://json-schema.org/draft-07/schema#"
    return draft7


def schema_issues(doc: Document) -> list[Issue]:
    """Every way ``doc`` breaks the schema, located; jsonschema explains what the check found."""
    try:
        _passes_schema()(doc.data)
    except fastjsonschema.JsonSchemaException:
        return [i for error in _validator().iter_errors(doc.data) for i in issues_of(doc, error)]
    return []


def load_manifest(path: Path, components: Components | None = None) -> Manifest:
    """Read and validate the manifest at ``path``.

    Raises:
        ManifestError: with every problem found, each located.
        YamlcronError: the file cannot be read at all.
    """
    file = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            message = (
                f"the manifest is {size / 2**20:.1f} MiB, over the {MAX_BYTES >> 20} MiB limit"
            )
            raise ManifestError([Issue(file, 1, 1, "", message)])
        data = path.read_bytes()
    except OSError as exc:
        raise YamlcronError(f"{file}: cannot read the manifest: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        message = f"not UTF-8 text (byte 0x{data[exc.start]:02x}); a manifest is UTF-8 YAML"
        raise ManifestError([Issue(file, line, column, "", message)]) from None
    manifest = parse_manifest(text, path, components)
    return replace(manifest, digest=_sha256(data), commit=source_commit(path))


def file_digest(path: Path) -> str | None:
    """A manifest file's identity: SHA-256 of its bytes (None while it cannot be read).

    The same digest an apply records, so the watcher and the re-apply shortcut compare
    like with like, byte-order mark and all.
    """
    try:
        return _sha256(path.read_bytes())
    except OSError:
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
        return _parse(text, path, components)


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


def _parse(text: str, path: Path, components: Components | None) -> Manifest:
    file = str(path)
    if len(text) > MAX_BYTES:
        raise ManifestError([Issue(file, 1, 1, "", f"the manifest is over {MAX_BYTES >> 20} MiB")])
    doc = read_document(text, file)
    issues = schema_issues(doc)
    if not isinstance(doc.data, dict):
        raise ManifestError(issues)
    checker = _Checker(doc)
    checker.check_jobs()
    if components is not None:
        checker.check_components(components)
    issues.extend(checker.issues)
    if issues:
        raise ManifestError(issues)
    defaults = doc.data.get("defaults", {})
    jobs = {
        job_id: JobSpec.from_canonical(job_id, canonical_job(job, defaults))
        for job_id, job in doc.data["jobs"].items()
    }
    notify = tuple(NotifySpec.from_canonical(_notify(n)) for n in doc.data.get("notify", []))
    digest = _sha256(text.encode())
    rules = None if components is None else rules_digest(components)
    return Manifest(path=path, jobs=jobs, notify=notify, digest=digest, rules=rules)


def rules_digest(components: Components) -> str:
    """What a manifest was validated by: this yamlcron, its schema, the installed plugins.

    An apply records it; while it and the manifest's bytes are unchanged, the manifest is
    known valid and unchanged without reading it again (see ``reconcile.unchanged``).
    """
    from yamlcron import __version__

    options = {name: components.notifiers[name] for name in sorted(components.notifiers)}
    return digest_of([__version__, core_schema(), sorted(components.executors), options])


# -- checks a schema cannot express ---------------------------------------------------------


class _Checker:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.issues: list[Issue] = []
        self.defaults = doc.data.get("defaults")
        if not isinstance(self.defaults, dict):
            self.defaults = {}

    def fail(self, path: Path_, message: str, *, key: bool = False) -> None:
        line, column = self.doc.locate(path, key=key)
        self.issues.append(Issue(self.doc.file, line, column, dotted(path), message))

    def check_jobs(self) -> None:
        jobs = self.doc.data.get("jobs")
        if not isinstance(jobs, dict):
            return
        tz_name = self.defaults.get("timezone", "UTC")
        if isinstance(tz_name, str):
            self._zone(("defaults", "timezone"), tz_name)
        self.check_durations(("defaults",), self.defaults)
        for job_id, job in jobs.items():
            if isinstance(job, dict):
                self.check_job(str(job_id), job, jobs)
        self.check_cycles(jobs)

    def check_job(self, job_id: str, job: dict[str, Any], jobs: Mapping[str, Any]) -> None:
        base: Path_ = ("jobs", job_id)
        trigger = job.get("trigger")
        tz: tzinfo | None = None
        if isinstance(trigger, dict):
            tz_name = trigger.get("timezone", self.defaults.get("timezone", "UTC"))
            if isinstance(tz_name, str):
                where = (*base, "trigger", "timezone") if "timezone" in trigger else ("defaults",)
                tz = self._zone(where, tz_name) if where[0] == "jobs" else _try_zone(tz_name)
            self.check_trigger((*base, "trigger"), trigger, tz, job_id, jobs)
        run = job.get("run")
        if isinstance(run, dict):
            for key in ("env", "command", "cwd"):
                self.check_templates((*base, "run", key), run.get(key))
        self.check_durations(base, job)

    def check_durations(self, base: Path_, owner: dict[str, Any]) -> None:
        """The durations the schema passed that yamlcron cannot keep (under 1 ms, say)."""
        for relative in _DURATIONS:
            value: Any = owner
            for key in relative:
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, int | str) and not isinstance(value, bool):
                try:
                    parse_duration(value)
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
        interval = trigger.get("interval")
        if isinstance(interval, int | str):
            try:
                if parse_duration(interval) <= 0:
                    self.fail((*path, "interval"), "an interval must be longer than zero")
            except ValueError:
                pass  # the schema has reported it
        moments = {}
        for key in ("date", "start", "end"):
            value = trigger.get(key)
            if isinstance(value, str) and tz is not None:
                moment = self._moment((*path, key), value, tz)
                if moment is not None:
                    moments[key] = moment
        if "date" in trigger:
            for key in ("start", "end"):
                if key in trigger:
                    message = f"a date trigger fires once and takes no '{key}'"
                    self.fail(
                        (*path, key), f"{message} (it bounds cron and interval triggers)", key=True
                    )
        if "start" in moments and "end" in moments and moments["end"] <= moments["start"]:
            self.fail((*path, "end"), "end must come after start")
        after = trigger.get("after")
        if isinstance(after, str):
            if after == job_id:
                self.fail((*path, "after"), "a job cannot run after itself")
            elif after not in jobs:
                hint = did_you_mean(after, list(jobs))
                self.fail((*path, "after"), f"no job '{after}' in this manifest{hint}")

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

    def check_components(self, components: Components) -> None:
        """Executor and notifier names against the installed ones; notifier options."""
        jobs = self.doc.data.get("jobs")
        jobs = jobs if isinstance(jobs, dict) else {}
        executor = self.defaults.get("executor")
        if isinstance(executor, str) and executor not in components.executors:
            self.unknown(("defaults", "executor"), "executor", executor, components.executors)
        for job_id, job in jobs.items():
            if not isinstance(job, dict):
                continue
            run = job.get("run")
            kind = next((k for k in RUN_KINDS if isinstance(run, dict) and k in run), None)
            if "executor" in job:
                name, where = job["executor"], ("jobs", job_id, "executor")
            elif isinstance(executor, str) or kind is None:
                continue  # a wrong defaults.executor is reported once, above
            else:
                name, where = DEFAULT_EXECUTORS[kind], ("jobs", job_id, "run")
            if isinstance(name, str) and name not in components.executors:
                self.unknown(where, "executor", name, components.executors)
        lists: list[tuple[Path_, Any]] = [(("notify",), self.doc.data.get("notify"))]
        lists.append((("defaults", "notify"), self.defaults.get("notify")))
        lists += [
            (("jobs", j, "notify"), job.get("notify"))
            for j, job in jobs.items()
            if isinstance(job, dict)
        ]
        for base, entries in lists:
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
        # jsonschema itself, not the compiled draft-7 check: a plugin's schema may use
        # 2020-12 keywords that fastjsonschema would silently ignore.
        import jsonschema

        for error in jsonschema.Draft202012Validator(schema).iter_errors(options):
            self.issues.extend(issues_of(self.doc, error, path))

    def unknown(self, path: Path_, kind: str, name: str, known: Collection[str]) -> None:
        hint = did_you_mean(name, list(known))
        installed = ", ".join(sorted(known)) or "none"
        self.fail(path, f"unknown {kind} '{name}'{hint}; installed: {installed}")

    def check_cycles(self, jobs: Mapping[str, Any]) -> None:
        upstream = {
            job_id: job["trigger"]["after"]
            for job_id, job in jobs.items()
            if isinstance(job, dict)
            and isinstance(job.get("trigger"), dict)
            and isinstance(job["trigger"].get("after"), str)
            and job["trigger"]["after"] in jobs
        }
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


# -- canonical form -------------------------------------------------------------------------


def canonical_job(job: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The job with defaults applied, durations as text and datetimes with offsets."""
    merged: dict[str, Any] = {**JOB_DEFAULTS}
    for source in (defaults, job):
        for key, value in source.items():
            if key == "retry":
                merged["retry"] = {**merged["retry"], **value}
            elif key != "timezone":
                merged[key] = value
    trigger, run = job["trigger"], job["run"]
    tz_name = trigger.get("timezone", defaults.get("timezone", "UTC"))
    tz = zone(tz_name)
    retry = merged["retry"]
    out: dict[str, Any] = {
        "trigger": _canonical_trigger(trigger, tz_name, tz),
        "run": _canonical_run(run),
        "executor": merged.get("executor", DEFAULT_EXECUTORS[_kind(run, RUN_KINDS)]),
        "coalesce": merged["coalesce"],
        "misfire_grace_time": _duration(merged["misfire_grace_time"]),
        "max_instances": merged["max_instances"],
        "retry": {
            "attempts": retry["attempts"],
            "delay": _duration(retry["delay"]),
            "backoff": float(retry["backoff"]),
            "max_delay": _duration(retry["max_delay"]),
        },
        "paused": merged["paused"],
        "notify": [_notify(n) for n in merged["notify"]],
        "history": merged["history"],
    }
    for key in ("description", "tags"):
        if key in merged:
            out[key] = merged[key]
    return out


def _kind(mapping: Mapping[str, Any], kinds: Sequence[str]) -> str:
    return next(k for k in kinds if k in mapping)


def _duration(value: Any) -> str | None:
    return None if value is None else format_duration(parse_duration(value))


def _canonical_trigger(trigger: Mapping[str, Any], tz_name: str, tz: tzinfo) -> dict[str, Any]:
    kind = _kind(trigger, TRIGGER_KINDS)
    value = trigger[kind]
    out: dict[str, Any] = {}
    if kind == "interval":
        out["interval"] = _duration(value)
    elif kind == "date":
        out["date"] = parse_datetime(value, tz).isoformat()
    elif kind == "after":
        out.update(after=value, when=trigger.get("when", "success"))
    else:
        out["cron"] = " ".join(value.split())
    out["timezone"] = tz_name
    out["jitter"] = _duration(trigger.get("jitter", 0))
    for key in ("start", "end"):
        if key in trigger:
            out[key] = parse_datetime(trigger[key], tz).isoformat()
    return out


def _canonical_run(run: Mapping[str, Any]) -> dict[str, Any]:
    kind = _kind(run, RUN_KINDS)
    out: dict[str, Any] = {kind: run[kind]}
    if kind == "call":
        out["args"] = run.get("args", [])
        out["kwargs"] = run.get("kwargs", {})
    if "env" in run:
        out["env"] = {k: v if isinstance(v, str) else json.dumps(v) for k, v in run["env"].items()}
    for key in ("cwd",):
        if key in run:
            out[key] = run[key]
    if "timeout" in run:
        out["timeout"] = _duration(run["timeout"])
    return out


def _notify(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {**entry, "via": entry.get("via", "log"), "on": list(entry.get("on", DEFAULT_NOTIFY_ON))}


def merged_schema(components: Components) -> dict[str, Any]:
    """The core schema plus the installed executors' names and notifiers' options.

    Editors pointed at it complete plugin options too; ``yamlcron schema`` prints it.
    """
    schema: dict[str, Any] = json.loads(json.dumps(core_schema()))
    defs = schema["$defs"]
    defs["executor"]["enum"] = sorted(components.executors)
    notifier = defs["notifier"]
    notifier["properties"]["via"]["enum"] = sorted(components.notifiers)
    notifier["allOf"] = [
        {
            "if": {"properties": {"via": {"const": name}}},
            "then": {
                "properties": {**options.get("properties", {}), "via": True, "on": True},
                "required": options.get("required", []),
                "additionalProperties": False,
            },
        }
        for name, options in sorted(components.notifiers.items())
    ]
    return schema
