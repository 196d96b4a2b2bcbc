"""A crontab turned into a manifest (``yamlcron import-crontab``), so a team moves in one commit.

Read as cron (Vixie cron, cronie) reads a user crontab:

- ``NAME=value`` lines set the environment of the entries below them; quotes around the
  value are removed. ``SHELL`` chooses the shell that runs the entries below (``/bin/sh``,
  yamlcron's ``shell:``, unless set), ``CRON_TZ`` the zone their schedules are read in.
  ``MAILTO`` (and ``MAILFROM``) have no equivalent: yamlcron keeps each run's output in its
  history and tells notifiers; they are dropped, with a note.
- An entry is five fields and a command, or an ``@yearly``-like alias and a command. Its
  command runs through the shell; an unescaped ``%`` ends the command and the rest, its
  ``%`` read as newlines, is the command's standard input; ``\\%`` is a literal ``%``.
- ``@reboot`` has no equivalent (yamlcron starts jobs on time, not on boot): refused, with
  where it is. So is an expression that SPEC §1 refuses (``22-2``, ``5/15``), with its hint.
- The comment line right above an entry becomes the job's description.

Job ids come from each command's program name (``backup.sh`` -> ``backup-sh``), numbered
when several share one. Nothing here writes anything: the manifest comes back as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from yamlcron.cronexpr import ALIASES, check_cron
from yamlcron.errors import Issue, ManifestError

_ENV = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
_NOT_ID = re.compile(r"[^A-Za-z0-9_.-]+")
_PERCENT = re.compile(r"(?<!\\)%")
#: Settings of cron itself, not of the jobs' environment.
_MAIL = ("MAILTO", "MAILFROM")
_DEFAULT_SHELL = "/bin/sh"


@dataclass(frozen=True)
class Imported:
    """The manifest's text, and what the reader should know about the conversion."""

    manifest: str
    notes: tuple[str, ...]


@dataclass
class _Reading:
    """Where the reader is in the crontab: the settings in force, what it has found."""

    source: str
    timezone: str
    shell: str = _DEFAULT_SHELL
    env: dict[str, str] = field(default_factory=dict)
    comment: str | None = None
    jobs: dict[str, dict[str, object]] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def problem(self, line: int, message: str) -> None:
        self.issues.append(Issue(self.source, line, 1, "", message))


def import_crontab(text: str, source: str = "crontab", timezone: str = "UTC") -> Imported:
    """The manifest for the crontab ``text``; ManifestError lists every line it cannot take.

    ``source`` names the crontab in messages; ``timezone`` is the zone its schedules are
    read in until a ``CRON_TZ`` line says otherwise (cron reads them in the host's zone).
    """
    reading = _Reading(source, timezone)
    for number, line in enumerate(text.splitlines(), start=1):
        _read_line(reading, number, line.strip())
    if reading.issues:
        raise ManifestError(reading.issues)
    if not reading.jobs:
        raise ManifestError([Issue(source, 1, 1, "", "no entry to import")])
    body = yaml.dump(
        {"version": 1, "jobs": reading.jobs},
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=1000,
    )
    header = f"# Imported from {source} by 'yamlcron import-crontab'.\n"
    return Imported(header + body, tuple(reading.notes))


class _Dumper(yaml.SafeDumper):
    """Safe YAML, with a script of several lines written as a block, as it reads."""


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _text)


def _read_line(reading: _Reading, number: int, line: str) -> None:
    if not line:
        reading.comment = None
    elif line.startswith("#"):
        reading.comment = line.lstrip("#").strip() or None
    elif (setting := _ENV.match(line)) is not None:
        _set(reading, number, setting.group(1), _unquote(setting.group(2)))
        reading.comment = None
    else:
        _entry(reading, number, line)
        reading.comment = None


def _set(reading: _Reading, number: int, name: str, value: str) -> None:
    if name in _MAIL:
        reading.notes.append(
            f"{reading.source}:{number}: {name} dropped: yamlcron keeps each run's output in "
            "its history; add a notifier (notify: in the manifest) to hear of failures"
        )
    elif name == "SHELL":
        reading.shell = value
    elif name == "CRON_TZ":
        reading.timezone = value
    else:
        reading.env[name] = value


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _entry(reading: _Reading, number: int, line: str) -> None:
    if line.split()[0].lower() == "@reboot":
        reading.problem(
            number,
            "@reboot has no yamlcron equivalent (jobs run on a schedule, not at boot); "
            "start it from the system's init instead, or give it a schedule",
        )
        return
    fields = 1 if line.startswith("@") else 5
    parts = line.split(None, fields)
    if len(parts) <= fields:
        reading.problem(number, f"an entry is a schedule and a command; got {line!r}")
        return
    expr, command = " ".join(parts[:fields]), parts[fields]
    try:
        check_cron(expr)
    except ValueError as exc:
        reading.problem(number, str(exc))
        return
    reading.jobs[_job_id(reading, command)] = _job(reading, expr, command)


def _job(reading: _Reading, expr: str, command: str) -> dict[str, object]:
    job: dict[str, object] = {}
    if reading.comment:
        job["description"] = reading.comment
    trigger: dict[str, object] = {"cron": expr.lower() if expr.lower() in ALIASES else expr}
    if reading.timezone != "UTC":
        trigger["timezone"] = reading.timezone
    job["trigger"] = trigger
    script = _script(command)
    # cron expands nothing itself; yamlcron expands ${VAR} in env values and command items,
    # where $${ keeps it for the shell (a shell: script is passed as it is).
    run: dict[str, object] = (
        {"shell": script}
        if reading.shell == _DEFAULT_SHELL
        else {"command": [reading.shell, "-c", _literal(script)]}
    )
    if reading.env:
        run["env"] = {k: _literal(v) for k, v in reading.env.items()}
    job["run"] = run
    return job


def _literal(text: str) -> str:
    return text.replace("${", "$${")


def _script(command: str) -> str:
    """The shell script for a crontab command: ``%`` as cron reads it (see the module)."""
    head, *stdin = _PERCENT.split(command)
    script = head.replace("\\%", "%").rstrip()
    if not stdin:
        return script
    lines = "\n".join(part.replace("\\%", "%") for part in stdin)
    return f"{script} <<'YAMLCRON_STDIN'\n{lines}\nYAMLCRON_STDIN"


def _job_id(reading: _Reading, command: str) -> str:
    """A job id from the command's program name, numbered when one is taken."""
    words = [w for w in command.split() if "=" not in w.split("/")[0]] or ["job"]
    program = words[0].rsplit("/", 1)[-1]
    base = _NOT_ID.sub("-", program.replace(".", "-")).strip("-_.")[:60] or "job"
    if not base[0].isalnum():
        base = f"job-{base}"
    candidate, count = base, 1
    while candidate in reading.jobs:
        count += 1
        candidate = f"{base}-{count}"
    return candidate
