"""The built-in SQLite store, registered under the ``sqlite`` URL scheme."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from yamlcron.errors import StoreError
from yamlcron.hookspecs import hookimpl
from yamlcron.interfaces import StoreFactory

if TYPE_CHECKING:
    from yamlcron.interfaces import Store


def open_sqlite(url: str, *, create: bool) -> Store:
    """``sqlite:///abs/path.db``, ``sqlite://relative/path.db`` or ``sqlite://:memory:``."""
    # Imported here: every command registers this plugin, few open a store (and the store
    # brings sqlite3 and the file watcher along).
    from yamlcron.store.sqlite import SQLiteStore

    target = url.removeprefix("sqlite://")
    if not target:
        raise StoreError(f"the store URL {url!r} names no file")
    return SQLiteStore(None if target == ":memory:" else Path(target), create=create)


@hookimpl
def yamlcron_stores() -> Mapping[str, StoreFactory]:
    return {"sqlite": open_sqlite}
