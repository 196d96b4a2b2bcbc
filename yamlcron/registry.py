"""The plugin registry: one pluggy manager per application object, never a module global."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pluggy

from yamlcron import hookspecs
from yamlcron.errors import PluginError, StoreError
from yamlcron.hookspecs import StoreFactory
from yamlcron.model import Executor, Store

#: The built-in components, registered through the same hooks as a third-party plugin.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "yamlcron.plugins.sqlite",
    "yamlcron.plugins.subprocess",
    "yamlcron.plugins.thread",
    "yamlcron.plugins.process",
)
#: Set (to anything) to skip plugins installed through the ``yamlcron`` entry-point group.
DISABLE_AUTOLOAD_ENV = "YAMLCRON_DISABLE_PLUGIN_AUTOLOAD"


@dataclass(frozen=True, slots=True)
class Registry:
    """The loaded plugins and the components they provide, by name."""

    manager: pluggy.PluginManager
    stores: Mapping[str, StoreFactory]
    executors: Mapping[str, Executor]

    def executor(self, name: str) -> Executor:
        """The executor ``name``; PluginError naming the installed ones if it is unknown."""
        found = self.executors.get(name)
        if found is None:
            known = ", ".join(sorted(self.executors)) or "none"
            raise PluginError(f"unknown executor '{name}'; installed: {known}")
        return found

    def open_store(self, url: str, *, create: bool) -> Store:
        """Open the store at ``url`` through the plugin registered for its scheme."""
        scheme = url.split("://", 1)[0] if "://" in url else "sqlite"
        factory = self.stores.get(scheme)
        if factory is None:
            known = ", ".join(sorted(self.stores)) or "none"
            raise StoreError(f"no store for '{scheme}://' URLs; installed: {known}")
        return factory(url if "://" in url else f"sqlite://{url}", create=create)


def build_registry(*, autoload: bool = True, extra: Iterable[object] = ()) -> Registry:
    """Load the built-ins, entry-point plugins (unless disabled) and ``extra`` plugin objects."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for name in BUILTIN_PLUGINS:
        manager.register(importlib.import_module(name), name=name)
    if autoload and not os.environ.get(DISABLE_AUTOLOAD_ENV):
        manager.load_setuptools_entrypoints(hookspecs.PROJECT)
    for plugin in extra:
        manager.register(plugin)
    manager.check_pending()
    return Registry(
        manager=manager,
        stores=_collect(manager, "yamlcron_stores"),
        executors=_collect(manager, "yamlcron_executors"),
    )


def _collect(manager: pluggy.PluginManager, hook_name: str) -> dict[str, Any]:
    """Merge what every implementation of a discovery hook returns; duplicates are errors."""
    found: dict[str, Any] = {}
    owners: dict[str, str] = {}
    for impl in getattr(manager.hook, hook_name).get_hookimpls():
        owner = impl.plugin_name
        for name, component in impl.function().items():
            if name in found:
                raise PluginError(f"'{name}' is provided by both {owners[name]} and {owner}")
            found[name], owners[name] = component, owner
    return found
