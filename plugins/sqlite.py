"""The built-in SQLite store, registered under the ``sqlite`` URL scheme."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from yamlcron.errors import StoreError
from yamlcron.hookspecs import StoreFactory, hookimpl
from yamlcron.runs import Store
from yamlcron.store import SQLiteStore


def open_sqlite(url: str, *, create: bool) -> Store:
    """``sqlite:///abs/path.db``, ``sqlite://relative/path.db`` or ``sqlite://:memory:``."""
    target = url.removeprefix("sqlite://")
    if not target:
        raise StoreError(f"the store URL {url!r} names no file")
    return SQLiteStore(None if target == ":memory:" else Path(target), create=create)


@hookimpl
def yamlcron_stores() -> Mapping[str, StoreFactory]:
    return {"sqlite": open_sqlite}
