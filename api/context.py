"""Process-wide wiring for CLI commands and the API: settings → database → object store."""

from __future__ import annotations

from missions.scheduler import PatrolSchedule
from missions.types import Dock, PatrolArea
from storage.platform import database, object_store, reset

__all__ = ["database", "load_dock", "load_fleet", "object_store", "reset"]


def load_dock(dock_id: str) -> Dock:
    """A registered dock by id; NotFound names it."""
    from storage.repositories import docks

    with database().unit_of_work() as session:
        return docks.require(session=session, dock_id=dock_id)


def load_fleet() -> tuple[list[Dock], list[PatrolArea], list[PatrolSchedule]]:
    """Every dock, patrol area and schedule, for the scheduler."""
    from storage.repositories import areas, docks, schedules

    with database().unit_of_work() as session:
        return (docks.list_all(session=session), areas.list_all(session=session),
                schedules.list_all(session=session))
