"""Missions, flights and their frames: what was planned, what flew, what was captured.

Every function takes its fields as keywords (a misspelt one is a TypeError) and returns the
domain type (:class:`missions.types.Mission`, :class:`flight.types.Flight`,
:class:`vision.types.Frame`), never a table row.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dockpatrol.camera import CameraModel
from flight.types import Flight, FlightStatus
from missions.types import Mission, MissionStatus, Priority
from storage.repositories._base import get_row, require_row, upsert_row
from storage.tables import FlightRow, FrameRow, MissionRow
from vision.types import Frame, FrameStatus

# -- missions ---------------------------------------------------------------------------------------


def mission_to_domain(row: MissionRow) -> Mission:
    return Mission(id=row.id, kind=row.kind, status=MissionStatus(row.status), area_id=row.area_id,
                   dock_id=row.dock_id, scheduled_for=row.scheduled_for, priority=Priority(row.priority),
                   plan=dict(row.plan or {}), reason=row.reason, ticket_id=row.ticket_id,
                   abort_requested_at=row.abort_requested_at)


def save_mission(*, session: Session, mission: Mission) -> Mission:
    """Insert or replace a mission."""
    upsert_row(session, MissionRow, mission.id, kind=mission.kind, status=str(mission.status),
               area_id=mission.area_id, dock_id=mission.dock_id, scheduled_for=mission.scheduled_for,
               priority=int(mission.priority), plan=mission.plan, reason=mission.reason, ticket_id=mission.ticket_id)
    return mission


def set_mission_status(*, session: Session, mission_id: str, status: MissionStatus) -> Mission:
    row = require_row(session, MissionRow, mission_id, "mission")
    row.status = str(MissionStatus(status))
    session.flush()
    return mission_to_domain(row)


def get_mission(*, session: Session, mission_id: str) -> Mission | None:
    row = get_row(session, MissionRow, mission_id)
    return mission_to_domain(row) if row else None


def require_mission(*, session: Session, mission_id: str) -> Mission:
    return mission_to_domain(require_row(session, MissionRow, mission_id, "mission"))


def missions_with_status(*, session: Session, status: MissionStatus) -> list[Mission]:
    stmt = select(MissionRow).where(MissionRow.status == str(MissionStatus(status))).order_by(MissionRow.id)
    return [mission_to_domain(r) for r in session.scalars(stmt)]


def requested_missions(*, session: Session) -> list[Mission]:
    """Planned missions with a launch time: the requests the patrol service flies (`dockpatrol patrol`, the
    API's launch); a mission only planned (the API's plan) waits for its launch."""
    stmt = (select(MissionRow).where(MissionRow.status == str(MissionStatus.PLANNED),
                                     MissionRow.scheduled_for.is_not(None)).order_by(MissionRow.id))
    return [mission_to_domain(r) for r in session.scalars(stmt)]


def request_abort(*, session: Session, mission_id: str, at: datetime) -> Mission:
    """Record an operator's abort; the patrol service acts on it (a flying vehicle returns to its dock)."""
    row = require_row(session, MissionRow, mission_id, "mission")
    if row.abort_requested_at is None:
        row.abort_requested_at = at
    session.flush()
    return mission_to_domain(row)


def abort_requests(*, session: Session) -> list[str]:
    """Missions with an abort requested that are not over yet."""
    open_states = [str(MissionStatus.PLANNED), str(MissionStatus.FLYING)]
    stmt = select(MissionRow.id).where(MissionRow.abort_requested_at.is_not(None), MissionRow.status.in_(open_states))
    return list(session.scalars(stmt))


# -- flights ----------------------------------------------------------------------------------------


def flight_to_domain(row: FlightRow) -> Flight:
    return Flight(id=row.id, mission_id=row.mission_id, dock_id=row.dock_id, vehicle_url=row.vehicle_url,
                  status=FlightStatus(row.status), started_at=row.started_at, ended_at=row.ended_at,
                  result=row.result, log_key=row.log_key, summary=dict(row.summary or {}))


def save_flight(*, session: Session, flight: Flight) -> Flight:
    """Insert or replace a flight."""
    upsert_row(session, FlightRow, flight.id, mission_id=flight.mission_id, dock_id=flight.dock_id,
               vehicle_url=flight.vehicle_url, status=str(flight.status), started_at=flight.started_at,
               ended_at=flight.ended_at, result=flight.result, log_key=flight.log_key, summary=flight.summary)
    return flight


def finish_flight(*, session: Session, flight_id: str, status: FlightStatus, result: str,
                  ended_at: datetime | None, summary: dict[str, Any], log_key: str | None) -> Flight:
    """Record how a flight ended: its final status, the executor's result and where its log is."""
    row = require_row(session, FlightRow, flight_id, "flight")
    row.status, row.result, row.ended_at = str(FlightStatus(status)), result, ended_at
    row.summary, row.log_key = summary, log_key
    session.flush()
    return flight_to_domain(row)


def get_flight(*, session: Session, flight_id: str) -> Flight | None:
    row = get_row(session, FlightRow, flight_id)
    return flight_to_domain(row) if row else None


def require_flight(*, session: Session, flight_id: str) -> Flight:
    return flight_to_domain(require_row(session, FlightRow, flight_id, "flight"))


def flights_with_status(*, session: Session, status: FlightStatus) -> list[Flight]:
    stmt = select(FlightRow).where(FlightRow.status == str(FlightStatus(status))).order_by(FlightRow.id)
    return [flight_to_domain(r) for r in session.scalars(stmt)]


def flights_of_mission(*, session: Session, mission_id: str) -> list[Flight]:
    stmt = select(FlightRow).where(FlightRow.mission_id == mission_id).order_by(FlightRow.started_at, FlightRow.id)
    return [flight_to_domain(r) for r in session.scalars(stmt)]


def flights_of_area(*, session: Session, area_id: str) -> list[Flight]:
    """Flights of an area's missions, oldest first (change detection compares neighbours)."""
    stmt = (select(FlightRow).join(MissionRow, FlightRow.mission_id == MissionRow.id)
            .where(MissionRow.area_id == area_id).order_by(FlightRow.started_at))
    return [flight_to_domain(r) for r in session.scalars(stmt)]


# -- frames -----------------------------------------------------------------------------------------


def frame_to_domain(row: FrameRow) -> Frame:
    return Frame(id=row.id, object_key=row.object_key, sha256=row.sha256, flight_id=row.flight_id,
                 captured_at=row.captured_at, lon=row.lon, lat=row.lat, altitude_above_ground_m=row.altitude_m,
                 yaw_deg=row.yaw_deg, pitch_deg=row.pitch_deg, roll_deg=row.roll_deg,
                 camera=CameraModel(**row.camera) if row.camera else None, width_px=row.width_px,
                 height_px=row.height_px, status=FrameStatus(row.status), error=row.error)


def _camera_doc(camera: CameraModel | None) -> dict[str, Any]:
    return asdict(camera) if camera is not None else {}


def save_frame(*, session: Session, frame: Frame) -> Frame:
    """Insert or replace a frame."""
    upsert_row(session, FrameRow, frame.id, flight_id=frame.flight_id, captured_at=frame.captured_at,
               lon=frame.lon, lat=frame.lat, altitude_m=frame.altitude_above_ground_m, yaw_deg=frame.yaw_deg,
               pitch_deg=frame.pitch_deg, roll_deg=frame.roll_deg, camera=_camera_doc(frame.camera),
               object_key=frame.object_key, sha256=frame.sha256, width_px=frame.width_px,
               height_px=frame.height_px, status=str(frame.status), error=frame.error)
    return frame


def set_frame_status(*, session: Session, frame_id: str, status: FrameStatus, error: str = "") -> Frame:
    row = require_row(session, FrameRow, frame_id, "frame")
    row.status, row.error = str(FrameStatus(status)), error
    session.flush()
    return frame_to_domain(row)


def get_frame(*, session: Session, frame_id: str) -> Frame | None:
    row = get_row(session, FrameRow, frame_id)
    return frame_to_domain(row) if row else None


def require_frame(*, session: Session, frame_id: str) -> Frame:
    return frame_to_domain(require_row(session, FrameRow, frame_id, "frame"))


def frames_of_flight(*, session: Session, flight_id: str, status: FrameStatus | None = None) -> list[Frame]:
    """A flight's frames in capture order, optionally only those in one status."""
    stmt = select(FrameRow).where(FrameRow.flight_id == flight_id)
    if status is not None:
        stmt = stmt.where(FrameRow.status == str(FrameStatus(status)))
    stmt = stmt.order_by(FrameRow.captured_at, FrameRow.id)
    return [frame_to_domain(r) for r in session.scalars(stmt)]


def frame_by_hash(*, session: Session, flight_id: str | None, sha256: str) -> Frame | None:
    stmt = select(FrameRow).where(FrameRow.flight_id == flight_id, FrameRow.sha256 == sha256)
    row = session.scalars(stmt).first()
    return frame_to_domain(row) if row else None
