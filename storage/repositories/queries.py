"""Paginated, filtered reads the API and console need over missions, flights, frames and findings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from flight.types import Flight
from missions.types import Mission
from storage.geometry import BBox
from storage.repositories.findings import finding_to_domain
from storage.repositories.flights import flight_to_domain, frame_to_domain, mission_to_domain
from storage.tables import DockRow, FindingRow, FlightRow, FrameRow, MissionRow, PatrolAreaRow, TicketRow
from vision.types import Frame, StoredFinding


def _page(session: Session, stmt: Any, order: Sequence[Any], offset: int, limit: int) -> tuple[list[Any], int]:
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    return list(session.scalars(stmt.order_by(*order).offset(offset).limit(limit))), total


def missions(*, session: Session, status: str | None = None, dock_id: str | None = None, offset: int = 0,
             limit: int = 100) -> tuple[list[Mission], int]:
    stmt = select(MissionRow)
    if status:
        stmt = stmt.where(MissionRow.status == status)
    if dock_id:
        stmt = stmt.where(MissionRow.dock_id == dock_id)
    rows, total = _page(session, stmt, (MissionRow.created_at.desc(), MissionRow.id), offset, limit)
    return [mission_to_domain(r) for r in rows], total


def flights(*, session: Session, dock_id: str | None = None, status: str | None = None,
            mission_id: str | None = None, offset: int = 0, limit: int = 100) -> tuple[list[Flight], int]:
    stmt = select(FlightRow)
    if mission_id:
        stmt = stmt.where(FlightRow.mission_id == mission_id)
    if dock_id:
        stmt = stmt.where(FlightRow.dock_id == dock_id)
    if status:
        stmt = stmt.where(FlightRow.status == status)
    rows, total = _page(session, stmt, (FlightRow.created_at.desc(), FlightRow.id), offset, limit)
    return [flight_to_domain(r) for r in rows], total


def frames(*, session: Session, flight_id: str, offset: int = 0, limit: int = 100) -> tuple[list[Frame], int]:
    stmt = select(FrameRow).where(FrameRow.flight_id == flight_id)
    rows, total = _page(session, stmt, (FrameRow.captured_at, FrameRow.id), offset, limit)
    return [frame_to_domain(r) for r in rows], total


def findings(*, session: Session, bbox: BBox | None = None, category: str | None = None,
             flight_id: str | None = None, offset: int = 0, limit: int = 100) -> tuple[list[StoredFinding], bool]:
    """Findings newest first and whether more follow; ``bbox`` keeps those overlapping the map's view.

    No total count: counting every finding in a wide view costs more than the page itself.
    """
    stmt = select(FindingRow)
    if bbox is not None:
        minx, miny, maxx, maxy = bbox
        stmt = stmt.where(and_(FindingRow.min_lon <= maxx, FindingRow.max_lon >= minx, FindingRow.min_lat <= maxy,
                               FindingRow.max_lat >= miny))
    if category:
        stmt = stmt.where(FindingRow.category == category)
    if flight_id:
        stmt = stmt.where(FindingRow.flight_id == flight_id)
    rows = list(session.scalars(stmt.order_by(FindingRow.seen_at.desc(), FindingRow.id).offset(offset)
                                .limit(limit + 1)))
    return [finding_to_domain(r) for r in rows[:limit]], len(rows) > limit


def counts(*, session: Session) -> dict[str, Any]:
    """Fleet and workload counts for the dashboard."""

    def grouped(column: Any) -> dict[str, int]:
        return {str(k): int(n) for k, n in session.execute(select(column, func.count()).group_by(column))}

    return {
        "docks_by_status": grouped(DockRow.status),
        "areas": session.scalar(select(func.count()).select_from(PatrolAreaRow)) or 0,
        "missions_by_status": grouped(MissionRow.status),
        "flights_by_status": grouped(FlightRow.status),
        "findings_by_category": grouped(FindingRow.category),
        "tickets_by_status": grouped(TicketRow.status),
        "tickets_by_department": grouped(TicketRow.department),
    }
