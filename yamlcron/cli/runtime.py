"""The commands of the store and of a running yamlcron.

``run``, ``jobs``, ``history``, ``trigger``, ``replicas``, ``pause`` and ``resume``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

import click

from yamlcron.cli import render
from yamlcron.cli.complete import job_ids
from yamlcron.cli.options import App, manifest_options, output_option
from yamlcron.durations import parse_duration
from yamlcron.runs import RunStatus
from yamlcron.schedulerconfig import DEFAULT_TTL

#: ``trigger`` gave up (``--timeout``): GNU timeout's exit code, distinct from a failed run.
EXIT_GAVE_UP = 124


@click.command("run")
@manifest_options
@click.option(
    "--workers",
    default=32,
    show_default=True,
    type=click.IntRange(1, 4096),
    help="Runs that may be under way at once, over all jobs.",
)
@click.option(
    "--shutdown-timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds to wait for runs on SIGTERM/SIGINT.",
)
@click.option(
    "--watch/--no-watch",
    default=True,
    show_default=True,
    help="Reload the manifest when its file changes.",
)
@click.option(
    "--watch-interval",
    default=30.0,
    show_default=True,
    type=click.FloatRange(1),
    help="Also re-read the manifest this often (for filesystems without events).",
)
@click.option(
    "--lease-ttl",
    default=DEFAULT_TTL,
    show_default=True,
    type=click.FloatRange(1),
    help="Seconds without a heartbeat after which other replicas take this one's runs "
    "over (PostgreSQL; a SQLite daemon's lease is its lock and never expires).",
)
@click.option("--node", help="This replica's name in history and `replicas` [host:pid].")
@click.option("--force", is_flag=True, help="Apply at start even if most jobs would go.")
@click.pass_obj
def run(
    app: App,
    manifest_path: Path,
    store_url: str | None,
    workers: int,
    shutdown_timeout: float,
    watch: bool,
    watch_interval: float,
    lease_ttl: float,
    node: str | None,
    force: bool,
) -> None:
    """Apply the manifest, then run the scheduler until SIGTERM or SIGINT.

    The first SIGTERM/SIGINT stops firing, waits up to --shutdown-timeout for runs
    under way, stops what is left (SIGTERM, then SIGKILL) and exits 0; a second one
    stops at once. SIGHUP reloads the manifest; so does saving it, unless --no-watch.
    An invalid manifest on reload is reported and the last good one keeps running.
    On a PostgreSQL store, run as many replicas as you like: each fire runs once.

    \b
    Example:
      yamlcron run -f examples/jobs.yaml
      yamlcron run -f jobs.yaml --store postgresql://cron@db/cron
    """
    from yamlcron.pid1 import init_if_pid1

    init_if_pid1()  # a container's entrypoint: PID 1 stays an init that reaps orphans
    cron = app.service(
        manifest_path,
        store_url,
        create=True,
        workers=workers,
        lease_ttl=lease_ttl,
        node=node,
        freeze_gc=True,  # this process is ours: keep its full collections short
    )
    try:
        cron.run(
            force=force,
            watch=watch,
            watch_interval=watch_interval,
            handle_signals=True,
            shutdown_timeout=shutdown_timeout,
        )
    finally:
        cron.close()


@click.command("jobs")
@manifest_options
@output_option
@click.pass_obj
def jobs(app: App, manifest_path: Path, store_url: str | None, output: str) -> None:
    """List the jobs in the store with their next fire time and last outcome.

    \b
    Example:
      yamlcron jobs --output json
    """
    with app.service(manifest_path, store_url) as cron:
        stored = cron.jobs()
    render.jobs(stored, app.times, output)


@click.command("history")
@click.argument("job_id", metavar="[JOB]", required=False, shell_complete=job_ids)
@manifest_options
@output_option
@click.option("-n", "--limit", default=20, show_default=True, type=click.IntRange(1))
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in RunStatus]),
    help="Only runs with this status (repeat for several).",
)
@click.option(
    "--since",
    metavar="DATETIME|DURATION",
    help="Only runs scheduled since then (ISO 8601), or within that long ago (1h, 2d).",
)
@click.option(
    "--run",
    "run_id",
    type=int,
    metavar="ID",
    help="Show the run ID (the RUN column) in full: output, error and traceback.",
)
@click.pass_obj
def history(
    app: App,
    job_id: str | None,
    manifest_path: Path,
    store_url: str | None,
    output: str,
    limit: int,
    statuses: tuple[str, ...],
    since: str | None,
    run_id: int | None,
) -> None:
    """Show recorded runs, newest first: status, exit code, result or error.

    Times are in each job's time zone (UTC with --utc). --run ID shows one run whole.

    \b
    Example:
      yamlcron history nightly-report --status failure --since 1d
      yamlcron history --run 42
    """
    moment = None if since is None else _since(since, app)
    with app.service(manifest_path, store_url) as cron:
        runs = cron.history(job_id, limit, statuses=statuses, since=moment, run_id=run_id)
        zones = cron.zones({r.job_id for r in runs})
    if run_id is not None:
        render.one_run(runs[0], zones, app.times, output)
    else:
        render.history(runs, zones, app.times, output)


def _since(text: str, app: App) -> datetime:
    """``--since``: a duration ago, or an ISO 8601 datetime (no offset: this host's zone)."""
    from yamlcron.manifest import parse_datetime

    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    local = UTC if app.times.utc else datetime.now().astimezone().tzinfo or UTC
    try:
        return parse_datetime(text, local)
    except ValueError:
        message = f"{text!r} is neither an ISO 8601 datetime nor a duration such as 1h"
        raise click.BadParameter(message, param_hint="--since") from None


@click.command("trigger")
@click.argument("job_id", metavar="JOB", shell_complete=job_ids)
@manifest_options
@output_option
@click.option("--wait", is_flag=True, help="Wait for the outcome; exit 0 only on success.")
@click.option(
    "--timeout",
    type=click.FloatRange(0),
    help="Give up after this many s (implies --wait) and exit 124: stop waiting for "
    "the daemon's run, or stop the run made here (recorded interrupted).",
)
@click.pass_obj
def trigger(
    app: App,
    job_id: str,
    manifest_path: Path,
    store_url: str | None,
    output: str,
    wait: bool,
    timeout: float | None,
) -> None:
    """Run JOB now, through the running daemon if there is one, else in this process.

    Without a daemon the run happens here and now (retries included), as with --wait,
    and is announced to the job's and the manifest's notifiers as the daemon would.
    Ctrl-C (or SIGTERM) then stops it: its process group is stopped, the run is
    recorded interrupted and the command exits 130 (143); a second one leaves at once.
    A manual run starts at once, without the trigger's jitter.

    \b
    Exit codes: 0 success, 1 the run failed (or no such job), 124 gave up (--timeout),
    130 interrupted.

    \b
    Example:
      yamlcron trigger nightly-report --wait
      yamlcron trigger nightly-report --timeout 600 --output json
    """
    from yamlcron.interrupts import TIMED_OUT

    with app.service(manifest_path, store_url) as cron:
        handle = cron.trigger(job_id, timeout=timeout)
        shown = app.times.of(cron.zones([job_id]).get(job_id))
        if handle.outcome is None and not (wait or timeout is not None):
            render.queued(job_id, shown(handle.scheduled_at), output)
            return
        try:
            run = handle.result(timeout)
        except TimeoutError:
            _give_up(job_id, timeout, "it goes on in the daemon")
    render.outcome(run, shown, output)
    if handle.stopped == TIMED_OUT:
        # Unless it ended first on its own (a thread call, which cannot be stopped).
        if run.status == RunStatus.INTERRUPTED:
            _give_up(job_id, timeout, "the run was stopped")
    elif handle.stopped is not None:
        click.echo("interrupted", err=True)
        raise SystemExit(128 + handle.stopped)
    if run.status != RunStatus.SUCCESS:
        raise SystemExit(1)


def _give_up(job_id: str, timeout: float | None, what: str) -> NoReturn:
    """``--timeout`` ran out: one line, exit 124."""
    click.echo(f"error: gave up on the run of {job_id} after {timeout} s; {what}", err=True)
    raise SystemExit(EXIT_GAVE_UP)


@click.command("replicas")
@manifest_options
@output_option
@click.pass_obj
def replicas(app: App, manifest_path: Path, store_url: str | None, output: str) -> None:
    """List the live `yamlcron run` replicas: lease age, expiry, what each is running.

    A replica whose lease runs out (it stopped renewing: killed, frozen, cut off)
    leaves this list, and the others mark its runs interrupted and retry them. On
    SQLite the daemon lock is the lease: the daemon is listed while it holds the lock.

    \b
    Example:
      yamlcron replicas --store postgresql://cron@db/cron
    """
    with app.service(manifest_path, store_url) as cron:
        live = cron.replicas()
    render.replicas(live, app.times, datetime.now(UTC), output)


@click.command("pause")
@click.argument("job_id", metavar="JOB", shell_complete=job_ids)
@manifest_options
@click.pass_obj
def pause(app: App, job_id: str, manifest_path: Path, store_url: str | None) -> None:
    """Stop firing JOB until `resume`, whatever the manifest says (shown as drift by `plan`).

    \b
    Example:
      yamlcron pause nightly-report
    """
    with app.service(manifest_path, store_url) as cron:
        cron.pause(job_id)
    click.echo(f"paused {job_id}")


@click.command("resume")
@click.argument("job_id", metavar="JOB", shell_complete=job_ids)
@manifest_options
@click.pass_obj
def resume(app: App, job_id: str, manifest_path: Path, store_url: str | None) -> None:
    """Fire JOB again from now on; fires missed while paused are not caught up.

    \b
    Example:
      yamlcron resume nightly-report
    """
    from yamlcron.triggers import zone

    with app.service(manifest_path, store_url) as cron:
        resumed = cron.resume(job_id)
    following = resumed.next_run_at
    when = app.times.shown(following, zone(resumed.spec.trigger.timezone)) if following else "none"
    click.echo(f"resumed {job_id}; next run {when}")
