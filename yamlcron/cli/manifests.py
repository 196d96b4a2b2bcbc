"""The commands of the manifest: ``validate``, ``plan``, ``apply``, ``next``, ``schema``...."""

from __future__ import annotations

from pathlib import Path

import click

from yamlcron.cli import render
from yamlcron.cli.complete import job_ids
from yamlcron.cli.options import App, file_option, manifest_options, output_option
from yamlcron.errors import YamlcronError


@click.command("validate")
@click.argument(
    "files", nargs=-1, metavar="[FILE...]", type=click.Path(path_type=Path, dir_okay=False)
)
@file_option("named", help="A manifest, like FILE (env YAMLCRON_FILE)  [default: jobs.yaml]")
@output_option
@click.pass_obj
def validate(app: App, files: tuple[Path, ...], named: tuple[Path, ...], output: str) -> None:
    """Check manifests and report every problem at once, one per line.

    Each problem reads FILE:LINE:COL: PATH: message. Checks every FILE given (for a
    pre-commit hook), or jobs.yaml; exits 1 when any is invalid. Writes nothing.

    \b
    Example:
      yamlcron validate jobs.yaml other/jobs.yaml
    """
    # Not through the service: a pre-commit hook pays for every module it imports, and
    # ``Yamlcron.validate`` is this same ``load_manifest``.
    from yamlcron.manifest import load_manifest

    paths = [*files, *named] or [Path("jobs.yaml")]
    reports = []
    for path in paths:
        manifest, error = None, None
        try:
            manifest = load_manifest(path, app.registry.components)
        except YamlcronError as exc:
            error = exc
        if output == "text":
            render.validation_text(str(path), manifest, error)
        reports.append(render.validation(str(path), manifest, error))
    if output == "json":
        render.echo_json(reports[0] if len(paths) == 1 else reports)
    if not all(report["valid"] for report in reports):
        raise SystemExit(1)


@click.command("plan")
@manifest_options
@output_option
@click.option("--force", is_flag=True, help="Do not refuse a plan that removes most jobs.")
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 with no changes, 2 with changes, 1 on error.",
)
@click.pass_obj
def plan(
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
    with app.service(manifest_path, store_url) as cron:
        result = cron.plan(force=force, show=lambda p: render.plan(p, output))
    if detailed_exitcode and not result.is_empty:
        raise SystemExit(2)


@click.command("apply")
@manifest_options
@output_option
@click.option("--force", is_flag=True, help="Apply even a plan that removes most jobs.")
@click.pass_obj
def apply(app: App, manifest_path: Path, store_url: str | None, output: str, force: bool) -> None:
    """Make the store match the manifest, in one transaction, without prompting.

    Jobs missing from the manifest are removed (their run history is kept). A plan
    that would remove every job, or more than half of four or more, is refused unless
    --force is given.

    \b
    Example:
      yamlcron apply -f jobs.yaml --store sqlite:///var/lib/yamlcron/state.db
    """
    with app.service(manifest_path, store_url, create=True) as cron:
        result = cron.apply(force=force, show=lambda p: render.plan(p, output))
    if output == "text":
        click.echo("Applied." if not result.is_empty else "Nothing to apply.")


@click.command("next")
@click.argument("job_id", metavar="JOB", shell_complete=job_ids)
@manifest_options
@output_option
@click.option("-n", "--count", default=5, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--after", metavar="DATETIME", help="Start here instead of now (ISO 8601).")
@click.pass_obj
def next_times(
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
    with app.service(manifest_path, store_url) as cron:
        try:
            found = cron.next_fires(job_id, count, after)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--after") from None
    render.fires(found, output)


@click.command("plugins")
@output_option
@click.pass_obj
def plugins(app: App, output: str) -> None:
    """List the loaded plugins: origin, version, hooks and what each provides.

    \b
    Example:
      yamlcron plugins --output json
    """
    render.plugins(app.registry.plugins, output)


@click.command("schema")
@click.pass_obj
def schema(app: App) -> None:
    """Print the manifest's JSON Schema, with every installed plugin's options in it.

    Point an editor at the file it writes to complete plugin options too.

    \b
    Example:
      yamlcron schema > jobs.schema.json
    """
    from yamlcron.schema import merged_schema

    render.echo_json(merged_schema(app.registry.components))
