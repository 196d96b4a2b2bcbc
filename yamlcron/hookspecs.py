"""The hooks a yamlcron plugin implements: the plugin author's page.

A plugin is a module (or any object) with functions marked ``@yamlcron.hookimpl`` whose
names are hooks below. Built-in components live in ``plugins/`` and use these hooks exactly
as a third-party package does through the ``yamlcron`` entry-point group.

Discovery hooks are called once, when the application's registry is built, on the thread
that builds it. Each returns a mapping of names to components; a name two plugins both
provide is an error that names both plugins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import pluggy

from yamlcron.model import Executor, Store

PROJECT = "yamlcron"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class StoreFactory(Protocol):
    """Opens a store for a URL of the scheme it was registered under."""

    def __call__(self, url: str, *, create: bool) -> Store:
        """Open the store at ``url``.

        With ``create`` false, nothing may be written: a missing store reads as an empty
        one (``plan`` against a store that does not exist yet plans against nothing).
        Raise ``yamlcron.errors.StoreError`` with a one-line message when it cannot open.
        """
        ...


@hookspec
def yamlcron_stores() -> Mapping[str, StoreFactory]:  # type: ignore[empty-body]
    """Provide job stores by URL scheme: ``{"sqlite": open_sqlite}``.

    Called once at start-up, on the thread that builds the registry. The scheme is the part
    of ``--store`` before ``://`` (``postgresql://...``).
    """


@hookspec
def yamlcron_executors() -> Mapping[str, Executor]:  # type: ignore[empty-body]
    """Provide executors by name: ``{"docker": DockerExecutor()}``.

    Called once at start-up, on the thread that builds the registry. A job names its
    executor with ``executor:``; the default is ``subprocess`` for ``command`` and ``shell``
    and ``thread`` for ``call``. ``Executor.execute`` is called on a scheduler worker
    thread, once per run, and may block for as long as the run lasts.
    """
