"""Findings (georeferenced detections); change events between patrols live in :mod:`storage.repositories.changes`.

Functions take explicit keywords and return :class:`vision.types.StoredFinding`, never table rows.
"""

from __future__ import annotations

from shapely.geometry import shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from dockpatrol.taxonomy import Category
from missions.areas import area_m2
from storage.geometry import BBox
from storage.repositories._base import intersecting, require_row, upsert_row
from storage.tables import FindingRow
from vision.types import Finding, FindingStatus, StoredFinding


def finding_to_domain(row: FindingRow) -> StoredFinding:
    polygon = shape(row.geometry)
    box = row.box_xyxy_px
    finding = Finding(geometry=row.geometry, class_name=row.class_name, category=Category(row.category),
                      score=row.score, seen_at=row.seen_at, frame_id=row.frame_id,
                      box_xyxy_px=(float(box[0]), float(box[1]), float(box[2]), float(box[3])) if box else None,
                      centroid_lon=polygon.centroid.x, centroid_lat=polygon.centroid.y,
                      area_m2=row.area_m2 if row.area_m2 is not None else area_m2(polygon), model=row.model,
                      evidence_key=row.evidence_key)
    return StoredFinding(id=row.id, finding=finding, flight_id=row.flight_id, area_id=row.area_id,
                         status=FindingStatus(row.status), ticket_id=row.ticket_id)


def save_finding(*, session: Session, finding_id: str, finding: Finding, flight_id: str | None,
                 area_id: str | None, status: FindingStatus = FindingStatus.NEW,
                 ticket_id: str | None = None) -> StoredFinding:
    """Insert or replace a finding of ``flight_id`` (evidence key and frame id come from ``finding``)."""
    upsert_row(session, FindingRow, finding_id, frame_id=finding.frame_id, flight_id=flight_id, area_id=area_id,
               class_name=finding.class_name, category=str(finding.category), score=float(finding.score),
               evidence_key=finding.evidence_key, seen_at=finding.seen_at, geometry=finding.geometry,
               box_xyxy_px=None if finding.box_xyxy_px is None else [float(v) for v in finding.box_xyxy_px],
               area_m2=float(finding.area_m2), model=finding.model,
               status=str(FindingStatus(status)), ticket_id=ticket_id)
    return StoredFinding(id=finding_id, finding=finding, flight_id=flight_id, area_id=area_id,
                         status=FindingStatus(status), ticket_id=ticket_id)


def require_finding(*, session: Session, finding_id: str) -> StoredFinding:
    return finding_to_domain(require_row(session, FindingRow, finding_id, "finding"))


def findings_in(*, session: Session, bbox: BBox) -> list[StoredFinding]:
    return [finding_to_domain(r) for r in intersecting(session, FindingRow, bbox=bbox)]


def findings_of_flight(*, session: Session, flight_id: str) -> list[StoredFinding]:
    stmt = select(FindingRow).where(FindingRow.flight_id == flight_id).order_by(FindingRow.seen_at, FindingRow.id)
    return [finding_to_domain(r) for r in session.scalars(stmt)]

