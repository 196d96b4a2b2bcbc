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


def _http_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A URL to ping: http or https, said at once rather than at the first ping."""
    if value and not value.startswith(("http://", "https://")):
        raise click.BadParameter("must start with http:// or https://")
    return value or None


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
@click.option(
    "--heartbeat",
    metavar="URL",
    envvar="YAMLCRON_HEARTBEAT",
    callback=_http_url,
    help="Ping this URL (a GET) every --heartbeat-interval while the scheduler loop is "
    "alive, for a dead man's switch such as a healthchecks.io check (env YAMLCRON_HEARTBEAT).",
)
@click.option(
    "--heartbeat-interval",
    default=60.0,
    show_default=True,
    envvar="YAMLCRON_HEARTBEAT_INTERVAL",
    type=click.FloatRange(0, min_open=True),
    help="Seconds between heartbeat pings.",
)
@click.option(
    "--http",
    "http_address",
    metavar="HOST:PORT",
    envvar="YAMLCRON_HTTP",
    help="Serve health, metrics, the JSON API and the status page here (env YAMLCRON_HTTP).",
)
@click.option(
    "--http-token-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The bearer token that allows trigger, pause and resume over HTTP (or env "
    "YAMLCRON_HTTP_TOKEN); without one, actions are refused.",
)
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
    heartbeat: str | None,
    heartbeat_interval: float,
    http_address: str | None,
    http_token_file: Path | None,
) -> None:
    """Apply the manifest, then run the scheduler until SIGTERM or SIGINT.

    The first SIGTERM/SIGINT stops firing, waits up to --shutdown-timeout for runs
    under way, stops what is left (SIGTERM, then SIGKILL) and exits 0; a second one
    stops at once. SIGHUP reloads the manifest; so does saving it, unless --no-watch.
    An invalid manifest on reload is reported and the last good one keeps running.
    On a PostgreSQL store, run as many replicas as you like: each fire runs once.
    With --heartbeat, an outside monitor alerts when the daemon dies or its loop sticks.

    \b
    Example:
      yamlcron run -f examples/jobs.yaml
      yamlcron run -f jobs.yaml --store postgresql://cron@db/cron
      yamlcron run --http 127.0.0.1:9746 --http-token-file /run/secrets/yamlcron-token
      yamlcron run --heartbeat https://hc-ping.com/$CHECK_UUID
    """
    from yamlcron.heartbeat import HeartbeatSpec
    from yamlcron.memory import return_large_blocks
    from yamlcron.pid1 import init_if_pid1

    init_if_pid1()  # a container's entrypoint: PID 1 stays an init that reaps orphans
    return_large_blocks()  # this process is ours: a job's large values do not stay with it

    http = None
    if http_address is not None:
        from yamlcron.http.options import http_options

        http = http_options(http_address, http_token_file, app.times)
    cron = app.service(
        manifest_path,
        store_url,
        create=True,
        workers=workers,
        lease_ttl=lease_ttl,
        node=node,
        freeze_gc=True,  # this process is ours: keep its full collections short
        http=http,
    )
    try:
        cron.run(
            force=force,
            watch=watch,
            watch_interval=watch_interval,
            handle_signals=True,
            shutdown_timeout=shutdown_timeout,
            heartbeat=HeartbeatSpec(heartbeat, heartbeat_interval) if heartbeat else None,
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
