"""The ``yamlcron`` command: thin commands over manifest, reconcile, store and triggers.

Exit codes (SPEC §8): 0 ok, 1 failed (invalid manifest, refused plan, store error), 2 only
for ``plan --detailed-exitcode`` with changes, 64 usage error, 130 interrupted.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from yamlcron.errors import ManifestError, StoreError, UnknownJobError, YamlcronError

# What a command needs is imported in the command: every call of `yamlcron` pays for what
# is imported here, and `--help` or `validate` in a pre-commit hook need little of it
# (tests/test_startup.py counts the modules; bench/startup.py times them).
if TYPE_CHECKING:
    from yamlcron.model import JobSpec, Manifest, Plan
    from yamlcron.registry import Registry
    from yamlcron.runs import Store

EXIT_USAGE = 64
EXIT_INTERRUPTED = 130
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class App:
    """What every command shares: the registry, built on first use so ``--help`` loads none."""

    make_registry: Callable[[], Registry] | None  # None: the built-ins and installed plugins
    utc: bool = False
    _registry: Registry | None = field(default=None)

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            if self.make_registry is None:
                from yamlcron.registry import build_registry

                self.make_registry = build_registry
            self._registry = self.make_registry()
        return self._registry

    def shown(self, moment: datetime, tz: tzinfo | None = None, timespec: str = "auto") -> str:
        """``moment`` for people and programs alike: ISO 8601 with its offset.

        In ``tz`` (a job's zone), or this host's zone for times that belong to no job; in
        UTC under ``--utc``. The one rule for every time a command prints.
        """
        return moment.astimezone(UTC if self.utc else tz).isoformat(timespec=timespec)

    @property
    def rules(self) -> str:
        """What manifests are validated by here (see ``manifest.rules_digest``)."""
        from yamlcron.manifest import rules_digest

        return rules_digest(self.registry.components)

    def open_store(self, manifest_path: Path, url: str | None, *, create: bool) -> Store:
        from yamlcron.store.sqlite import default_store_path

        url = url or f"sqlite://{default_store_path(manifest_path)}"
        return self.registry.open_store(url, create=create)

    def manifest_store(self, manifest_path: Path, url: str | None) -> Store:
        """The store ``plan``, ``apply`` and ``run`` reconcile ``manifest_path`` with, read-only.

        Two manifests in one folder would share the default store, and applying one would
        remove the other's jobs: without ``--store`` a default store that another manifest
        file of that folder was applied to is refused, naming it.
        """
        store = self.open_store(manifest_path, url, create=False)
        record = None if url is not None else store.last_applied()
        if record is not None and Path(record.path).name != manifest_path.name:
            store.close()
            owner, name = Path(record.path).name, manifest_path.name
            raise StoreError(
                f"{_default_store(manifest_path)} beside {manifest_path} holds the jobs of "
                f"{owner}, which applying {name} would remove; pass --store URL: a store of "
                f"its own, or this one if {name} replaces {owner}"
            )
        return store

    def read_store(self, manifest_path: Path, url: str | None) -> Store:
        """The store for a command that reads it; StoreError when nothing was applied to it.

        A missing SQLite file opens as an empty store (``plan`` wants that); a command
        that lists or changes jobs says instead where it looked and what to run first.
        """
        store = self.open_store(manifest_path, url, create=False)
        if store.last_applied() is None:
            store.close()
            raise StoreError(_no_store(manifest_path, url))
        return store


class _ManifestPath(click.Path):
    """A manifest's path; ``YAMLCRON_FILE`` names one file, whatever characters it holds."""

    def split_envvar_value(self, rv: str) -> Sequence[str]:
        return (rv,)


def _one_manifest(ctx: click.Context, param: click.Parameter, value: tuple[Path, ...]) -> Path:
    """``-f`` given twice was silently the last one: a command reads one manifest."""
    if len(value) > 1:
        shown = ", ".join(map(str, value))
        raise click.UsageError(
            f"-f/--file given {len(value)} times ({shown}); this command reads one manifest "
            "(only 'yamlcron validate' checks several)",
            ctx,
        )
    return value[0]


def _file_option(dest: str, **extra: Any) -> Callable[[F], F]:
    return click.option(
        "-f",
        "--file",
        dest,
        type=_ManifestPath(path_type=Path, dir_okay=False),
        multiple=True,  # so that a second -f is seen (and refused where one is meant)
        envvar="YAMLCRON_FILE",
        **extra,
    )


def _manifest_options(func: F) -> F:
    return _file_option(
        "manifest_path",
        callback=_one_manifest,
        default=("jobs.yaml",),
        show_default=True,
        help="The manifest (env YAMLCRON_FILE).",
    )(func)


def _store_option(func: F) -> F:
    return click.option(
        "--store",
        "store_url",
        envvar="YAMLCRON_STORE",
        metavar="URL",
        help="Job store URL (env YAMLCRON_STORE); default: .yamlcron/state.db beside the manifest.",
    )(func)


def _output_option(func: F) -> F:
    return click.option(
        "-o",
        "--output",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="Print text for people or JSON for programs.",
    )(func)


def _now() -> datetime:
    return datetime.now(UTC)


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _find_job(manifest: Manifest, job_id: str) -> JobSpec:
    from yamlcron.schema import did_you_mean

    if job_id in manifest.jobs:
        return manifest.jobs[job_id]
    hint = did_you_mean(job_id, list(manifest.jobs))
    raise UnknownJobError(f"no job '{job_id}' in {manifest.path}{hint}")


def build_cli(make_registry: Callable[[], Registry] | None = None) -> click.Group:
    """The command group; ``make_registry`` lets tests choose the plugins."""

    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(package_name="yamlcron")
    @click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        default="text",
        envvar="YAMLCRON_LOG_FORMAT",
        help="Logs on stderr: human-readable, or one JSON object a line.",
    )
    @click.option("-v", "--verbose", is_flag=True, help="Log debug details too.")
    @click.option(
        "--utc",
        is_flag=True,
        envvar="YAMLCRON_UTC",
        help="Print every time in UTC (env YAMLCRON_UTC), not in the job's or this host's zone.",
    )
    @click.pass_context
    def cli(ctx: click.Context, log_format: str, verbose: bool, utc: bool) -> None:
        """Declarative YAML cron and workflow runner.

        Keep your jobs in a jobs.yaml in git; `apply` makes the job store match it and
        `run` schedules it, reloading when the file changes.

        \b
        Example:
          yamlcron validate -f jobs.yaml
          yamlcron plan && yamlcron apply
          yamlcron next nightly-backup --count 5
        """
        configure_logging(log_format, logging.DEBUG if verbose else logging.INFO, utc=utc)
        ctx.obj = App(make_registry, utc=utc)

    @cli.command()
    @click.argument(
        "files", nargs=-1, metavar="[FILE...]", type=click.Path(path_type=Path, dir_okay=False)
    )
    @_file_option("named", help="A manifest, like FILE (env YAMLCRON_FILE)  [default: jobs.yaml]")
    @_output_option
    @click.pass_obj
    def validate(app: App, files: tuple[Path, ...], named: tuple[Path, ...], output: str) -> None:
        """Check manifests and report every problem at once, one per line.

        Each problem reads FILE:LINE:COL: PATH: message. Checks every FILE given (for a
        pre-commit hook), or jobs.yaml; exits 1 when any is invalid. Writes nothing.

        \b
        Example:
          yamlcron validate jobs.yaml other/jobs.yaml
        """
        paths = [*files, *named] or [Path("jobs.yaml")]
        reports = [_validate_one(app, path, output) for path in paths]
        if output == "json":
            shown = reports[0][1] if len(paths) == 1 else [r[1] for r in reports]
            _echo_json(shown)
        if not all(ok for ok, _ in reports):
            raise SystemExit(1)

    @cli.command("plan")
    @_manifest_options
    @_store_option
    @_output_option
    @click.option("--force", is_flag=True, help="Do not refuse a plan that removes most jobs.")
    @click.option(
        "--detailed-exitcode",
        is_flag=True,
        help="Exit 0 with no changes, 2 with changes, 1 on error.",
    )
    @click.pass_obj
    def plan_command(
        app: App,
        manifest_path: Path,
        store_url: str | None,
        output: str,
        force: bool,
        detailed_exitcode: bool,
    ) -> None:
        """Show what `apply` would add (+), change (~) and remove (-). Writes nothing.

        A store that does not exist yet plans against an empty one.

        \b
        Example:
          yamlcron plan -f jobs.yaml --detailed-exitcode
        """
        from yamlcron import reconcile
        from yamlcron.manifest import load_manifest

        store = app.manifest_store(manifest_path, store_url)
        try:
            result = reconcile.unchanged(manifest_path, store, app.rules)
            stored_count = 0 if result is None else result.unchanged
            if result is None:
                manifest = load_manifest(manifest_path, app.registry.components)
                stored = store.load_jobs()
                stored_count = len(stored)
                result = reconcile.plan(manifest, stored, _now())
        finally:
            store.close()
        _print_plan(result, output)
        reconcile.check_guard(result, stored_count, force=force)
        if detailed_exitcode and not result.is_empty:
            raise SystemExit(2)

    @cli.command("apply")
    @_manifest_options
    @_store_option
    @_output_option
    @click.option("--force", is_flag=True, help="Apply even a plan that removes most jobs.")
    @click.pass_obj
    def apply_command(
        app: App, manifest_path: Path, store_url: str | None, output: str, force: bool
    ) -> None:
        """Make the store match the manifest, in one transaction, without prompting.

        Jobs missing from the manifest are removed (their run history is kept). A plan
        that would remove every job, or more than half of four or more, is refused unless
        --force is given.

        \b
        Example:
          yamlcron apply -f jobs.yaml --store sqlite:///var/lib/yamlcron/state.db
        """
        from yamlcron import reconcile
        from yamlcron.app import publish_apply
        from yamlcron.eventbus import EventBus
        from yamlcron.manifest import load_manifest

        probe = app.manifest_store(manifest_path, store_url)
        try:
            quick = reconcile.unchanged(manifest_path, probe, app.rules)
        finally:
            probe.close()
        if quick is not None:  # the manifest applied last, bytes and rules unchanged
            _print_plan(quick, output)
            if output == "text":
                click.echo("Nothing to apply.")
            return
        # Validate before the store is created: bad input changes nothing.
        manifest = load_manifest(manifest_path, app.registry.components)
        store = app.open_store(manifest_path, store_url, create=True)
        try:
            now = _now()
            result, wrote = reconcile.sync(
                manifest, store, now, force=force, show=lambda p: _print_plan(p, output)
            )
            if wrote:  # listeners hear what this apply wrote
                events = EventBus(app.registry)
                publish_apply(events, result, manifest, now)
                events.close()
        finally:
            store.close()
        if output == "text":
            click.echo("Applied." if not result.is_empty else "Nothing to apply.")

    @cli.command("jobs")
    @_manifest_options
    @_store_option
    @_output_option
    @click.pass_obj
    def jobs_command(app: App, manifest_path: Path, store_url: str | None, output: str) -> None:
        """List the jobs in the store with their next fire time and last outcome.

        \b
        Example:
          yamlcron jobs --output json
        """
        from yamlcron.triggers import zone

        store = app.read_store(manifest_path, store_url)
        try:
            stored = store.load_jobs()
        finally:
            store.close()
        rows = []
        for job_id in sorted(stored):
            job = stored[job_id]
            # A paused job has a stored next fire time, kept for resume; it will not fire.
            next_at = None
            if job.next_run_at is not None and not job.paused:
                next_at = app.shown(job.next_run_at, zone(job.spec.trigger.timezone))
            rows.append(
                {
                    "id": job_id,
                    "trigger": job.spec.trigger.describe(),
                    "executor": job.spec.executor,
                    "paused": job.paused,
                    "next_run_at": next_at,
                    "last_status": job.last_status,
                }
            )
        if output == "json":
            _echo_json(rows)
            return
        headers = ("ID", "TRIGGER", "EXECUTOR", "PAUSED", "NEXT RUN", "LAST")
        keys = ("id", "trigger", "executor", "paused", "next_run_at", "last_status")
        table = [[_cell(row[k]) for k in keys] for row in rows]
        click.echo(_table(headers, table))

    @cli.command("next")
    @click.argument("job_id", metavar="JOB")
    @_manifest_options
    @_store_option
    @_output_option
    @click.option("-n", "--count", default=5, show_default=True, type=click.IntRange(1, 10_000))
    @click.option("--after", metavar="DATETIME", help="Start here instead of now (ISO 8601).")
    @click.pass_obj
    def next_command(
        app: App,
        job_id: str,
        manifest_path: Path,
        store_url: str | None,
        output: str,
        count: int,
        after: str | None,
    ) -> None:
        """Print the coming fire times of JOB as the manifest declares it, in its time zone.

        Needs no store and writes nothing: the way to check a cron expression before
        trusting it. An interval without `start` is anchored where the store has it, or at
        --after when the job was never applied.

        \b
        Example:
          yamlcron next nightly-backup --count 10 --after 2026-10-24T00:00
        """
        from yamlcron.manifest import load_manifest, parse_datetime
        from yamlcron.triggers import schedule_for, zone

        manifest = load_manifest(manifest_path, app.registry.components)
        spec = _find_job(manifest, job_id)
        tz = zone(spec.trigger.timezone)
        try:
            moment = parse_datetime(after, tz) if after else _now()
        except ValueError:
            message = f"{after!r} is not an ISO 8601 datetime"
            raise click.BadParameter(message, param_hint="--after") from None
        anchor = _stored_anchor(app, manifest_path, store_url, spec) or moment
        schedule = schedule_for(spec.trigger, anchor)
        times: list[datetime] = []
        if spec.trigger.kind == "date" and spec.trigger.date and spec.trigger.date > moment:
            times.append(spec.trigger.date)
        else:
            cursor: datetime | None = moment
            while len(times) < count and cursor is not None:
                cursor = schedule.next_fire(cursor)
                if cursor is not None:
                    times.append(cursor)
        shown = [t.astimezone(tz).isoformat() for t in times]
        if output == "json":
            _echo_json(shown)
            return
        if spec.trigger.kind == "after":
            click.echo(
                f"{job_id} fires after {spec.trigger.after} ({spec.trigger.when}), not by time"
            )
        elif not shown:
            click.echo(f"{job_id} has no fire time after {moment.astimezone(tz).isoformat()}")
        for line in shown:
            click.echo(line)

    @cli.command("plugins")
    @_output_option
    @click.pass_obj
    def plugins_command(app: App, output: str) -> None:
        """List the loaded plugins: origin, version, hooks and what each provides.

        \b
        Example:
          yamlcron plugins --output json
        """
        infos = app.registry.plugins
        if output == "json":
            _echo_json(
                [
                    {
                        "name": i.name,
                        "origin": i.origin,
                        "version": i.version,
                        "hooks": list(i.hooks),
                        "provides": {k: list(v) for k, v in i.provides.items()},
                    }
                    for i in infos
                ]
            )
            return
        rows = [
            [
                i.name,
                i.origin,
                i.version or "-",
                " ".join(f"{k}: {', '.join(v)}" for k, v in sorted(i.provides.items())) or "-",
                ", ".join(h.removeprefix("yamlcron_") for h in i.hooks),
            ]
            for i in infos
        ]
        click.echo(_table(("PLUGIN", "FROM", "VERSION", "PROVIDES", "HOOKS"), rows))

    @cli.command("schema")
    @click.pass_obj
    def schema_command(app: App) -> None:
        """Print the manifest's JSON Schema, with every installed plugin's options in it.

        Point an editor at the file it writes to complete plugin options too.

        \b
        Example:
          yamlcron schema > jobs.schema.json
        """
        from yamlcron.schema import merged_schema

        _echo_json(merged_schema(app.registry.components))

    from yamlcron.runcli import add_runtime_commands  # it builds on this module's helpers

    add_runtime_commands(cli)
    return cli


def _stored_anchor(
    app: App, manifest_path: Path, url: str | None, spec: JobSpec
) -> datetime | None:
    """The interval anchor of an applied job whose trigger is unchanged, read-only."""
    if spec.trigger.kind != "interval" or spec.trigger.start is not None:
        return None
    store = app.open_store(manifest_path, url, create=False)
    try:
        stored = store.load_jobs([spec.id]).get(spec.id)
    finally:
        store.close()
    if stored and stored.spec.canonical["trigger"] == spec.canonical["trigger"]:
        return stored.anchor
    return None


def _validate_one(app: App, path: Path, output: str) -> tuple[bool, dict[str, Any]]:
    """Check one manifest; text goes out at once, JSON is returned: (valid, its JSON)."""
    from yamlcron.manifest import load_manifest

    try:
        manifest = load_manifest(path, app.registry.components)
    except ManifestError as exc:
        issues = [
            {
                "file": i.file,
                "line": i.line,
                "column": i.column,
                "path": i.path,
                "message": i.message,
            }
            for i in exc.issues
        ]
        if output == "text":
            click.echo(str(exc), err=True)
        return False, {"file": str(path), "valid": False, "issues": issues}
    except YamlcronError as exc:  # unreadable: one issue without a line
        if output == "text":
            click.echo(f"error: {exc}", err=True)
        issue = {"file": str(path), "line": 0, "column": 0, "path": "", "message": str(exc)}
        return False, {"file": str(path), "valid": False, "issues": [issue]}
    if output == "text":
        click.echo(f"{path}: valid, {len(manifest.jobs)} jobs")
    return True, {"file": str(path), "valid": True, "jobs": len(manifest.jobs)}


def _default_store(manifest_path: Path) -> Path:
    """The default store's path as its manifest's folder sees it (``.yamlcron/state.db``)."""
    from yamlcron.store.sqlite import default_store_path

    return default_store_path(manifest_path).relative_to(manifest_path.absolute().parent)


def _no_store(manifest_path: Path, url: str | None) -> str:
    """Where the store was looked for, and what to do about it, in one line."""
    if url is not None:
        return f"nothing was applied to the store {url} yet; run 'yamlcron apply --store URL' first"
    if not manifest_path.exists():
        return (
            f"no manifest {manifest_path}, so no store beside it; "
            "pass -f FILE or run in the manifest's folder"
        )
    where = _default_store(manifest_path)
    return (
        f"no store at {where} beside {manifest_path}; run 'yamlcron apply -f {manifest_path}' first"
    )


def _print_plan(result: Plan, output: str) -> None:
    from yamlcron import reconcile

    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if output == "json":
        _echo_json(reconcile.plan_json(result))
    else:
        click.echo(reconcile.render_plan(result))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _table(headers: Sequence[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; no rows is the header line alone."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    """``TIME LEVEL logger: message``, TIME in ISO 8601 with its offset (as every printed time)."""

    def __init__(self, utc: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._zone = UTC if utc else None  # None: this host's zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, UTC).astimezone(self._zone)
        return moment.isoformat(timespec="milliseconds")


def configure_logging(log_format: str, level: int, *, utc: bool = False) -> None:
    """Send yamlcron's logs to stderr, as text or one JSON object a line.

    Text lines carry the host's local time with its offset, or UTC with ``utc``; JSON lines
    always carry UTC (``time``), for machines.
    """
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter(utc))
    root = logging.getLogger("yamlcron")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def main(
    argv: Sequence[str] | None = None, make_registry: Callable[[], Registry] | None = None
) -> int:
    """Run the command line; returns the exit code (``yamlcron`` exits with it).

    The ``yamlcron`` logger is given back as it was found: a program (or a test) that calls
    ``main`` keeps its own logging, and no handler is left writing to a stream it closes.
    """
    cli = build_cli(make_registry)
    logger = logging.getLogger("yamlcron")
    handlers, level, propagate = logger.handlers[:], logger.level, logger.propagate
    try:
        code = cli.main(args=argv, prog_name="yamlcron", standalone_mode=False)
    except click.UsageError as exc:
        exc.show()
        code = EXIT_USAGE
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        code = EXIT_INTERRUPTED
    except ManifestError as exc:
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        code = 1
    except YamlcronError as exc:
        click.echo(f"error: {exc}", err=True)
        code = 1
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        logger.handlers[:] = handlers
        logger.setLevel(level)  # setLevel, not .level: it clears the loggers' level cache
        logger.propagate = propagate
    return code if isinstance(code, int) else 0


def entry_point() -> None:
    """The console script."""
    sys.exit(main())
