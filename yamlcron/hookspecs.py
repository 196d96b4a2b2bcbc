"""The hooks a yamlcron plugin implements: with ``interfaces.py``, the plugin author's page.

This module says which hooks there are and when each is called; ``interfaces.py`` says what
the components the discovery hooks return must do.

A plugin is a module, or any object, with functions marked ``@yamlcron.hookimpl`` named
after the hooks below. yamlcron's own executors, notifiers and stores live in its
``plugins/`` folder and use exactly these hooks; a third-party package registers through
the ``yamlcron`` entry-point group::

    [project.entry-points.yamlcron]
    myplugin = "myplugin.plugin"

A hook implementation may take any subset of the hook's parameters, by name.

**Discovery hooks** (``yamlcron_executors``, ``yamlcron_notifiers``, ``yamlcron_stores``)
are called once, when the registry is built (at the start of every command), on the thread
that builds it. Each returns a mapping of names to components. A name that two plugins
provide is an error naming both plugins; an exception raised here stops the command with
the plugin's name, since a half-loaded set of components is worse than none.

**Event hooks** (``yamlcron_job_event``, ``yamlcron_manifest_event``,
``yamlcron_run_event``) are fire-and-forget. They are called on yamlcron's event thread,
never on the scheduler's loop, each implementation on its own: one that raises is logged
with its plugin's name and the others are still called; one that blocks delays only later
events, never a run. They return nothing. Because each implementation is called on its own,
event hooks cannot be hookwrappers.
"""

from __future__ import annotations

from collections.abc import Mapping

import pluggy

from yamlcron.events import JobEvent, ManifestEvent, RunEvent
from yamlcron.interfaces import Executor, Notifier, StoreFactory

PROJECT = "yamlcron"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: The event hooks: called one implementation at a time, isolated from each other.
EVENT_HOOKS = ("yamlcron_job_event", "yamlcron_manifest_event", "yamlcron_run_event")


@hookspec
def yamlcron_executors() -> Mapping[str, Executor]:  # type: ignore[empty-body]
    """Provide executors by name: ``{"docker": DockerExecutor()}``.

    A job chooses one with ``executor: docker``; the default is ``subprocess`` for
    ``command`` and ``shell`` runs and ``thread`` for ``call`` runs. An unknown name is a
    located manifest error listing the installed ones. ``Executor.execute(context)`` is
    called on a scheduler worker thread, once per run, and may block for as long as the
    run lasts; it must honour ``context.job.run.timeout`` and ``context.cancel``. An
    exception escaping it is recorded as the run's failure, with its traceback.

    An executor with an ``options_schema`` takes options (``executor: {via: docker,
    ...}`` and the manifest's ``executors: {docker: {...}}``), validated like a
    notifier's and handed over as ``context.job.executor_options``. One that also
    implements ``yamlcron.remote.RemoteExecutor`` runs ``task`` runs on another engine
    and is never given a worker thread per run (``docs/plugins.md``).
    """


@hookspec
def yamlcron_notifiers() -> Mapping[str, Notifier]:  # type: ignore[empty-body]
    """Provide notifiers by name: ``{"slack": SlackNotifier()}``.

    A manifest uses one with ``notify: [{via: slack, on: [failure], channel: ops}]``. The
    entry's options (every key but ``via`` and ``on``) are validated against the notifier's
    ``options_schema`` with the rest of the manifest; ``${VAR}`` in string options is
    expanded just before each call. ``Notifier.notify(event, options)`` is called on a
    notification thread for each event whose kinds meet the entry's ``on`` list.
    """


@hookspec
def yamlcron_stores() -> Mapping[str, StoreFactory]:  # type: ignore[empty-body]
    """Provide job stores by URL scheme: ``{"postgresql": open_postgres}``.

    The scheme is the part of ``--store`` before ``://``. The factory is called once per
    command, on the main thread; the store it returns must be safe to use from several
    threads (``interfaces.Store`` documents each method).
    """


@hookspec
def yamlcron_job_event(event: JobEvent) -> None:
    """A job was added, changed or removed by an apply (``event.kind``).

    Called on the event thread after the apply's transaction committed, once per job.
    """


@hookspec
def yamlcron_manifest_event(event: ManifestEvent) -> None:
    """A manifest was ``applied``, or a reload ``reload_failed`` or was ``plan_refused``.

    ``applied`` is announced when an apply, a start or a reload added, changed or removed
    a job; a start on the manifest already applied, or a new git commit that changed no
    job, announces nothing. ``event.folder`` is the manifest's folder.

    Called on the event thread. For failures ``event.message`` holds the located error
    lines (``jobs.yaml:3:5: ...``); the last good manifest is still running.
    """


@hookspec
def yamlcron_run_event(event: RunEvent) -> None:
    """A run was submitted, started, or ended (``event.kind``).

    Kinds: ``submitted``, ``started``, ``succeeded``, ``failed`` (finally), ``retried``
    (failed, another attempt queued), ``interrupted``, ``missed`` or ``skipped``.

    Called on the event thread, after the run's record was written; ``event.run`` is that
    record and ``event.job`` the job's spec. ``event.notify_kinds`` are the ``on:`` words it
    matches (``success``, ``failure``, ``recovery``, ...).
    """
