"""The configured storage of this process: settings → database and object store, opened once."""

from __future__ import annotations

from functools import lru_cache

from dockpatrol.settings import get_settings
from storage.db import Database
from storage.objects import ObjectStore, open_object_store


@lru_cache(maxsize=1)
def database() -> Database:
    """The configured database, schema created on first use of an empty one."""
    return Database(get_settings().resolved_database_url)


@lru_cache(maxsize=1)
def object_store() -> ObjectStore:
    return open_object_store(get_settings())


def reset() -> None:
    """Forget cached connections (tests and the CLI switch settings)."""
    if database.cache_info().currsize:
        database().dispose()
    database.cache_clear()
    object_store.cache_clear()
