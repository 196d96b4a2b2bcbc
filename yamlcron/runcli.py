"""The commands of a running yamlcron: ``run``, ``history``, ``trigger``, ``pause``, ``resume``."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import click

from yamlcron.cli import (
    App,
    _cell,
    _echo_json,
    _manifest_options,
    _now,
    _output_option,
    _store_option,
    _table,
)
from yamlcron.durations import parse_duration
from yamlcron.errors import UnknownJobError
from yamlcron.model import JobSpec, StoredJob, label
from yamlcron.runs import Queued, Replica, Run, RunStatus, Store
from yamlcron.schedulerconfig import DEFAULT_TTL

# As in cli.py, a command imports what only it needs (the scheduler, the file watcher...).
if TYPE_CHECKING:
    from yamlcron.app import Yamlcron
    from yamlcron.registry import Registry

log = logging.getLogger("yamlcron.run")


def add_runtime_commands(cli: click.Group) -> None:
    """Add the runtime commands to the group."""

    @cli.command("run")
    @_manifest_options
    @_store_option
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
    def run_command(
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
        from yamlcron import reconcile
        from yamlcron.app import Yamlcron, summary
        from yamlcron.manifest import load_manifest

        probe = app.manifest_store(manifest_path, store_url)
        try:
            known = reconcile.current_record(manifest_path, probe, app.rules) is not None
        finally:
            probe.close()
        # The manifest applied last starts without a parse (``prepare``); any other is
        # validated before the store is created or locked: an invalid one changes nothing.
        manifest = None if known else load_manifest(manifest_path, app.registry.components)
        cron = Yamlcron(
            manifest_path,
            store=store_url,
            registry=app.registry,
            workers=workers,
            lease_ttl=lease_ttl,
            node=node,
            freeze_gc=True,  # this process is ours: keep its full collections short
        )
        plan = cron.prepare(force=force, manifest=manifest)
        jobs = plan.unchanged + len(plan.add) + len(plan.change)
        log.info("running %d jobs from %s (%s)", jobs, manifest_path, summary(plan))
        applied = cron.scheduler.source
        digest = None if applied is None else applied.digest
        stop_watching = _watch(cron, digest, watch_interval) if watch else (lambda: None)
        _handle_signals(cron)
        try:
            cron.scheduler.run_forever()
        finally:
            stop_watching()
            log.info("stopping: waiting up to %s s for runs under way", shutdown_timeout)
            cron.stop(shutdown_timeout)
            log.info("stopped")

    @cli.command("history")
    @click.argument("job_id", metavar="[JOB]", required=False)
    @_manifest_options
    @_store_option
    @_output_option
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
    def history_command(
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
        store = app.read_store(manifest_path, store_url)
        try:
            if run_id is not None:
                runs = [_one_run(store, run_id, job_id)]
            else:
                if job_id is not None:
                    _check_job(store, job_id)
                runs = store.runs(job_id, limit=limit, statuses=statuses, since=moment)
            zones = _zones(store, runs)
        finally:
            store.close()

        def times(run: Run) -> Callable[[datetime], str]:
            return lambda m: app.shown(m, zones.get(run.job_id, UTC))

        if output == "json":
            shapes = [_run_json(r, times(r)) for r in runs]
            _echo_json(shapes[0] if run_id is not None else shapes)
        elif run_id is not None:
            click.echo(_run_text(runs[0], times(runs[0])))
        else:
            rows = [_run_row(r, times(r)) for r in runs]
            click.echo(_table(HISTORY_HEADERS, rows))
            if rows:
                click.echo("('yamlcron history --run RUN' shows one run's output and traceback)")

    @cli.command("trigger")
    @click.argument("job_id", metavar="JOB")
    @_manifest_options
    @_store_option
    @_output_option
    @click.option("--wait", is_flag=True, help="Wait for the outcome; exit 0 only on success.")
    @click.option(
        "--timeout",
        type=click.FloatRange(0),
        help="Give up after this many s (implies --wait) and exit 124: stop waiting for "
        "the daemon's run, or stop the run made here (recorded interrupted).",
    )
    @click.pass_obj
    def trigger_command(
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
        from yamlcron.triggers import zone

        store = app.read_store(manifest_path, store_url)
        try:
            tz = zone(_stored(store, job_id).spec.trigger.timezone)

            def shown(moment: datetime) -> str:
                return app.shown(moment, tz)

            if store.daemon_alive():
                waiting = wait or timeout is not None
                run = _through_daemon(store, job_id, output, waiting, timeout, shown)
                if run is None:
                    return
                stopped = None
            else:
                folder = manifest_path.absolute().parent
                run, stopped = _run_here(app.registry, store, folder, job_id, timeout)
        finally:
            store.close()
        if output == "json":
            _echo_json(_run_json(run, shown))
        else:
            click.echo(_describe(run))
            if run.output:
                click.echo(run.output.rstrip("\n"))
        if stopped == _TIMED_OUT:
            # Unless it ended first on its own (a thread call, which cannot be stopped).
            if run.status == RunStatus.INTERRUPTED:
                _give_up(job_id, timeout, "the run was stopped")
        elif stopped is not None:
            click.echo("interrupted", err=True)
            raise SystemExit(128 + stopped)
        if run.status != RunStatus.SUCCESS:
            raise SystemExit(1)

    @cli.command("replicas")
    @_manifest_options
    @_store_option
    @_output_option
    @click.pass_obj
    def replicas_command(app: App, manifest_path: Path, store_url: str | None, output: str) -> None:
        """List the live `yamlcron run` replicas: lease age, expiry, what each is running.

        A replica whose lease runs out (it stopped renewing: killed, frozen, cut off)
        leaves this list, and the others mark its runs interrupted and retry them. On
        SQLite the daemon lock is the lease: the daemon is listed while it holds the lock.

        \b
        Example:
          yamlcron replicas --store postgresql://cron@db/cron
        """
        store = app.read_store(manifest_path, store_url)
        try:
            live = store.replicas()
        finally:
            store.close()
        if output == "json":
            _echo_json([_replica_json(r, app) for r in live])
            return
        now = _now()
        rows = [
            [
                r.node,
                str(r.token),
                app.shown(r.started_at, timespec="seconds"),
                *(
                    ("-", "when it stops")  # held by the SQLite daemon lock: no heartbeat
                    if r.expires_at is None
                    else (
                        f"{(now - r.heartbeat_at).total_seconds():.1f}s",
                        f"{(r.expires_at - now).total_seconds():.1f}s",
                    )
                ),
                ", ".join(r.running) or "-",
            ]
            for r in live
        ]
        headers = ("NODE", "TOKEN", "STARTED", "LEASE AGE", "EXPIRES IN", "RUNNING")
        click.echo(_table(headers, rows) if rows else "no live replicas")

    @cli.command("pause")
    @click.argument("job_id", metavar="JOB")
    @_manifest_options
    @_store_option
    @click.pass_obj
    def pause_command(app: App, job_id: str, manifest_path: Path, store_url: str | None) -> None:
        """Stop firing JOB until `resume`, whatever the manifest says (shown as drift by `plan`).

        \b
        Example:
          yamlcron pause nightly-report
        """
        _set_pause(app, manifest_path, store_url, job_id, pause=True)
        click.echo(f"paused {job_id}")

    @cli.command("resume")
    @click.argument("job_id", metavar="JOB")
    @_manifest_options
    @_store_option
    @click.pass_obj
    def resume_command(app: App, job_id: str, manifest_path: Path, store_url: str | None) -> None:
        """Fire JOB again from now on; fires missed while paused are not caught up.

        \b
        Example:
          yamlcron resume nightly-report
        """
        from yamlcron.triggers import zone

        spec, following = _set_pause(app, manifest_path, store_url, job_id, pause=False)
        when = app.shown(following, zone(spec.trigger.timezone)) if following else "none"
        click.echo(f"resumed {job_id}; next run {when}")


def _set_pause(
    app: App, manifest_path: Path, store_url: str | None, job_id: str, *, pause: bool
) -> tuple[JobSpec, datetime | None]:
    """Set the runtime override; resuming fires again from now, without catching up."""
    from yamlcron.reconcile import first_fire

    store = app.read_store(manifest_path, store_url)
    try:
        job = _stored(store, job_id)
        if pause:
            following = job.next_run_at
            store.set_paused(job_id, True, following)
        else:
            # Back to what the manifest says, unless the manifest itself pauses the job.
            following = first_fire(job.spec, _now(), job.anchor)
            store.set_paused(job_id, False if job.spec.paused else None, following)
        store.ring()
    finally:
        store.close()
    return job.spec, following


#: ``trigger`` gave up (``--timeout``): GNU timeout's exit code, distinct from a failed run.
EXIT_GAVE_UP = 124
#: What ``_run_here`` reports when its ``--timeout`` stopped the run, not a signal.
_TIMED_OUT = 0


def _through_daemon(
    store: Store,
    job_id: str,
    output: str,
    wait: bool,
    timeout: float | None,
    shown: Callable[[datetime], str],
) -> Run | None:
    """Queue a fire for the daemon: its final run when waiting, else None (and say so)."""
    from yamlcron.app import RunHandle

    now = _now()
    store.enqueue(Queued(job_id=job_id, due_at=now, scheduled_at=now))
    store.ring()
    if not wait:
        if output == "json":
            _echo_json({"job_id": job_id, "queued": True, "scheduled_at": shown(now)})
        else:
            click.echo(f"queued a run of {job_id} for the running daemon")
        return None
    try:
        return RunHandle(store, job_id, now).result(timeout)
    except TimeoutError:
        _give_up(job_id, timeout, "it goes on in the daemon")


def _run_here(
    registry: Registry, store: Store, folder: Path, job_id: str, timeout: float | None
) -> tuple[Run, int | None]:
    """Run the fire in this process as the daemon would, announced to the same notifiers.

    SIGINT or SIGTERM, or ``timeout`` seconds, stop it (``Scheduler.cancel``): the run's
    process group is stopped and the run recorded ``interrupted``. Returns the fire's
    run and what stopped it: the signal's number, ``_TIMED_OUT``, or None.
    """
    from yamlcron.eventbus import EventBus
    from yamlcron.scheduler.groupcommit import InlineCommit
    from yamlcron.scheduler.loop import Scheduler
    from yamlcron.scheduler.parts import BusListener, Parts
    from yamlcron.scheduler.pool import InlinePool

    store.lock_daemon()
    record = store.last_applied()
    shared = (record.notify or ()) if record is not None else ()
    events = EventBus(registry)
    listener = BusListener(events, lambda: shared)
    parts = Parts(listener=listener, pool=InlinePool(), commit=InlineCommit)
    scheduler = Scheduler(store, registry, folder, parts=parts)
    stopped: list[int] = []

    def stop(why: int) -> None:
        stopped.append(why)
        scheduler.cancel()

    timer = None if timeout is None else threading.Timer(timeout, stop, (_TIMED_OUT,))
    try:
        with _stopping_on_signals(stop):
            if timer is not None:
                timer.start()
            run = scheduler.run_now(job_id)
    finally:
        if timer is not None:
            timer.cancel()
            timer.join()
        scheduler.stop(timeout=0)
        events.close()  # deliver the run's notifications before this process ends
    return run, stopped[0] if stopped else None


@contextmanager
def _stopping_on_signals(stop: Callable[[int], None]) -> Iterator[None]:
    """The first SIGINT or SIGTERM calls ``stop(signum)``; a second one acts as usual.

    Only the main thread may set signal handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGINT, signal.SIGTERM)

    def handle(signum: int, frame: FrameType | None) -> None:
        for each in signals:  # a second one leaves at once, even if the run does not stop
            signal.signal(each, previous[each])
        stop(signum)

    previous = {each: signal.getsignal(each) for each in signals}
    for each in signals:
        signal.signal(each, handle)
    try:
        yield
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)


def _give_up(job_id: str, timeout: float | None, what: str) -> NoReturn:
    """``--timeout`` ran out: one line, exit 124."""
    click.echo(f"error: gave up on the run of {job_id} after {timeout} s; {what}", err=True)
    raise SystemExit(EXIT_GAVE_UP)


HISTORY_HEADERS = (
    "RUN",
    "JOB",
    "SCHEDULED",
    "TRY",
    "STATUS",
    "EXIT",
    "TOOK",
    "NODE",
    "MANIFEST",
    "DETAIL",
)


def _stored(store: Store, job_id: str) -> StoredJob:
    job = store.load_jobs([job_id]).get(job_id)
    if job is None:
        raise _unknown_job(store, job_id)
    return job


def _unknown_job(store: Store, job_id: str) -> UnknownJobError:
    """The error for a job id the store does not hold, with the nearest one it does."""
    from yamlcron.schemaerrors import did_you_mean

    if store.last_applied() is None:
        return UnknownJobError(f"no job '{job_id}': nothing was applied yet; run 'yamlcron apply'")
    # The nearest stored id, else the likely cause: a job added to the manifest, not applied.
    hint = did_you_mean(job_id, list(store.load_jobs())) or "; run 'yamlcron apply' first"
    return UnknownJobError(f"no job '{job_id}' in the store{hint}")


def _check_job(store: Store, job_id: str) -> None:
    """A job with history is known even when it was removed (its history is kept)."""
    if job_id not in store.load_jobs([job_id]) and not store.runs(job_id, limit=1):
        raise _unknown_job(store, job_id)


def _one_run(store: Store, run_id: int, job_id: str | None) -> Run:
    run = store.run(run_id)
    if run is None or (job_id is not None and run.job_id != job_id):
        of = "" if job_id is None else f" of job '{job_id}'"
        raise UnknownJobError(f"no run {run_id}{of} in the store; see 'yamlcron history'")
    return run


def _zones(store: Store, runs: list[Run]) -> dict[str, tzinfo]:
    """The time zone of each job of ``runs`` that is still stored (a removed one's: UTC)."""
    from yamlcron.triggers import zone

    jobs = store.load_jobs({r.job_id for r in runs})
    return {job_id: zone(job.spec.trigger.timezone) for job_id, job in jobs.items()}


def _since(text: str, app: App) -> datetime:
    """``--since``: a duration ago, or an ISO 8601 datetime (no offset: this host's zone)."""
    from yamlcron.manifest import parse_datetime

    try:
        return _now() - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    local = UTC if app.utc else datetime.now().astimezone().tzinfo or UTC
    try:
        return parse_datetime(text, local)
    except ValueError:
        message = f"{text!r} is neither an ISO 8601 datetime nor a duration such as 1h"
        raise click.BadParameter(message, param_hint="--since") from None


def _run_json(run: Run, times: Callable[[datetime], str] = datetime.isoformat) -> dict[str, object]:
    """SPEC §6's shape, word for word, with datetimes written by ``times``."""
    full = run.to_json()
    keys = (
        "id",
        "job_id",
        "scheduled_at",
        "started_at",
        "finished_at",
        "attempt",
        "status",
        "exit_code",
        "result",
        "error",
        "output",
        "node",
    )
    shape = {k: full[k] for k in keys}
    for key, moment in _moments(run):
        shape[key] = None if moment is None else times(moment)
    return shape


def _replica_json(replica: Replica, app: App) -> dict[str, Any]:
    """``Replica.to_json`` with its times in this host's zone, or UTC (the rule of every time)."""
    shape = replica.to_json()
    for key in ("started_at", "heartbeat_at", "expires_at"):
        if shape[key] is not None:
            shape[key] = app.shown(datetime.fromisoformat(shape[key]))
    return shape


def _moments(run: Run) -> tuple[tuple[str, datetime | None], ...]:
    return (
        ("scheduled_at", run.scheduled_at),
        ("started_at", run.started_at),
        ("finished_at", run.finished_at),
    )


def _took(run: Run) -> str:
    # A missed or skipped fire never ran: its zero duration would read as a run.
    never_ran = run.status in (RunStatus.MISSED, RunStatus.SKIPPED)
    if run.started_at is None or run.finished_at is None or never_ran:
        return "-"
    return f"{(run.finished_at - run.started_at).total_seconds():.2f}s"


def _run_row(run: Run, times: Callable[[datetime], str]) -> list[str]:
    detail = ""
    if run.error:
        detail = str(run.error.get("message", ""))
    elif run.result is not None:
        detail = f"result: {run.result!r}"
    elif run.output:
        detail = run.output.strip().splitlines()[-1] if run.output.strip() else ""
    return [
        str(run.id),
        run.job_id,
        times(run.scheduled_at.replace(microsecond=0)),
        str(run.attempt),
        run.status.value,
        _cell(run.exit_code),
        _took(run),
        run.node or "-",
        label(run.manifest_digest, run.manifest_commit),
        detail[:60],
    ]


def _run_text(run: Run, times: Callable[[datetime], str]) -> str:
    """One run for people: the summary line, its times and where, then traceback and output."""
    lines = [_describe(run)]
    for key, moment in _moments(run):
        lines.append(f"  {key.removesuffix('_at') + ':':<11}{_cell(moment and times(moment))}")
    lines.append(f"  {'node:':<11}{run.node or '-'}")
    lines.append(f"  {'manifest:':<11}{label(run.manifest_digest, run.manifest_commit)}")
    if run.cause_run_id is not None:
        lines.append(f"  {'after run:':<11}{run.cause_run_id}")
    trace = run.error.get("traceback") if run.error else None
    if trace:
        lines += ["traceback:", str(trace).rstrip("\n")]
    lines += ["output:", run.output.rstrip("\n")] if run.output else ["output: none"]
    return "\n".join(lines)


def _describe(run: Run) -> str:
    code = "" if run.exit_code is None else f", exit {run.exit_code}"
    took = _took(run)
    text = f"run {run.id} of {run.job_id} (attempt {run.attempt}): {run.status.value}{code}"
    if took != "-":
        text += f" in {took}"
    if run.result is not None:
        text += f"; result {run.result!r}"
    if run.error:
        text += f"; {run.error.get('type')}: {run.error.get('message')}"
    return text


def _watch(cron: Yamlcron, applied: str | None, interval: float) -> Callable[[], None]:
    from yamlcron.watch import ManifestWatcher

    watcher = ManifestWatcher(cron.path, cron.reload, applied=applied, interval=interval)
    watcher.start()
    return watcher.stop


def _handle_signals(cron: Yamlcron) -> None:
    """SIGTERM/SIGINT: stop firing (twice: stop runs now). SIGHUP: reload."""
    received = 0

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal received
        received += 1
        if received == 1:
            log.info("%s: stopping", signal.Signals(signum).name)
            cron.scheduler.request_stop()
        else:
            log.warning("%s again: stopping runs now", signal.Signals(signum).name)
            cron.scheduler.cancel()

    def reload(signum: int, frame: FrameType | None) -> None:
        log.info("SIGHUP: reloading %s", cron.path)
        threading.Thread(target=cron.reload, name="yamlcron-reload", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)
