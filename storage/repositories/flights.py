"""Missions, flights and their frames: what was planned, what flew, what was captured."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.repositories._base import get_row, require_row, upsert_row
from storage.tables import FlightRow, FrameRow, MissionRow


def save_mission(*, session: Session, mission_id: str, **values: Any) -> MissionRow:
    return upsert_row(session, MissionRow, mission_id, **values)


def require_mission(*, session: Session, mission_id: str) -> MissionRow:
    return require_row(session, MissionRow, mission_id, "mission")


def save_flight(*, session: Session, flight_id: str, **values: Any) -> FlightRow:
    return upsert_row(session, FlightRow, flight_id, **values)


def require_flight(*, session: Session, flight_id: str) -> FlightRow:
    return require_row(session, FlightRow, flight_id, "flight")


def flights_of_area(*, session: Session, area_id: str) -> list[FlightRow]:
    """Flights of an area's missions, oldest first (change detection compares neighbours)."""
    stmt = (select(FlightRow).join(MissionRow, FlightRow.mission_id == MissionRow.id)
            .where(MissionRow.area_id == area_id).order_by(FlightRow.started_at))
    return list(session.scalars(stmt))


def save_frame(*, session: Session, frame_id: str, **values: Any) -> FrameRow:
    return upsert_row(session, FrameRow, frame_id, **values)


def get_frame(*, session: Session, frame_id: str) -> FrameRow | None:
    return get_row(session, FrameRow, frame_id)


def frames_of_flight(*, session: Session, flight_id: str) -> list[FrameRow]:
    stmt = select(FrameRow).where(FrameRow.flight_id == flight_id).order_by(FrameRow.captured_at, FrameRow.id)
    return list(session.scalars(stmt))


def frame_by_hash(*, session: Session, flight_id: str | None, sha256: str) -> FrameRow | None:
    stmt = select(FrameRow).where(FrameRow.flight_id == flight_id, FrameRow.sha256 == sha256)
    return session.scalars(stmt).first()
