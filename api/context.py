"""Process-wide wiring for CLI commands and the API: settings → database → object store."""

from __future__ import annotations

from functools import lru_cache

from dockpatrol.settings import get_settings
from missions.types import Dock, PatrolArea
from storage.db import Database
from storage.objects import ObjectStore, open_object_store
from storage.tables import ScheduleRow


@lru_cache(maxsize=1)
def database() -> Database:
    """The configured database, schema created on first use of an empty one."""
    return Database(get_settings().resolved_database_url)


@lru_cache(maxsize=1)
def object_store() -> ObjectStore:
    return open_object_store(get_settings())


def reset() -> None:
    """Forget cached connections (tests switch settings)."""
    if database.cache_info().currsize:
        database().dispose()
    database.cache_clear()
    object_store.cache_clear()


def load_dock(dock_id: str) -> Dock:
    """A registered dock by id; NotFound names it."""
    from storage.repositories import docks

    with database().unit_of_work() as session:
        return docks.require(session=session, dock_id=dock_id)


def load_fleet() -> tuple[list[Dock], list[PatrolArea], list[ScheduleRow]]:
    """Every dock, patrol area and schedule, for the scheduler."""
    from storage.repositories import areas, docks, schedules

    with database().unit_of_work() as session:
        rows = schedules.list_all(session=session)
        session.expunge_all()
        return docks.list_all(session=session), areas.list_all(session=session), rows
