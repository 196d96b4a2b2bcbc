"""The plugin registry: one pluggy manager per application object, never a module global."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pluggy

from yamlcron import hookspecs
from yamlcron.errors import PluginError, StoreError
from yamlcron.interfaces import Executor, Notifier, Store, StoreFactory
from yamlcron.model import Components
from yamlcron.remote import is_remote

T = TypeVar("T")

#: The built-in components, registered through the same hooks as a third-party plugin.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "yamlcron.plugins.sqlite",
    "yamlcron.plugins.postgres",
    "yamlcron.plugins.subprocess",
    "yamlcron.plugins.thread",
    "yamlcron.plugins.process",
    "yamlcron.plugins.log",
    "yamlcron.plugins.webhook",
    "yamlcron.plugins.command",
    "yamlcron.plugins.healthchecks",
    "yamlcron.plugins.apprise",
    "yamlcron.plugins.celery",
)
#: Set (to anything) to skip plugins installed through the ``yamlcron`` entry-point group.
DISABLE_AUTOLOAD_ENV = "YAMLCRON_DISABLE_PLUGIN_AUTOLOAD"
#: Comma-separated plugin names (built-in module names or entry-point names) not to load.
DISABLED_PLUGINS_ENV = "YAMLCRON_DISABLED_PLUGINS"
_DISCOVERY = {
    "executors": "yamlcron_executors",
    "notifiers": "yamlcron_notifiers",
    "stores": "yamlcron_stores",
}


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """A loaded plugin: its name, where it came from, its hooks and what it provides."""

    name: str
    origin: str  # "built-in", "entry point (dist 1.2)" or "registered"
    version: str | None
    hooks: tuple[str, ...]
    provides: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Registry:
    """The loaded plugins and the components they provide, by name."""

    manager: pluggy.PluginManager
    stores: Mapping[str, StoreFactory]
    executors: Mapping[str, Executor]
    notifiers: Mapping[str, Notifier]
    plugins: tuple[PluginInfo, ...] = field(default=())
    #: Whether entry-point plugins were loaded (so an unloaded one was installed later).
    autoload: bool = False

    @property
    def components(self) -> Components:
        """What a manifest may name, for its validation."""
        return Components(
            executors=frozenset(self.executors),
            notifiers={name: n.options_schema for name, n in self.notifiers.items()},
            executor_options={
                name: schema
                for name, e in self.executors.items()
                if (schema := getattr(e, "options_schema", None)) is not None
            },
            remote=frozenset(n for n, e in self.executors.items() if is_remote(e)),
        )

    def executor(self, name: str) -> Executor:
        """The executor ``name``; PluginError naming the installed ones if it is unknown."""
        return _named(self.executors, name, "executor")

    def notifier(self, name: str) -> Notifier:
        """The notifier ``name``; PluginError naming the installed ones if it is unknown."""
        return _named(self.notifiers, name, "notifier")

    def installed_since(self) -> tuple[str, ...]:
        """Entry-point plugins installed now that this registry did not load, as ``name (dist)``.

        A registry loads the entry points there are when it is built: a plugin installed
        into a running ``yamlcron run`` afterwards is not loaded before a restart.
        """
        if not self.autoload:
            return ()
        loaded = {name for name, _ in self.manager.list_name_plugin()}
        return tuple(
            sorted(
                f"{ep.name} ({ep.dist.name})" if ep.dist else ep.name
                for ep in importlib.metadata.entry_points(group=hookspecs.PROJECT)
                if ep.name not in loaded and not self.manager.is_blocked(ep.name)
            )
        )

    def restart_hint(self) -> str:
        """For an error about an unknown component: ``""``, or which plugins a restart loads.

        The daemon appends it to a failed reload ("unknown executor 'x'"), whose cause is
        then a plugin installed after it started.
        """
        late = self.installed_since()
        if not late:
            return ""
        return (
            f"; installed after this process started, so loaded once it restarts: {', '.join(late)}"
        )

    def open_store(self, url: str, *, create: bool) -> Store:
        """Open the store at ``url`` through the plugin registered for its scheme."""
        scheme = url.split("://", 1)[0] if "://" in url else "sqlite"
        factory = self.stores.get(scheme)
        if factory is None:
            known = ", ".join(sorted(self.stores)) or "none"
            raise StoreError(f"no store for '{scheme}://' URLs; installed: {known}")
        return factory(url if "://" in url else f"sqlite://{url}", create=create)


def _named(components: Mapping[str, T], name: str, kind: str) -> T:
    found = components.get(name)
    if found is None:
        known = ", ".join(sorted(components)) or "none"
        raise PluginError(f"unknown {kind} '{name}'; installed: {known}")
    return found


def build_registry(
    *, autoload: bool = True, extra: Iterable[object] = (), blocked: Iterable[str] = ()
) -> Registry:
    """Load the built-ins, entry-point plugins (unless disabled) and ``extra`` plugin objects.

    Raises:
        PluginError: a plugin implements an unknown hook, fails to load, or provides a
            component name another plugin provides too.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    disabled = {n.strip() for n in os.environ.get(DISABLED_PLUGINS_ENV, "").split(",") if n.strip()}
    for name in {*disabled, *blocked}:
        manager.set_blocked(name)
    autoload = autoload and not os.environ.get(DISABLE_AUTOLOAD_ENV)
    origins = _load(manager, autoload, extra)
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {exc.plugin!r} implements an unknown hook: {exc}") from None
    found: dict[str, dict[str, Any]] = {}
    provides: dict[str, dict[str, list[str]]] = {}  # plugin -> kind -> names
    for kind, hook in _DISCOVERY.items():
        found[kind], owners = _collect(manager, hook)
        for name, owner in owners.items():
            provides.setdefault(owner, {}).setdefault(kind, []).append(name)
    return Registry(
        manager=manager,
        stores=found["stores"],
        executors=found["executors"],
        notifiers=found["notifiers"],
        plugins=_describe(manager, origins, provides),
        autoload=autoload,
    )


def _load(manager: pluggy.PluginManager, autoload: bool, extra: Iterable[object]) -> dict[str, str]:
    """Register the built-ins, the entry-point plugins and ``extra``; where each came from."""
    origins: dict[str, str] = {}
    for name in BUILTIN_PLUGINS:
        if not manager.is_blocked(name):
            manager.register(importlib.import_module(name), name=name)
            origins[name] = "built-in"
    if autoload:
        try:
            manager.load_setuptools_entrypoints(hookspecs.PROJECT)
        except Exception as exc:  # a broken third-party package: say which, in one line
            raise PluginError(f"cannot load a 'yamlcron' entry-point plugin: {exc}") from exc
    for plugin in extra:
        registered = manager.register(plugin)
        if registered is not None:
            origins[registered] = "registered"
    return origins


def _collect(
    manager: pluggy.PluginManager, hook_name: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge what every implementation of a discovery hook returns, with each name's plugin.

    A name two plugins provide is an error naming both.
    """
    found: dict[str, Any] = {}
    owners: dict[str, str] = {}
    for impl in getattr(manager.hook, hook_name).get_hookimpls():
        owner = impl.plugin_name
        try:
            provided = impl.function()
        except Exception as exc:
            raise PluginError(f"plugin {owner} failed in {hook_name}: {exc}") from exc
        for name, component in provided.items():
            if name in found:
                raise PluginError(
                    f"{hook_name[9:-1]} '{name}' is provided by both {owners[name]} and {owner}"
                )
            found[name], owners[name] = component, owner
    return found, owners


def _describe(
    manager: pluggy.PluginManager,
    origins: Mapping[str, str],
    provides: Mapping[str, Mapping[str, list[str]]],
) -> tuple[PluginInfo, ...]:
    dists = {id(plugin): dist for plugin, dist in manager.list_plugin_distinfo()}
    infos = []
    for name, plugin in manager.list_name_plugin():
        if plugin is None:
            continue
        dist = dists.get(id(plugin))
        version = dist.version if dist is not None else None
        origin = origins.get(name) or (
            f"entry point ({dist.project_name})" if dist else "registered"
        )
        hooks = tuple(sorted(impl.name for impl in manager.get_hookcallers(plugin) or ()))
        mine = {kind: tuple(sorted(names)) for kind, names in provides.get(name, {}).items()}
        infos.append(PluginInfo(name, origin, version, hooks, mine))
    return tuple(sorted(infos, key=lambda i: (i.origin != "built-in", i.name)))
