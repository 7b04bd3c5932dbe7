"""Docks (机库): the fleet's stations and the vehicles they house."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from sqlalchemy.orm import Session

from dockpatrol.camera import CameraModel
from missions.types import Dock, DockStatus
from storage.repositories._base import get_row, list_rows, require_row, upsert_row
from storage.tables import DockRow


def to_domain(row: DockRow) -> Dock:
    return Dock(
        id=row.id, name=row.name, lon=row.lon, lat=row.lat, elevation_amsl_m=row.elevation_amsl_m,
        vehicle_url=row.vehicle_url,
        max_range_m=row.max_range_m, endurance_s=row.endurance_s, charge_s=row.charge_s,
        status=DockStatus(row.status), cruise_speed_m_s=row.cruise_speed_m_s,
        camera=CameraModel(**row.camera) if row.camera else CameraModel(),
    )


def upsert(*, session: Session, dock: Dock) -> Dock:
    upsert_row(session, DockRow, dock.id, name=dock.name, lon=dock.lon, lat=dock.lat,
               elevation_amsl_m=dock.elevation_amsl_m, vehicle_url=dock.vehicle_url, max_range_m=dock.max_range_m,
               endurance_s=dock.endurance_s, charge_s=dock.charge_s, status=str(dock.status),
               cruise_speed_m_s=dock.cruise_speed_m_s, camera=asdict(dock.camera))
    return dock


def get(*, session: Session, dock_id: str) -> Dock | None:
    row = get_row(session, DockRow, dock_id)
    return to_domain(row) if row else None


def require(*, session: Session, dock_id: str) -> Dock:
    return to_domain(require_row(session, DockRow, dock_id, "dock"))


def list_all(*, session: Session) -> list[Dock]:
    return [to_domain(r) for r in list_rows(session, DockRow, DockRow.id)]


def set_status(*, session: Session, dock_id: str, status: DockStatus, reason: str = "",
               heartbeat_at: datetime | None = None) -> Dock:
    """Set a dock's status with why (kept for operators); ``heartbeat_at`` records its vehicle answering."""
    row = require_row(session, DockRow, dock_id, "dock")
    row.status, row.status_reason = str(DockStatus(status)), reason
    if heartbeat_at is not None:
        row.heartbeat_at = heartbeat_at
    session.flush()
    return to_domain(row)


def status_of(*, session: Session, dock_id: str) -> tuple[DockStatus, str, datetime | None]:
    """A dock's status, the reason given for it, and its vehicle's last heartbeat."""
    row = require_row(session, DockRow, dock_id, "dock")
    return DockStatus(row.status), row.status_reason, row.heartbeat_at
