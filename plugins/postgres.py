"""The PostgreSQL store, registered under the ``postgresql`` and ``postgres`` URL schemes.

``--store postgresql://user@host/db``; everything after ``?`` goes to libpq, so
``?options=-csearch_path%3Dteam_a`` keeps one deployment's tables in a schema of their own.
Needs psycopg 3: ``pip install 'yamlcron[postgres]'``. The dialect is ``postgres_dialect``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from yamlcron.hookspecs import hookimpl
from yamlcron.interfaces import StoreFactory

if TYPE_CHECKING:
    from yamlcron.interfaces import Store


def open_postgres(url: str, *, create: bool) -> Store:
    """``postgresql://user:password@host:port/database?libpq-options``."""
    # Imported here: every command registers this plugin, few open a PostgreSQL store (and
    # the store brings the shared SQL along).
    from .postgres_dialect import PostgresStore

    return PostgresStore(url, create=create)


@hookimpl
def yamlcron_stores() -> Mapping[str, StoreFactory]:
    return {"postgresql": open_postgres, "postgres": open_postgres}
