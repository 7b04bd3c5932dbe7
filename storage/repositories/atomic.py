"""Atomic creates: insert and let the primary key decide, so a duplicate id is a Conflict, never a race."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dockpatrol.errors import Conflict, InvalidInput
from missions.scheduler import PatrolSchedule
from missions.types import Dock, NoFlyZone, PatrolArea
from storage.tables import Base, DockRow, NoFlyZoneRow, PatrolAreaRow, ScheduleRow

RowT = TypeVar("RowT", bound=Base)


def insert_new(session: Session, row: RowT, *, what: str, key: Any) -> RowT:
    """Add ``row`` and flush at once; a unique or primary key clash raises Conflict naming ``key``.

    No read before the insert: under concurrency the database's own constraint picks the one
    winner (PostgreSQL waits for the first transaction, SQLite serialises writers), and the
    losers get a Conflict instead of an IntegrityError or a stale-snapshot error. The caller's
    unit of work rolls the failed transaction back.
    """
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"{what} {key!r} already exists") from exc
    return row


def create_dock(*, session: Session, dock: Dock) -> Dock:
    """Register a new dock; an existing id is a Conflict (never an overwrite of its status or camera)."""
    values = asdict(dock)
    values["status"] = str(dock.status)
    insert_new(session, DockRow(**values), what="dock", key=dock.id)
    return dock


def create_area(*, session: Session, area: PatrolArea) -> PatrolArea:
    row = PatrolAreaRow(id=area.id, name=area.name, scenarios=sorted(str(s) for s in area.scenarios),
                        gsd_cm=area.gsd_cm, cadence=area.cadence, jurisdiction_id=area.jurisdiction_id)
    row.set_geometry(area.polygon)
    insert_new(session, row, what="patrol area", key=area.id)
    return area


def create_no_fly(*, session: Session, zone: NoFlyZone) -> NoFlyZone:
    row = NoFlyZoneRow(id=zone.id, name=zone.name, reason=zone.reason)
    row.set_geometry(zone.polygon)
    insert_new(session, row, what="no-fly zone", key=zone.id)
    return zone


def create_schedule(*, session: Session, schedule: PatrolSchedule) -> PatrolSchedule:
    if schedule.id is None or schedule.starts_at is None:
        raise InvalidInput("a stored schedule needs an id and starts_at")
    row = ScheduleRow(id=schedule.id, area_id=schedule.area_id, rule=schedule.rule, starts_at=schedule.starts_at,
                      priority=int(schedule.priority), enabled=schedule.enabled)
    insert_new(session, row, what="schedule", key=schedule.id)
    return schedule
